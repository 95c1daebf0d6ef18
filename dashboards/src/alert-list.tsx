// Raised alerts, unacknowledged and most severe first, each with its acknowledge button.
import { useState } from "preact/hooks";
import { post } from "./api";
import { SeverityWord, When } from "./components";
import { t, tWord } from "./i18n";
import { formatDate, formatDateTime } from "./i18n/time";
import type { Alert } from "./model";
import { describeError, oneLine } from "./problems";
import { cityName } from "./region";
import { deviceHref } from "./router";

const isoTime = String.raw`(\d{4}-\d{2}-\d{2}T[0-9:.]+Z)`;

/** "2 d 4 h" / "30 h" from the server, in the user's words. */
function spanWords(s: string): string {
  const m = /^(?:(\d+) d )?(\d+) h$/.exec(s.trim());
  if (!m) return s;
  const h = Number(m[2]);
  return m[1] ? t("time.span_days", { d: m[1], h }) : t("time.span_hours_only", { h });
}

/** The alert's detail in the user's words where its form is known; as sent otherwise. */
export function alertDetail(a: Alert): string {
  const d = a.detail ?? "";
  let m: RegExpExecArray | null;
  switch (a.type) {
    case "low_battery":
      if ((m = /battery at (\d+)%, below (\d+)%/.exec(d))) return t("alert_detail.low_battery", { pct: m[1], min: m[2] });
      break;
    case "calibration_expired":
    case "calibration_due":
      if ((m = /on (\d{4}-\d{2}-\d{2})/.exec(d))) return t(`alert_detail.${a.type}`, { date: formatDate(m[1]) });
      break;
    case "footage_pending":
      if ((m = /for (.+)$/.exec(d)))
        return t("alert_detail.footage_pending", { span: spanWords(m[1]) });
      break;
    case "overdue_return":
      if ((m = new RegExp(`checked out(?: to (\\S+))?, due back at ${isoTime}`).exec(d)))
        return t("alert_detail.overdue_return", { who: m[1] ?? "—", due: formatDateTime(m[2]) });
      break;
    case "docked_while_checked_out":
      m = /checked out to (\S+)/.exec(d);
      return t("alert_detail.docked_while_checked_out", { who: m?.[1] ?? "—" });
    case "unauthorised_removal":
      if ((m = new RegExp(`at ${isoTime}`).exec(d))) return t("alert_detail.unauthorised_removal", { at: formatDateTime(m[1]) });
      break;
  }
  return d;
}

export interface AlertListProps {
  alerts: readonly Alert[];
  onAcked: (a: Alert) => void;
  /** Show the city of each alert (the whole region's list). */
  showCity?: boolean;
  limit?: number;
}

function AlertItem({ a, onAcked, showCity }: { a: Alert; onAcked: (a: Alert) => void; showCity: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ack = async () => {
    setBusy(true);
    setError(null);
    try {
      const answer = await post<Alert | undefined>(`api/v1/alerts/${encodeURIComponent(a.id)}/ack`, {});
      onAcked(answer && typeof answer === "object" && answer.id ? answer : { ...a, acked: true });
    } catch (e) {
      setError(oneLine(describeError(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <li class={`alert-item severity-edge-${a.severity}${a.acked ? " is-acked" : ""}`} data-alert={a.id}>
      <div class="alert-head">
        <SeverityWord severity={a.severity} />
        <strong class="alert-type">{tWord("alert", a.type)}</strong>
        <span class="alert-when">
          <When ts={a.raised_at} />
        </span>
      </div>
      <p class="alert-body">
        {showCity && a.city && <span class="alert-city">{cityName(a.city)} · </span>}
        {a.device_id && (
          <a href={deviceHref(a.device_id)} class="mono">
            {a.device_id}
          </a>
        )}
        {a.device_id && " · "}
        <span>{alertDetail(a)}</span>
      </p>
      <div class="alert-actions">
        {a.acked ? (
          <span class="quiet">{t("alerts.acked_by", { who: a.acked_by ?? "—" })}</span>
        ) : (
          <button type="button" class="secondary small" disabled={busy} onClick={ack}>
            {busy ? t("alerts.acking") : t("alerts.ack")}
          </button>
        )}
        {error && (
          <span class="field-error" role="alert">
            {error}
          </span>
        )}
      </div>
    </li>
  );
}

export function AlertList({ alerts, onAcked, showCity = true, limit }: AlertListProps) {
  if (alerts.length === 0) return <p class="quiet-note">{t("alerts.none")}</p>;
  const shown = limit ? alerts.slice(0, limit) : alerts;
  return (
    <>
      <ul class="alert-list" data-testid="alert-list">
        {shown.map((a) => (
          <AlertItem key={a.id} a={a} onAcked={onAcked} showCity={showCity} />
        ))}
      </ul>
      {limit && alerts.length > limit && (
        <p class="quiet-note">
          <a href="#/alerts">{t("alerts.more", { n: alerts.length - limit })}</a>
        </p>
      )}
    </>
  );
}
