// The custodian's bookings of the city: the requests waiting for a decision (approve, or
// decline with a reason), and today's pick-ups in the order they come, so the counter can have
// each unit charged and ready. Live from the feed's reservation messages.
import { useEffect, useState } from "preact/hooks";
import { Loading, Notice, ProblemText, StatusWord, sentence } from "../components";
import { useFeed } from "../feed";
import { t, tWord } from "../i18n";
import { dayOf, formatDateTime, now } from "../i18n/time";
import { api, type Reservation } from "../planning";
import { describeError, oneLine, type Plain } from "../problems";
import { cityName } from "../region";
import { session } from "../session";

const maxReasonChars = 256;

/** Today's pick-ups (approved or active, starting today in Asia/Shanghai), by start time. */
export function todaysPickups(all: readonly Reservation[], nowMs: number): Reservation[] {
  const today = dayOf(nowMs);
  return all
    .filter((r) => (r.status === "approved" || r.status === "active" || r.status === "overdue") && dayOf(r.start) === today)
    .sort((a, b) => a.start.localeCompare(b.start) || a.id.localeCompare(b.id));
}

function what(r: Reservation): string {
  if (r.device_id) return r.device_id;
  const cls = tWord("class", r.class ?? "");
  return r.analyte ? `${cls} · ${tWord("analyte", r.analyte)}` : cls;
}

function Decide({ r, onChanged }: { r: Reservation; onChanged: (r: Reservation) => void }) {
  const [declining, setDeclining] = useState(false);
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (action: "approve" | "decline") => {
    if (action === "decline") {
      const v = reason.trim();
      if (!v) return setError(t("rule.required_field", { field: t("field.reason") }));
      if ([...v].length > maxReasonChars) return setError(t("rule.max_chars_field", { field: t("field.reason"), n: maxReasonChars }));
    }
    setBusy(true);
    setError(null);
    try {
      const answer = await api.reservationAction(r.id, action, action === "decline" ? reason.trim() : undefined);
      onChanged(answer?.id ? answer : { ...r, status: action === "approve" ? "approved" : "declined" });
    } catch (e) {
      setError(oneLine(describeError(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="decide">
      {!declining ? (
        <div class="alert-actions">
          <button type="button" class="primary small" disabled={busy} onClick={() => act("approve")}>
            {t("pickups.approve")}
          </button>
          <button type="button" class="secondary small" disabled={busy} onClick={() => setDeclining(true)}>
            {t("pickups.decline")}
          </button>
        </div>
      ) : (
        <form
          class="decline-form"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void act("decline");
          }}
        >
          <label for={`reason-${r.id}`}>{t("field.reason")}</label>
          <input id={`reason-${r.id}`} value={reason} autoFocus onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)} />
          <button type="submit" class="primary small" disabled={busy}>
            {t("pickups.decline_send")}
          </button>
          <button type="button" class="link-button small" onClick={() => setDeclining(false)}>
            {t("pickups.back")}
          </button>
        </form>
      )}
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

function Item({ r, onChanged }: { r: Reservation; onChanged: (r: Reservation) => void }) {
  return (
    <li class="booking-item" data-reservation={r.id}>
      <div class="booking-head">
        <strong class="pickup-time">{formatDateTime(r.start).slice(r.status === "requested" ? 5 : 11)}</strong>
        <strong class={r.device_id ? "mono" : undefined}>{r.device_id ? what(r) : sentence(what(r))}</strong>
        <StatusWord status={r.status} />
      </div>
      <p>
        {t("pickups.who", { who: r.person_name ?? r.person_id ?? "—" })} · {t("pickups.until", { end: formatDateTime(r.end) })}
      </p>
      {r.purpose && <p class="quiet booking-purpose">{r.purpose}</p>}
      {r.unit_id && (
        <p class="quiet">
          {t("bookings.unit")} <span class="mono">{r.unit_id}</span>
        </p>
      )}
      {r.status === "requested" && <Decide r={r} onChanged={onChanged} />}
    </li>
  );
}

export default function PickupsPage() {
  const city = session.value?.city ?? undefined;
  const [list, setList] = useState<Reservation[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);
  const load = () =>
    api
      .reservations(city ? `?city=${city}` : "")
      .then((all) => {
        setList(all.filter((r) => !city || r.city === city));
        setFailure(null);
      })
      .catch((e) => setFailure(describeError(e)));
  useEffect(() => {
    void load();
  }, [city]);
  const upsert = (r: Reservation) => setList((l) => [...(l ?? []).filter((x) => x.id !== r.id), r]);
  useFeed({
    city,
    onMessage: (m) => {
      if (m.type === "reservation" && (!city || m.reservation.city === city)) upsert(m.reservation);
    },
    onResync: () => void load(),
  });
  const requested = (list ?? []).filter((r) => r.status === "requested").sort((a, b) => a.start.localeCompare(b.start));
  const today = todaysPickups(list ?? [], now.value);
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("page.pickups")}</h1>
        <span class="quiet">{cityName(city)}</span>
      </div>
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
      {!list && !failure && <Loading />}
      {list && (
        <div class="two-col">
          <section class="card" aria-labelledby="today-heading">
            <h2 id="today-heading">
              {t("pickups.today")} <span class="count">{today.length}</span>
            </h2>
            {today.length === 0 ? (
              <p class="quiet-note">{t("pickups.none_today")}</p>
            ) : (
              <ul class="booking-list" data-testid="pickups-today">
                {today.map((r) => (
                  <Item key={r.id} r={r} onChanged={upsert} />
                ))}
              </ul>
            )}
          </section>
          <section class="card" aria-labelledby="requested-heading">
            <h2 id="requested-heading">
              {t("pickups.requested")} <span class="count">{requested.length}</span>
            </h2>
            {requested.length === 0 ? (
              <p class="quiet-note">{t("pickups.none_requested")}</p>
            ) : (
              <ul class="booking-list" data-testid="pickups-requested">
                {requested.map((r) => (
                  <Item key={r.id} r={r} onChanged={upsert} />
                ))}
              </ul>
            )}
          </section>
        </div>
      )}
    </div>
  );
}
