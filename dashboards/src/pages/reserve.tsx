// The officer's start page: book an instrument. By class (any ready unit, bound at pick-up) or
// by a named device, at a city, for a window, with a purpose and an optional case number. The
// availability calendar of the class shows when units are free; a tap on a free cell fills the
// window. A conflict (409) shows what it clashes with and the nearest free windows: one tap
// books one of them.
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api";
import { calendar, cellHours, maxLengthOf, stepsOf, type FreeStep } from "../availability";
import { analytes, bookableClasses, bookingBody, checkBooking, type BookingDraft, type BookingField } from "../booking-form";
import { Field, Notice, ProblemText, StatusWord } from "../components";
import { useDraft } from "../drafts";
import { DateTimeField, SelectField, TextArea, toLocalInput, type Errors } from "../forms";
import { t, tWord } from "../i18n";
import { formatDateTime, formatWindow, now } from "../i18n/time";
import { api, type Alternative, type BookingBody, type ConflictRef, type Reservation } from "../planning";
import { describeError, type Plain } from "../problems";
import { cityName, regionCities } from "../region";
import { session } from "../session";

type Outcome =
  | { kind: "booked"; r: Reservation }
  | { kind: "conflict"; body: BookingBody; plain: Plain; conflicts: ConflictRef[]; alternatives: Alternative[] }
  | { kind: "error"; plain: Plain };

function emptyDraft(city: string): BookingDraft {
  const start = Math.ceil((Date.now() + 3600_000) / 1800_000) * 1800_000;
  return {
    by: "class",
    class: "body_camera",
    analyte: "cod",
    device_id: "",
    city,
    start: toLocalInput(start),
    end: toLocalInput(start + 4 * 3600_000),
    purpose: "",
    case_no: "",
  };
}

function Booked({ r }: { r: Reservation }) {
  return (
    <Notice kind="ok">
      <p class="problem-reason" data-testid="booked">
        {r.status === "requested" ? t("reserve.requested") : t("reserve.booked")} <StatusWord status={r.status} />
      </p>
      <p>
        {r.device_id ? <span class="mono">{r.device_id}</span> : tWord("class", r.class ?? "")} · {cityName(r.city)} · {formatWindow(r.start, r.end)}
      </p>
      <p>
        <a href="#/bookings">{t("reserve.see_mine")}</a>
      </p>
    </Notice>
  );
}

function Conflict({ o, busy, onTake }: { o: Extract<Outcome, { kind: "conflict" }>; busy: boolean; onTake: (a: Alternative) => void }) {
  return (
    <div class="notice notice-error conflict" role="alert" data-testid="conflict">
      <ProblemText problem={o.plain} />
      {o.conflicts.length > 0 && (
        <p class="quiet">
          {t("reserve.clashes_with")} {o.conflicts.map((c) => formatWindow(c.start, c.end)).join("；")}
        </p>
      )}
      {o.alternatives.length > 0 ? (
        <>
          <p class="strong">{t("reserve.alternatives")}</p>
          <ul class="alternatives" data-testid="alternatives">
            {o.alternatives.map((a, i) => (
              <li key={i}>
                <button type="button" class="primary" disabled={busy} onClick={() => onTake(a)}>
                  {t("reserve.take", { when: formatWindow(a.start, a.end) })}
                  {a.device_id && <span class="mono"> · {a.device_id}</span>}
                </button>
              </li>
            ))}
          </ul>
        </>
      ) : (
        <p>{t("reserve.no_alternatives")}</p>
      )}
    </div>
  );
}

