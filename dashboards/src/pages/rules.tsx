// Reservation rules, for the admin: one row per class (or per analyte of analyzers): minimum
// notice, longest booking, the buffer after each booking for recharging, the counter's working
// hours (Asia/Shanghai), whether approval is needed, the most open bookings per person. The
// whole table is saved at once (PUT /reservation-rules); a wrong cell is named and nothing sent.
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api";
import { Loading, Notice, ProblemText } from "../components";
import { analytes } from "../booking-form";
import { wholeNumber } from "../forms";
import { t, tWord } from "../i18n";
import { api, className, type ReservationRule } from "../planning";
import { describeError, type Plain } from "../problems";

const weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

/** A rule as the form holds it: numbers as typed. */
export interface RuleDraft {
  class: string;
  analyte?: string;
  min_notice: string;
  max_length_hours: string;
  buffer: string;
  hours: boolean;
  open: string;
  close: string;
  days: string[];
  approval: boolean;
  max_open: string;
}

export function toDraft(r: ReservationRule): RuleDraft {
  return {
    class: r.class,
    analyte: r.analyte,
    min_notice: String(r.min_notice_minutes ?? 0),
    max_length_hours: String(Math.round((r.max_length_minutes ?? 20160) / 60)),
    buffer: String(r.buffer_minutes ?? 30),
    hours: !!r.working_hours,
    open: r.working_hours?.open ?? "08:30",
    close: r.working_hours?.close ?? "17:30",
    days: r.working_hours?.days ?? ["mon", "tue", "wed", "thu", "fri"],
    approval: !!r.approval_required,
    max_open: r.max_open_bookings == null ? "" : String(r.max_open_bookings),
  };
}

const hhmm = /^([01]\d|2[0-3]):[0-5]\d$/;

/** The rows to send, or the first wrong cell of each row in words. */
export function fromDrafts(rows: RuleDraft[]): { items?: ReservationRule[]; errors: Record<number, string> } {
  const errors: Record<number, string> = {};
  const items: ReservationRule[] = [];
  rows.forEach((d, i) => {
    const notice = wholeNumber(t("rules.min_notice"), d.min_notice, 0, 43200);
    const length = wholeNumber(t("rules.max_length"), d.max_length_hours, 1, 2160);
    const buffer = wholeNumber(t("rules.buffer"), d.buffer, 0, 1440);
    const open = d.max_open.trim() ? wholeNumber(t("rules.max_open"), d.max_open, 1, 1000) : { n: undefined };
    const first = [notice, length, buffer, open].find((x) => x.error);
    if (first?.error) errors[i] = first.error;
    else if (d.hours && (!hhmm.test(d.open) || !hhmm.test(d.close) || d.open >= d.close)) errors[i] = t("rules.hours_rule");
    else if (d.hours && d.days.length === 0) errors[i] = t("rules.days_rule");
    if (errors[i]) return;
    items.push({
      class: d.class,
      ...(d.analyte ? { analyte: d.analyte } : {}),
      min_notice_minutes: notice.n!,
      max_length_minutes: length.n! * 60,
      buffer_minutes: buffer.n!,
      working_hours: d.hours ? { open: d.open, close: d.close, days: weekdays.filter((w) => d.days.includes(w)) } : null,
      approval_required: d.approval,
      max_open_bookings: open.n ?? null,
    });
  });
  return Object.keys(errors).length ? { errors } : { items, errors };
}

