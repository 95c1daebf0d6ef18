// The officer's start page: what equipment of the home city is ready to take right now, by
// class, and which devices. (Booking a window comes with the reservations API.)
import { useEffect, useMemo } from "preact/hooks";
import { BigNumber, Loading, Notice, ProblemText } from "../components";
import { useFeed } from "../feed";
import { t, tWord } from "../i18n";
import { batteryOf, deviceClasses, type Device } from "../model";
import { cityName } from "../region";
import { RegionStore } from "../region-store";
import { deviceHref } from "../router";
import { session } from "../session";

export default function AvailablePage() {
  const city = session.value?.city ?? undefined;
  const store = useMemo(() => new RegionStore(city, false), [city]);
  useEffect(() => {
    void store.load();
  }, [store]);
  useFeed({ city, onMessage: (m) => store.apply(m), onResync: () => void store.load() });

  store.revision.value;
  const devices = [...store.devices.values()].filter((d) => d.class !== "dock");
  const ready = (d: Device) => d.status === "available" && d.readiness?.ready === true;
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("available.title", { city: cityName(city) })}</h1>
      </div>
      {store.failure.value && (
        <Notice kind="error">
          <ProblemText problem={store.failure.value} />
        </Notice>
      )}
      {!store.loaded.value && !store.failure.value && <Loading />}
      {store.loaded.value && (
        <>
          <section class="totals" aria-label={t("available.by_class")}>
            {deviceClasses
              .filter((c) => c !== "dock")
              .map((c) => {
                const of = devices.filter((d) => d.class === c);
                return (
                  <BigNumber
                    key={c}
                    value={`${of.filter(ready).length}/${of.length}`}
                    label={t("available.ready_of_class", { class: tWord("class", c) })}
                    tone={of.filter(ready).length > 0 ? "ok" : undefined}
                  />
                );
              })}
          </section>
          <section class="card">
            <h2>{t("available.ready_now")}</h2>
            {devices.filter(ready).length === 0 ? (
              <p class="quiet-note">{t("available.none")}</p>
            ) : (
              <ul class="plain-list">
                {devices
                  .filter(ready)
                  .sort((a, b) => (a.class ?? "").localeCompare(b.class ?? "") || a.id.localeCompare(b.id))
                  .map((d) => {
                    const pct = batteryOf(d);
                    return (
                      <li key={d.id}>
                        <a class="mono" href={deviceHref(d.id)}>
                          {d.id}
                        </a>{" "}
                        <span>{d.model ?? ""}</span> <span class="quiet">{d.class ? tWord("class", d.class) : ""}</span>
                        {pct !== undefined && <span class="quiet"> · {t("available.battery", { pct: Math.round(pct) })}</span>}
                      </li>
                    );
                  })}
              </ul>
            )}
            <p class="hint">{t("available.how_to")}</p>
          </section>
        </>
      )}
    </div>
  );
}
