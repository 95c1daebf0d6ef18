// Form pieces the planning pages share: a labelled select, a date-time field read as
// Asia/Shanghai time whatever the browser's zone, a text area, and the checks every form makes
// before it sends anything (the server checks again; these only spare a round trip and say
// what is wrong in the user's words).
import type { ComponentChildren } from "preact";
import { t } from "./i18n";
import { timeZone } from "./i18n/time";

/** Asia/Shanghai is UTC+8 on every day of the year (no daylight saving since 1991). */
const shanghaiOffsetMs = 8 * 3600_000;

/** `2026-11-29T14:05` (what a datetime-local input holds) for an instant, in Asia/Shanghai. */
export function toLocalInput(v: string | number | Date): string {
  const ms = v instanceof Date ? v.getTime() : typeof v === "number" ? v : Date.parse(v);
  if (Number.isNaN(ms)) return "";
  return new Date(ms + shanghaiOffsetMs).toISOString().slice(0, 16);
}

/** The instant a datetime-local value means in Asia/Shanghai, as RFC 3339; null if unreadable. */
export function fromLocalInput(v: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::\d{2})?$/.exec(v.trim());
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]) - shanghaiOffsetMs;
  const back = new Date(ms + shanghaiOffsetMs);
  // 2026-02-30 rolls over to March: not a real day.
  if (back.getUTCDate() !== +m[3] || back.getUTCMonth() !== +m[2] - 1) return null;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00+08:00`;
}

/** Midnight of the Asia/Shanghai day that holds `ms`, plus `days`. */
export function shanghaiDayStart(ms: number, days = 0): number {
  const local = ms + shanghaiOffsetMs;
  return local - (local % 86_400_000) - shanghaiOffsetMs + days * 86_400_000;
}

const controlChars = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** A free-text field's rule, or null when it passes: required, length, no control characters. */
export function textProblem(label: string, value: string, max: number, required = true): string | null {
  const v = value.trim();
  if (!v) return required ? t("rule.required_field", { field: label }) : null;
  if ([...v].length > max) return t("rule.max_chars_field", { field: label, n: max });
  if (controlChars.test(v)) return t("rule.control_chars", { field: label });
  return null;
}

/** A whole number in [min, max], or the words saying why not. */
export function wholeNumber(label: string, value: string, min: number, max: number): { n?: number; error?: string } {
  const v = value.trim();
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) return { error: t("rule.whole_range", { field: label, min, max }) };
  return { n: Number(v) };
}

export type Errors<K extends string> = Partial<Record<K, string>>;

function Described({ id, error, hint, children }: { id: string; error?: string | null; hint?: string; children: ComponentChildren }) {
  return (
    <>
      {children}
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </>
  );
}

function describedBy(id: string, error?: string | null, hint?: string): string | undefined {
  return [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
}

export function SelectField(p: {
  id: string;
  label: string;
  value: string;
  options: readonly (readonly [string, string])[];
  onChange: (v: string) => void;
  error?: string | null;
  hint?: string;
  disabled?: boolean;
}) {
  return (
    <div class={`field${p.error ? " field-invalid" : ""}`}>
      <label for={p.id}>{p.label}</label>
      <Described id={p.id} error={p.error} hint={p.hint}>
        <select
          id={p.id}
          name={p.id}
          value={p.value}
          disabled={p.disabled}
          aria-invalid={p.error ? true : undefined}
          aria-describedby={describedBy(p.id, p.error, p.hint)}
          onChange={(e) => p.onChange((e.currentTarget as HTMLSelectElement).value)}
        >
          {p.options.map(([v, l]) => (
            <option key={v} value={v}>
              {l}
            </option>
          ))}
        </select>
      </Described>
    </div>
  );
}

/** Times of day offered, every half hour, 24-hour (a native time input may show AM/PM). */
export const halfHours: readonly string[] = Array.from({ length: 48 }, (_, i) => `${String(Math.floor(i / 2)).padStart(2, "0")}:${i % 2 ? "30" : "00"}`);

/**
 * A date and a time of day, meant in Asia/Shanghai (the hint says so): the browser's date picker
 * and a list of half hours in 24-hour form. `value` is `2026-11-29T14:00` (empty parts allowed
 * while typing); a time off the half-hour grid (an offered window) is kept as an extra option.
 */
export function DateTimeField(p: { id: string; label: string; value: string; onInput: (v: string) => void; error?: string | null }) {
  const hint = t("form.time_zone_hint", { zone: timeZone });
  const [date = "", time = ""] = p.value.split("T");
  const times = time && !halfHours.includes(time) ? [...halfHours, time].sort() : halfHours;
  const described = describedBy(p.id, p.error, hint);
  return (
    <fieldset class={`field datetime${p.error ? " field-invalid" : ""}`} aria-describedby={described}>
      <legend class="field-label">{p.label}</legend>
      <div class="datetime-parts">
        <input
          id={`${p.id}-date`}
          name={`${p.id}-date`}
          type="date"
          value={date}
          aria-label={t("form.date_of", { field: p.label })}
          aria-invalid={p.error ? true : undefined}
          onInput={(e) => p.onInput(`${(e.currentTarget as HTMLInputElement).value}T${time}`)}
        />
        <select
          id={`${p.id}-time`}
          name={`${p.id}-time`}
          value={time}
          aria-label={t("form.time_of", { field: p.label })}
          aria-invalid={p.error ? true : undefined}
          onChange={(e) => p.onInput(`${date}T${(e.currentTarget as HTMLSelectElement).value}`)}
        >
          {!time && <option value="">--:--</option>}
          {times.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      </div>
      <Described id={p.id} error={p.error} hint={hint}>
        {null}
      </Described>
    </fieldset>
  );
}

export function TextArea(p: { id: string; label: string; value: string; onInput: (v: string) => void; error?: string | null; hint?: string; rows?: number }) {
  return (
    <div class={`field${p.error ? " field-invalid" : ""}`}>
      <label for={p.id}>{p.label}</label>
      <Described id={p.id} error={p.error} hint={p.hint}>
        <textarea
          id={p.id}
          name={p.id}
          rows={p.rows ?? 2}
          value={p.value}
          aria-invalid={p.error ? true : undefined}
          aria-describedby={describedBy(p.id, p.error, p.hint)}
          onInput={(e) => p.onInput((e.currentTarget as HTMLTextAreaElement).value)}
        />
      </Described>
    </div>
  );
}