function RuleRow({ d, set, error, onRemove }: { d: RuleDraft; set: (p: Partial<RuleDraft>) => void; error?: string; onRemove?: () => void }) {
  const num = (key: "min_notice" | "max_length_hours" | "buffer" | "max_open", label: string) => (
    <label class="cell-field">
      <span>{label}</span>
      <input inputMode="numeric" value={d[key]} onInput={(e) => set({ [key]: (e.currentTarget as HTMLInputElement).value })} aria-invalid={error ? true : undefined} />
    </label>
  );
  return (
    <li class={`rule-row${error ? " field-invalid" : ""}`} data-rule={d.analyte ? `${d.class}:${d.analyte}` : d.class}>
      <h3>
        {className(d.class, d.analyte)}
        {onRemove && (
          <button type="button" class="link-button small" onClick={onRemove}>
            {t("rules.remove")}
          </button>
        )}
      </h3>
      <div class="rule-cells">
        {num("min_notice", t("rules.min_notice"))}
        {num("max_length_hours", t("rules.max_length"))}
        {num("buffer", t("rules.buffer"))}
        {num("max_open", t("rules.max_open"))}
        <label class="check">
          <input type="checkbox" checked={d.approval} onChange={(e) => set({ approval: (e.currentTarget as HTMLInputElement).checked })} />
          {t("rules.approval")}
        </label>
        <label class="check">
          <input type="checkbox" checked={d.hours} onChange={(e) => set({ hours: (e.currentTarget as HTMLInputElement).checked })} />
          {t("rules.hours")}
        </label>
        {d.hours && (
          <div class="hours">
            <label class="cell-field">
              <span>{t("rules.open")}</span>
              <input type="time" value={d.open} onInput={(e) => set({ open: (e.currentTarget as HTMLInputElement).value })} />
            </label>
            <label class="cell-field">
              <span>{t("rules.close")}</span>
              <input type="time" value={d.close} onInput={(e) => set({ close: (e.currentTarget as HTMLInputElement).value })} />
            </label>
            <fieldset class="days">
              <legend>{t("rules.days")}</legend>
              {weekdays.map((w) => (
                <label key={w} class="check">
                  <input
                    type="checkbox"
                    checked={d.days.includes(w)}
                    onChange={(e) => set({ days: (e.currentTarget as HTMLInputElement).checked ? [...d.days, w] : d.days.filter((x) => x !== w) })}
                  />
                  {tWord("weekday", w)}
                </label>
              ))}
            </fieldset>
          </div>
        )}
      </div>
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}

export default function RulesPage() {
  const [rows, setRows] = useState<RuleDraft[] | null>(null);
  const [errors, setErrors] = useState<Record<number, string>>({});
  const [failure, setFailure] = useState<Plain | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [newAnalyte, setNewAnalyte] = useState<string>(analytes[0]);
  useEffect(() => {
    api
      .rules()
      .then((b) => setRows((b.items ?? []).map(toDraft)))
      .catch((e) => setFailure(describeError(e)));
  }, []);
  const set = (i: number) => (p: Partial<RuleDraft>) => {
    setSaved(false);
    setRows((r) => (r ?? []).map((x, j) => (j === i ? { ...x, ...p } : x)));
  };
  const save = async (e: Event) => {
    e.preventDefault();
    if (!rows) return;
    const out = fromDrafts(rows);
    setErrors(out.errors);
    setFailure(null);
    setSaved(false);
    if (!out.items) return;
    setBusy(true);
    try {
      const b = await api.putRules(out.items);
      setRows((b?.items ?? out.items).map(toDraft));
      setSaved(true);
    } catch (err) {
      if (err instanceof ApiError && err.code === "unauthorized") return;
      setFailure(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const analyzer = rows?.find((r) => r.class === "analyzer" && !r.analyte);
  const free = analytes.filter((a) => !rows?.some((r) => r.class === "analyzer" && r.analyte === a));
  const addAnalyte = () => {
    if (!rows || !free.includes(newAnalyte as (typeof analytes)[number])) return;
    const base = analyzer ?? toDraft({ class: "analyzer" } as ReservationRule);
    setRows([...rows, { ...base, analyte: newAnalyte }]);
  };
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t("page.rules")}</h1>
      </div>
      <p class="hint">{t("rules.explain")}</p>
      {!rows && !failure && <Loading />}
      {rows && (
        <form class="card" onSubmit={save} noValidate>
          <ul class="rule-list">
            {rows.map((d, i) => (
              <RuleRow key={`${d.class}:${d.analyte ?? ""}`} d={d} set={set(i)} error={errors[i]} onRemove={d.analyte ? () => setRows(rows.filter((_, j) => j !== i)) : undefined} />
            ))}
          </ul>
          {free.length > 0 && (
            <div class="toolbar">
              <label>
                {t("rules.add_analyte")}
                <select value={newAnalyte} onChange={(e) => setNewAnalyte((e.currentTarget as HTMLSelectElement).value)}>
                  {free.map((a) => (
                    <option key={a} value={a}>
                      {tWord("analyte", a)}
                    </option>
                  ))}
                </select>
              </label>
              <button type="button" class="secondary" onClick={addAnalyte}>
                {t("rules.add")}
              </button>
            </div>
          )}
          <div class="form-actions">
            <button type="submit" class="primary" disabled={busy}>
              {t("rules.save")}
            </button>
          </div>
          {saved && <Notice kind="ok">{t("rules.saved")}</Notice>}
        </form>
      )}
      {failure && (
        <Notice kind="error">
          <ProblemText problem={failure} />
        </Notice>
      )}
    </div>
  );
}