function AvailabilityCalendar({ city, cls, analyte, onPick, onMaxLength }: {
  city: string;
  cls: string;
  analyte?: string;
  onPick: (start: number, end: number) => void;
  onMaxLength: (minutes: number | undefined) => void;
}) {
  const [steps, setSteps] = useState<FreeStep[] | null>(null);
  const [failure, setFailure] = useState<Plain | null>(null);
  useEffect(() => {
    let live = true;
    setSteps(null);
    setFailure(null);
    const from = new Date(Date.now() - 3600_000).toISOString();
    const to = new Date(Date.now() + 8 * 86_400_000).toISOString();
    api
      .availability({ city, cls, analyte, from, to })
      .then((b) => {
        if (!live) return;
        setSteps(stepsOf(b));
        onMaxLength(maxLengthOf(b));
      })
      .catch((e) => live && setFailure(describeError(e)));
    return () => {
      live = false;
    };
  }, [city, cls, analyte]);
  const rows = steps ? calendar(steps, now.value) : [];
  const none = steps !== null && steps.length > 0 && steps.every((x) => x.total === 0);
  return (
    <section class="card" aria-labelledby="calendar-heading">
      <h2 id="calendar-heading">{t("reserve.calendar_title", { class: tWord("class", cls), city: cityName(city) })}</h2>
      {failure && <p class="quiet-note">{failure.reason}</p>}
      {!steps && !failure && <p class="quiet-note">{t("app.loading")}</p>}
      {none && <p class="quiet-note" data-testid="availability-none">{t("reserve.no_units", { class: tWord("class", cls), city: cityName(city) })}</p>}
      {steps && !none && (
        <div class="table-wrap">
          <table class="calendar" data-testid="availability">
            <thead>
              <tr>
                <th scope="col">{t("reserve.day")}</th>
                {cellHours.map((h) => (
                  <th key={h} scope="col">
                    {String(h).padStart(2, "0")}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.day}>
                  <th scope="row">{formatDateTime(row.day).slice(5, 10)}</th>
                  {row.cells.map((c) => {
                    const label = c.free === null ? "—" : String(c.free);
                    const tone = c.free === null ? "none" : c.free === 0 ? "full" : "free";
                    const words = `${formatDateTime(c.start)}: ${c.free === null ? t("reserve.cell_unknown") : c.free === 0 ? t("reserve.cell_full") : t("reserve.cell_free", { n: c.free })}`;
                    return (
                      <td key={c.start} class={`cell-${tone}`}>
                        {c.free ? (
                          <button type="button" class="cell-button" aria-label={words} title={words} onClick={() => onPick(c.start, c.end)}>
                            {label}
                          </button>
                        ) : (
                          <span aria-label={words} title={words}>
                            {c.free === 0 ? t("reserve.full_short") : label}
                          </span>
                        )}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="hint">{t("reserve.calendar_hint")}</p>
    </section>
  );
}

function useBooking(clear: () => void) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const send = async (body: BookingBody) => {
    setBusy(true);
    try {
      const r = await api.book(body);
      setOutcome({ kind: "booked", r });
      clear();
    } catch (e) {
      if (e instanceof ApiError && e.code === "unauthorized") return;
      const p = e instanceof ApiError ? e.problem : null;
      if (p && p.status === 409 && (Array.isArray(p.alternatives) || Array.isArray(p.conflicts))) {
        setOutcome({
          kind: "conflict",
          body,
          plain: { reason: t("reserve.conflict"), fix: t("reserve.conflict_fix") },
          conflicts: (p.conflicts as ConflictRef[] | undefined) ?? [],
          alternatives: (p.alternatives as Alternative[] | undefined) ?? [],
        });
      } else setOutcome({ kind: "error", plain: describeError(e) });
    } finally {
      setBusy(false);
    }
  };
  return { busy, outcome, setOutcome, send };
}

export default function ReservePage() {
  const s = session.value;
  const homeCity = s?.city ?? regionCities[0].code;
  const [draft, setDraft, clear] = useDraft<BookingDraft>("reserve", emptyDraft(homeCity));
  const [errors, setErrors] = useState<Errors<BookingField>>({});
  const [maxLength, setMaxLength] = useState<number | undefined>(undefined);
  const booking = useBooking(clear);
  const set = (patch: Partial<BookingDraft>) => setDraft((d) => ({ ...d, ...patch }));
  const cityLocked = s?.role === "officer" && !!s.city;

  const submit = (e: Event) => {
    e.preventDefault();
    const found = checkBooking(draft, Date.now(), draft.by === "class" ? maxLength : undefined);
    setErrors(found);
    booking.setOutcome(null);
    if (Object.keys(found).length > 0) return;
    void booking.send(bookingBody(draft));
  };
  const take = (a: Alternative) => {
    const o = booking.outcome;
    if (o?.kind !== "conflict") return;
    void booking.send({ ...o.body, start: a.start, end: a.end, ...(o.body.device_id && a.device_id ? { device_id: a.device_id } : {}) });
  };
  const classOptions = bookableClasses.map((c) => [c, tWord("class", c)] as const);
  const analyteOptions = analytes.map((a) => [a, tWord("analyte", a)] as const);
  return (
    <div class="page reserve-page">
      <div class="page-head">
        <h1>{t("page.reserve")}</h1>
      </div>
      <div class="two-col">
        <form class="card form-grid" onSubmit={submit} noValidate aria-labelledby="reserve-heading">
          <h2 id="reserve-heading">{t("reserve.form_title")}</h2>
          <fieldset class="choice-row">
            <legend>{t("reserve.by")}</legend>
            {(["class", "device"] as const).map((by) => (
              <label key={by} class={`choice${draft.by === by ? " is-chosen" : ""}`}>
                <input type="radio" name="by" value={by} checked={draft.by === by} onChange={() => set({ by })} />
                {t(by === "class" ? "reserve.by_class" : "reserve.by_device")}
              </label>
            ))}
          </fieldset>
          {draft.by === "class" ? (
            <>
              <SelectField id="reserve-class" label={t("field.class")} value={draft.class} options={classOptions} onChange={(v) => set({ class: v })} error={errors.class} />
              {draft.class === "analyzer" && (
                <SelectField id="reserve-analyte" label={t("field.analyte")} value={draft.analyte} options={analyteOptions} onChange={(v) => set({ analyte: v })} error={errors.analyte} />
              )}
            </>
          ) : (
            <Field id="reserve-device" label={t("field.device_id")} value={draft.device_id} onInput={(v) => set({ device_id: v })} error={errors.device_id} hint={t("reserve.device_hint")} />
          )}
          <SelectField
            id="reserve-city"
            label={t("field.city")}
            value={draft.city}
            disabled={cityLocked}
            options={regionCities.map((c) => [c.code, cityName(c.code)] as const)}
            onChange={(v) => set({ city: v })}
            error={errors.city}
            hint={cityLocked ? t("reserve.city_locked") : undefined}
          />
          <div class="window-row">
            <DateTimeField id="reserve-start" label={t("field.start")} value={draft.start} onInput={(v) => set({ start: v })} error={errors.start} />
            <DateTimeField id="reserve-end" label={t("field.end")} value={draft.end} onInput={(v) => set({ end: v })} error={errors.end} />
          </div>
          <TextArea id="reserve-purpose" label={t("field.purpose")} value={draft.purpose} onInput={(v) => set({ purpose: v })} error={errors.purpose} hint={t("reserve.purpose_hint")} />
          <Field id="reserve-case" label={t("field.case_no")} value={draft.case_no} onInput={(v) => set({ case_no: v })} error={errors.case_no} hint={t("reserve.case_hint")} />
          <div class="form-actions">
            <button type="submit" class="primary" disabled={booking.busy}>
              {booking.busy ? t("reserve.booking") : t("reserve.submit")}
            </button>
          </div>
          {booking.outcome?.kind === "booked" && <Booked r={booking.outcome.r} />}
          {booking.outcome?.kind === "conflict" && <Conflict o={booking.outcome} busy={booking.busy} onTake={take} />}
          {booking.outcome?.kind === "error" && (
            <Notice kind="error">
              <ProblemText problem={booking.outcome.plain} />
            </Notice>
          )}
        </form>
        {draft.by === "class" && (
          <AvailabilityCalendar
            city={draft.city}
            cls={draft.class}
            analyte={draft.class === "analyzer" ? draft.analyte : undefined}
            onPick={(start, end) => set({ start: toLocalInput(start), end: toLocalInput(end) })}
            onMaxLength={setMaxLength}
          />
        )}
      </div>
    </div>
  );
}
