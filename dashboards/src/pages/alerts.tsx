// Every raised alert (the region's for a dispatcher or admin, the home city's for a custodian),
// with acknowledge; new alerts and acknowledgements arrive from the feed.
import { useEffect, useState } from "preact/hooks";
import { AlertList } from "../alert-list";
import { listAll } from "../api";
import { Loading, Notice, ProblemText } from "../components";
import { useFeed } from "../feed";
import { t } from "../i18n";
import type { Alert } from "../model";
import { describeError, type Plain } from "../problems";
import { cityName } from "../region";
import { alertOrder } from "../region-store";
import { session } from "../session";

export default function AlertsPage() {
  const s = session.value;
  const city = s?.role === "custodian" ? (s.city ?? undefined) : undefined;
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);

  const load = async () => {
    try {
      const list = await listAll<Alert>(`api/v1/alerts${city ? `?city=${city}` : ""}`);
      setAlerts(list.filter((a) => a.state === "raised").sort(alertOrder));
      setFailure(null);
    } catch (e) {
      setFailure(describeError(e));
    }
  };
  const upsert = (a: Alert) =>
    setAlerts((list) => {
      const rest = (list ?? []).filter((x) => x.id !== a.id);
      return (a.state === "raised" ? [...rest, a] : rest).sort(alertOrder);
    });

  useEffect(() => {
    void load();
  }, [city]);
  useFeed({
    city,
    onMessage: (m) => {
      if (m.type === "alert") upsert(m.alert);
    },
    onResync: () => void load(),
  });

  return (
    <div class="page">
      <div class="page-head">
        <h1>{city ? t("alerts.title_city", { city: cityName(city) }) : t("page.alerts")}</h1>
      </div>
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
      <section class="card">{alerts ? <AlertList alerts={alerts} onAcked={upsert} showCity={!city} /> : <Loading />}</section>
    </div>
  );
}
