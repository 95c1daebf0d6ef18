// Utilization and quota gaps, for the dispatcher: charts of utilization per city and per class
// over the last 30 days (uPlot, loaded with the first chart), the table per city and class (idle
// devices, stock-outs, overdue returns), and the quota-gap table; both tables export as CSV.
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { ChartProps } from "../chart";
import { Loading, Notice, ProblemText } from "../components";
import { download, toCsv } from "../csv";
import { t } from "../i18n";
import { dayOf } from "../i18n/time";
import { api, className, type QuotaGapRow } from "../planning";
import { describeError, type Plain } from "../problems";
import { cityName, regionCities } from "../region";
import { byCity, readUtilization, seriesByClass, type UtilDay, type UtilRow } from "../utilization";

const reportDays = 30;
const pct = (v: number | null | undefined) => (v == null ? "—" : `${Math.round(v * 100)}%`);

function useChart(): ComponentType<ChartProps> | null {
  const [chart, setChart] = useState<{ c: ComponentType<ChartProps> } | null>(null);
  useEffect(() => {
    void import("../chart").then((m) => setChart({ c: m.Chart }));
  }, []);
  return chart?.c ?? null;
}

function Charts({ rows, days }: { rows: UtilRow[]; days: UtilDay[] }) {
  const Chart = useChart();
  const [city, setCity] = useState<string>("");
  const [palette, setPalette] = useState<string[]>([]);
  useEffect(() => {
    void import("../chart").then((m) => setPalette(m.palette));
  }, []);
  if (!Chart || palette.length === 0) return <p class="quiet-note">{t("util.loading_chart")}</p>;
  const cities = byCity(rows);
  const codes = regionCities.map((c) => c.code);
  const perCity: ChartProps = {
    title: t("util.by_city"),
    xLabel: t("word.city"),
    x: codes.map((_, i) => i),
    labels: codes.map((c) => cityName(c)),
    series: [{ label: t("util.utilization"), values: codes.map((c) => cities[c] ?? null), color: palette[0] }],
    bars: true,
    percent: true,
  };
  const s = seriesByClass(days, city || null);
  const perClass: ChartProps = {
    title: t("util.by_class_over_time", { city: city ? cityName(city) : t("word.region") }),
    xLabel: t("util.day"),
    x: s.x,
    series: s.classes.map((c, i) => ({ label: c === "all" ? t("util.all_classes") : className(c), values: s.ys[i], color: palette[i % palette.length] })),
    percent: true,
  };
  return (
    <div class="chart-grid">
      <section class="card">
        <Chart {...perCity} />
      </section>
      <section class="card">
        <label class="inline-field">
          {t("word.city")}
          <select value={city} onChange={(e) => setCity((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{t("word.region")}</option>
            {regionCities.map((c) => (
              <option key={c.code} value={c.code}>
                {cityName(c.code)}
              </option>
            ))}
          </select>
        </label>
        {s.x.length === 0 ? <p class="quiet-note">{t("util.no_days")}</p> : <Chart {...perClass} />}
      </section>
    </div>
  );
}

function UtilTable({ rows }: { rows: UtilRow[] }) {
  // Stock-outs are shown once the report carries them.
  const stockouts = rows.some((r) => r.stockouts !== undefined);
  const exportCsv = () =>
    download(
      `utilization-${dayOf(Date.now())}.csv`,
      toCsv(
        ["city", "city_name", "class", "analyte", "utilization", "hours_in_custody", "hours_available", "idle_devices", "stockouts", "overdue_returns"],
        rows.map((r) => [r.city, cityName(r.city), r.class, r.analyte ?? "", r.utilization?.toFixed(3) ?? "", r.hours_in_custody ?? "", r.hours_available ?? "", r.idle_devices ?? "", r.stockouts ?? "", r.overdue_returns ?? ""]),
      ),
    );
  return (
    <section class="card">
      <h2>
        {t("util.table")}
        <button type="button" class="secondary small" onClick={exportCsv}>
          {t("util.export")}
        </button>
      </h2>
      <div class="table-wrap">
        <table class="data-table" data-testid="util-table">
          <thead>
            <tr>
              <th scope="col">{t("word.city")}</th>
              <th scope="col">{t("field.class")}</th>
              <th scope="col" class="num">{t("util.utilization")}</th>
              <th scope="col" class="num">{t("util.idle")}</th>
              {stockouts && <th scope="col" class="num">{t("util.stockouts")}</th>}
              <th scope="col" class="num">{t("util.overdue")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                <td class="nowrap">{cityName(r.city)}</td>
                <td class="nowrap">{className(r.class, r.analyte)}</td>
                <td class="num strong">{pct(r.utilization)}</td>
                <td class="num">{r.idle_devices ?? "—"}</td>
                {stockouts && <td class={`num${(r.stockouts ?? 0) > 0 ? " gap-count" : ""}`}>{r.stockouts ?? "—"}</td>}
                <td class={`num${(r.overdue_returns ?? 0) > 0 ? " alert-count" : ""}`}>{r.overdue_returns ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function QuotaGapTable({ rows }: { rows: QuotaGapRow[] }) {
  const sorted = [...rows].sort((a, b) => b.gap - a.gap || a.city.localeCompare(b.city) || a.class.localeCompare(b.class));
  const exportCsv = () =>
    download(
      `quota-gap-${dayOf(Date.now())}.csv`,
      toCsv(
        ["city", "city_name", "class", "analyte", "quota", "stock", "ready", "in_use", "in_transit", "gap"],
        sorted.map((r) => [r.city, cityName(r.city), r.class, r.analyte ?? "", r.quota, r.stock, r.ready, r.in_use, r.in_transit, r.gap]),
      ),
    );
  return (
    <section class="card">
      <h2>
        {t("util.gap_title")}
        <button type="button" class="secondary small" onClick={exportCsv} data-testid="gap-export">
          {t("util.export")}
        </button>
      </h2>
      {sorted.length === 0 ? (
        <p class="quiet-note">{t("util.no_quotas")}</p>
      ) : (
        <div class="table-wrap">
          <table class="data-table" data-testid="gap-table">
            <thead>
              <tr>
                <th scope="col">{t("word.city")}</th>
                <th scope="col">{t("field.class")}</th>
                <th scope="col" class="num">{t("util.quota")}</th>
                <th scope="col" class="num">{t("word.stock")}</th>
                <th scope="col" class="num">{t("word.ready")}</th>
                <th scope="col" class="num">{t("word.in_use")}</th>
                <th scope="col" class="num">{t("util.in_transit")}</th>
                <th scope="col" class="num">{t("word.quota_gap")}</th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((r, i) => (
                <tr key={i}>
                  <td class="nowrap">{cityName(r.city)}</td>
                  <td class="nowrap">{className(r.class, r.analyte)}</td>
                  <td class="num">{r.quota}</td>
                  <td class="num">{r.stock}</td>
                  <td class="num">{r.ready}</td>
                  <td class="num">{r.in_use}</td>
                  <td class="num">{r.in_transit}</td>
                  <td class={`num strong${r.gap > 0 ? " gap-count" : ""}`}>{r.gap}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export default function UtilizationPage() {
  const [util, setUtil] = useState<{ rows: UtilRow[]; days: UtilDay[] } | null>(null);
  const [gaps, setGaps] = useState<QuotaGapRow[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);
  const [gapFailure, setGapFailure] = useState<Plain | null>(null);
  useEffect(() => {
    const to = new Date();
    const from = new Date(to.getTime() - reportDays * 86_400_000);
    api
      .utilization(`?from=${dayOf(from)}&to=${dayOf(to)}&granularity=day`)
      .then((b) => setUtil(readUtilization(b)))
      .catch((e) => setFailure(describeError(e)));
    api
      .quotaGap()
      .then(setGaps)
      .catch((e) => setGapFailure(describeError(e)));
  }, []);
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("page.utilization")}</h1>
        <span class="quiet">{t("util.period", { days: reportDays })}</span>
      </div>
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
      {!util && !failure && <Loading />}
      {util && (util.rows.length === 0 ? <p class="quiet-note">{t("util.no_data")}</p> : <Charts rows={util.rows} days={util.days} />)}
      {gapFailure && (
        <Notice kind="error">
          <ProblemText problem={gapFailure} />
        </Notice>
      )}
      {gaps && <QuotaGapTable rows={gaps} />}
      {util && util.rows.length > 0 && <UtilTable rows={util.rows} />}
      <p class="hint">{t("util.explain")}</p>
    </div>
  );
}
