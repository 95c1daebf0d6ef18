// The dispatcher's start page: the whole region at a glance. Totals, the map, the alerts to
// acknowledge, and a table of the cities (the map's numbers, readable on a phone and by a
// screen reader). Everything updates in place from the WebSocket feed.
import { useEffect, useMemo, useState } from "preact/hooks";
import { AlertList } from "../alert-list";
import { BigNumber, Notice, ProblemText, When } from "../components";
import { feedState } from "../connectivity";
import { useFeed } from "../feed";
import { formatNumber, t } from "../i18n";
import { regionCities, cityName } from "../region";
import { RegionMap } from "../region-map";
import { RegionStore, type CityStats } from "../region-store";

/** The quota gap is a report over the registry, bookings and quotas: read again each minute. */
const gapRefreshMs = 60_000;

function Totals({ stats, online }: { stats: Record<string, CityStats>; online: number }) {
  const sum = Object.values(stats).reduce(
    (a, s) => ({ ready: a.ready + s.ready, inUse: a.inUse + s.inUse, stock: a.stock + s.stock, alerts: a.alerts + s.alerts }),
    { ready: 0, inUse: 0, stock: 0, alerts: 0 },
  );
  return (
    <section class="totals" aria-label={t("region.totals")}>
      <BigNumber value={formatNumber(sum.ready)} label={t("word.ready")} tone="ok" />
      <BigNumber value={formatNumber(sum.inUse)} label={t("word.in_use")} />
      <BigNumber value={formatNumber(sum.stock)} label={t("word.stock")} />
      <BigNumber value={formatNumber(sum.alerts)} label={t("word.open_alerts")} tone={sum.alerts > 0 ? "alert" : undefined} />
      <BigNumber value={`${online}/${regionCities.length}`} label={t("word.gateways_online")} tone={online < regionCities.length ? "warn" : undefined} />
    </section>
  );
}

function LiveState() {
  const state = feedState.value;
  return (
    <span class={`live-state live-${state}`} role="status">
      {state === "open" ? t("region.live") : t("region.reconnecting")}
    </span>
  );
}

function CityTable({ store, selected, onSelect }: { store: RegionStore; selected: string | null; onSelect: (c: string) => void }) {
  const stats = store.stats.value;
  const cities = store.cities.value;
  const gaps = store.gaps.value;
  return (
    <div class="table-wrap">
      <table class="data-table city-table">
        <caption>{t("region.city_table")}</caption>
        <thead>
          <tr>
            <th scope="col">{t("word.city")}</th>
            <th scope="col">{t("word.gateway")}</th>
            <th scope="col" class="num">{t("word.ready")}</th>
            <th scope="col" class="num">{t("word.in_use")}</th>
            <th scope="col" class="num">{t("word.stock")}</th>
            <th scope="col" class="num">{t("word.open_alerts")}</th>
            {gaps && <th scope="col" class="num">{t("word.quota_gap")}</th>}
            <th scope="col" class="opt-col">{t("word.last_seen")}</th>
          </tr>
        </thead>
        <tbody>
          {regionCities.map((c) => {
            const s = stats[c.code] ?? { stock: 0, inUse: 0, ready: 0, alerts: 0 };
            const info = cities[c.code];
            return (
              <tr key={c.code} data-city={c.code} class={selected === c.code ? "is-selected" : undefined}>
                <th scope="row">
                  <button type="button" class="link-button" onClick={() => onSelect(c.code)}>
                    {cityName(c.code)}
                  </button>
                </th>
                <td>
                  <span class={`gw gw-${info?.online ? "online" : "offline"}`}>
                    {info?.online ? t("gateway.online") : t("gateway.offline")}
                  </span>
                </td>
                <td class="num strong">{s.ready}</td>
                <td class="num">{s.inUse}</td>
                <td class="num">{s.stock}</td>
                <td class={`num${s.alerts > 0 ? " alert-count" : ""}`}>{s.alerts}</td>
                {gaps && <td class={`num${(gaps[c.code] ?? 0) > 0 ? " gap-count" : ""}`}>{gaps[c.code] ?? 0}</td>}
                <td class="opt-col">
                  <When ts={info?.last_seen} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export default function RegionPage() {
  const store = useMemo(() => new RegionStore(), []);
  const [selected, setSelected] = useState<string | null>(null);
  useEffect(() => {
    void store.load();
    void store.loadGaps().catch(() => undefined);
    const timer = window.setInterval(() => void store.loadGaps().catch(() => undefined), gapRefreshMs);
    return () => window.clearInterval(timer);
  }, [store]);
  useFeed({ onMessage: (m) => store.apply(m), onResync: () => void store.load() });

  const cities = store.cities.value;
  const online = Object.values(cities).filter((c) => c.online).length;
  const alerts = selected ? store.alerts.value.filter((a) => a.city === selected) : store.alerts.value;
  const toggle = (code: string) => setSelected((s) => (s === code ? null : code));
  return (
    <div class="page region-page">
      <div class="page-head">
        <h1>{t("page.region")}</h1>
        <LiveState />
      </div>
      {store.failure.value && (
        <Notice kind="error">
          <ProblemText problem={store.failure.value} />
        </Notice>
      )}
      <Totals stats={store.stats.value} online={online} />
      <div class="region-grid">
        <section class="card map-card" aria-label={t("map.title")}>
          <RegionMap stats={store.stats.value} cities={cities} gaps={store.gaps.value} selected={selected} onSelect={toggle} />
          <p class="map-legend">{t("map.legend")}</p>
        </section>
        <section class="card alerts-card" aria-labelledby="alerts-heading">
          <h2 id="alerts-heading">
            {selected ? t("region.alerts_of", { city: cityName(selected) }) : t("region.alerts")}
            {selected && (
              <button type="button" class="link-button small" onClick={() => setSelected(null)}>
                {t("region.all_cities")}
              </button>
            )}
          </h2>
          <AlertList alerts={alerts} onAcked={(a) => store.upsertAlert(a)} limit={12} />
        </section>
      </div>
      <section class="card">
        <CityTable store={store} selected={selected} onSelect={toggle} />
      </section>
    </div>
  );
}
