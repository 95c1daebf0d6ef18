// An officer's own bookings, the coming ones first, with cancel; and the address of their
// calendar feed (iCalendar), for the calendar app on the phone.
import { useEffect, useState } from "preact/hooks";
import { Loading, Notice, ProblemText, StatusWord, sentence } from "../components";
import { t, tWord } from "../i18n";
import { formatDateTime, formatWindow } from "../i18n/time";
import { api, openStatuses, type Reservation } from "../planning";
import { describeError, oneLine, type Plain } from "../problems";
import { cityName } from "../region";

/** Open ones first (soonest start first), then the rest (latest first). */
export function bookingOrder(a: Reservation, b: Reservation): number {
  const oa = openStatuses.includes(a.status);
  const ob = openStatuses.includes(b.status);
  if (oa !== ob) return oa ? -1 : 1;
  return oa ? a.start.localeCompare(b.start) : b.start.localeCompare(a.start);
}

function what(r: Reservation): string {
  if (r.device_id) return r.device_id;
  const cls = tWord("class", r.class ?? "");
  return r.analyte ? `${cls} · ${tWord("analyte", r.analyte)}` : cls;
}

function BookingRow({ r, onChanged }: { r: Reservation; onChanged: (r: Reservation) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const cancel = async () => {
    if (!window.confirm(t("bookings.cancel_confirm", { when: formatDateTime(r.start) }))) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await api.reservationAction(r.id, "cancel");
      onChanged(answer && typeof answer === "object" && answer.id ? answer : { ...r, status: "cancelled" });
    } catch (e) {
      setError(oneLine(describeError(e)));
    } finally {
      setBusy(false);
    }
  };
  const cancellable = r.status === "requested" || r.status === "approved";
  return (
    <li class={`booking-item status-edge-${r.status}`} data-reservation={r.id}>
      <div class="booking-head">
        <strong class={r.device_id ? "mono" : undefined}>{r.device_id ? what(r) : sentence(what(r))}</strong>
        <StatusWord status={r.status} />
      </div>
      <p>
        {formatWindow(r.start, r.end)} · {cityName(r.city)}
      </p>
      {r.purpose && <p class="quiet booking-purpose">{r.purpose}</p>}
      {r.case_no && <p class="quiet">{t("bookings.case_no", { no: r.case_no })}</p>}
      {r.unit_id && !r.device_id && (
        <p class="quiet">
          {t("bookings.unit")} <span class="mono">{r.unit_id}</span>
        </p>
      )}
      {r.reason && <p class="quiet">{t("bookings.reason", { reason: r.reason })}</p>}
      {cancellable && (
        <div class="alert-actions">
          <button type="button" class="secondary small" disabled={busy} onClick={cancel}>
            {busy ? t("bookings.cancelling") : t("bookings.cancel")}
          </button>
          {error && (
            <span class="field-error" role="alert">
              {error}
            </span>
          )}
        </div>
      )}
    </li>
  );
}

/** The calendar address holds a secret: the server keeps only its hash, so it is shown once,
 * when made. A new one replaces the old; "stop" ends it. */
function CalendarFeed() {
  const [url, setUrl] = useState<string | null>(null);
  const [state, setState] = useState<"idle" | "busy" | "revoked">("idle");
  const [failure, setFailure] = useState<Plain | null>(null);
  const [copied, setCopied] = useState(false);
  const make = async () => {
    setState("busy");
    setFailure(null);
    setCopied(false);
    try {
      const b = await api.newCalendarLink();
      const raw = b?.url ?? b?.path;
      setUrl(raw ? new URL(raw, location.href).toString() : null);
      setState("idle");
    } catch (e) {
      setFailure(describeError(e));
      setState("idle");
    }
  };
  const revoke = async () => {
    setState("busy");
    setFailure(null);
    try {
      await api.revokeCalendar();
      setUrl(null);
      setState("revoked");
    } catch (e) {
      setFailure(describeError(e));
      setState("idle");
    }
  };
  const copy = async () => {
    if (!url) return;
    try {
      await navigator.clipboard.writeText(url);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <section class="card" aria-labelledby="feed-heading">
      <h2 id="feed-heading">{t("bookings.feed_title")}</h2>
      <p class="hint">{t("bookings.feed_hint")}</p>
      {url && (
        <div class="feed-link">
          <label for="feed-url" class="visually-hidden">
            {t("bookings.feed_title")}
          </label>
          <input id="feed-url" class="mono" readOnly value={url} onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
          <div class="alert-actions">
            <button type="button" class="secondary" onClick={copy}>
              {copied ? t("bookings.copied") : t("bookings.copy")}
            </button>
            <a class="button-like" href={url.replace(/^https?:/, "webcal:")}>
              {t("bookings.subscribe")}
            </a>
          </div>
          <p class="hint">{t("bookings.feed_once")}</p>
        </div>
      )}
      {state === "revoked" && <Notice kind="ok">{t("bookings.feed_revoked")}</Notice>}
      <div class="alert-actions">
        <button type="button" class={url ? "secondary" : "primary"} disabled={state === "busy"} onClick={make}>
          {url ? t("bookings.feed_renew") : t("bookings.feed_make")}
        </button>
        <button type="button" class="link-button" disabled={state === "busy"} onClick={revoke}>
          {t("bookings.feed_revoke")}
        </button>
      </div>
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
      <p class="hint">{t("bookings.feed_secret")}</p>
    </section>
  );
}

export default function BookingsPage() {
  const [list, setList] = useState<Reservation[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);
  useEffect(() => {
    api
      .reservations()
      .then((all) => setList(all.sort(bookingOrder)))
      .catch((e) => setFailure(describeError(e)));
  }, []);
  const replace = (r: Reservation) => setList((l) => (l ?? []).map((x) => (x.id === r.id ? r : x)).sort(bookingOrder));
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("page.bookings")}</h1>
        <a href="#/reserve" class="button-like">
          {t("bookings.new")}
        </a>
      </div>
      <div class="two-col">
        <section class="card" aria-labelledby="mine-heading">
          <h2 id="mine-heading">{t("bookings.mine")}</h2>
          {failure && (
            <Notice kind="error">
              <ProblemText problem={failure} />
            </Notice>
          )}
          {!list && !failure && <Loading />}
          {list && list.length === 0 && <p class="quiet-note">{t("bookings.none")}</p>}
          {list && list.length > 0 && (
            <ul class="booking-list" data-testid="my-bookings">
              {list.map((r) => (
                <BookingRow key={r.id} r={r} onChanged={replace} />
              ))}
            </ul>
          )}
        </section>
        <CalendarFeed />
      </div>
    </div>
  );
}
