// The pieces of the desk: the step's field, the big result, the device card and the list of
// devices out (overdue first).
import type { Ref } from "preact";
import { Field, StatusWord, sentence } from "../components";
import { t, tWord } from "../i18n";
import { formatDateTime, formatSpan, now } from "../i18n/time";
import { batteryOf, isOverdue, type Device } from "../model";
import { describeProblem, type Plain } from "../problems";
import type { RegionStore } from "../region-store";
import { deviceHref } from "../router";
import type { Desk, Outcome } from "./use-desk";

/** Why a device cannot go out right now, as the server or gateway sees it (warnings only; the
 * gateway decides). A battery nobody has reported yet is left out: the server hears the level a
 * minute after the gateway does, and the gateway may well know it. */
function readinessWarnings(d: Device): Plain[] {
  const known = (d.readiness?.problems ?? []).filter((p) => !(p.code === "battery_low" && /unknown/.test(p.message)));
  return known.map((p) =>
    describeProblem({ type: `urn:eqm:problem:${p.code}`, status: 409, detail: p.message }, { device: d }),
  );
}

export function Result({ outcome }: { outcome: Outcome | null }) {
  if (!outcome) return <div class="desk-result desk-result-empty" aria-hidden="true" />;
  const icon = outcome.tone === "ok" ? "✓" : outcome.tone === "refused" ? "✗" : "i";
  return (
    <div class={`desk-result desk-result-${outcome.tone}`} role="status" aria-live="assertive" data-testid="desk-result">
      <div class="desk-result-head">
        <span class="desk-result-icon" aria-hidden="true">
          {icon}
        </span>
        <span class="desk-result-title">{outcome.title}</span>
        <span class="desk-result-time">{formatDateTime(outcome.at).slice(11)}</span>
      </div>
      {outcome.subject && <p class="desk-result-subject">{outcome.subject}</p>}
      {outcome.problem && (
        <>
          <p class="desk-result-reason">{outcome.problem.reason}</p>
          {outcome.problem.fix && <p class="desk-result-fix">{sentence(outcome.problem.fix)}</p>}
        </>
      )}
      {outcome.lines.map((l, i) => (
        <p key={i} class="desk-result-line">
          {l}
        </p>
      ))}
    </div>
  );
}

export function DeviceCard({ d }: { d: Device }) {
  const pct = batteryOf(d);
  const warnings = d.status === "available" ? readinessWarnings(d) : [];
  return (
    <div class="device-card" data-testid="device-card">
      <p class="device-card-id mono">{d.id}</p>
      <p class="device-card-model">
        {d.model ?? "—"} · {d.class ? tWord("class", d.class) : "—"}
      </p>
      <dl class="facts">
        <div>
          <dt>{t("word.status")}</dt>
          <dd>
            <StatusWord status={d.status} />
          </dd>
        </div>
        {d.holder && (
          <div>
            <dt>{t("word.holder")}</dt>
            <dd>{d.holder}</dd>
          </div>
        )}
        {d.due && (
          <div>
            <dt>{t("word.due")}</dt>
            <dd>{formatDateTime(d.due)}</dd>
          </div>
        )}
        {pct !== undefined && (
          <div>
            <dt>{t("word.battery")}</dt>
            <dd>{Math.round(pct)}%</dd>
          </div>
        )}
      </dl>
      {warnings.length > 0 && (
        <ul class="device-warnings">
          {warnings.map((w, i) => (
            <li key={i}>
              {w.reason}
              {w.fix ? ` — ${w.fix}` : ""}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function OutList({ store }: { store: RegionStore }) {
  store.revision.value;
  const at = now.value;
  const out = [...store.devices.values()]
    .filter((d) => d.status === "checked_out")
    .sort((a, b) => {
      const ao = isOverdue(a, at) ? 0 : 1;
      const bo = isOverdue(b, at) ? 0 : 1;
      if (ao !== bo) return ao - bo;
      return (a.due ?? "9999").localeCompare(b.due ?? "9999") || a.id.localeCompare(b.id);
    });
  const overdue = out.filter((d) => isOverdue(d, at)).length;
  return (
    <section class="card out-card" aria-labelledby="out-heading">
      <h2 id="out-heading">
        {t("desk.out_title")} <span class="count">{out.length}</span>
        {overdue > 0 && <span class="overdue-count">{t("desk.overdue_count", { n: overdue })}</span>}
      </h2>
      {out.length === 0 ? (
        <p class="quiet-note">{t("desk.none_out")}</p>
      ) : (
        <ul class="out-list" data-testid="out-list">
          {out.map((d) => {
            const late = isOverdue(d, at);
            return (
              <li key={d.id} class={late ? "is-overdue" : undefined} data-device={d.id}>
                <a class="mono" href={deviceHref(d.id)}>
                  {d.id}
                </a>
                <span class="out-model">{d.model ?? ""}</span>
                <span class="out-holder">{d.holder ?? "—"}</span>
                <span class="out-due">
                  {late
                    ? t("desk.overdue_by", { span: formatSpan(at - Date.parse(d.due!)) })
                    : d.due
                      ? t("desk.due_at", { time: formatDateTime(d.due) })
                      : t("desk.no_due")}
                </span>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}


const fieldText = {
  scan: ["desk.scan_label", "desk.scan_hint"],
  badge: ["desk.badge_label", "desk.badge_hint"],
  note: ["desk.note_label", "desk.note_hint"],
} as const;

/** The one input of the current step: Enter submits, Esc cancels; 1 and 2 choose a condition. */
export function StepField({ desk, inputRef }: { desk: Desk; inputRef: Ref<HTMLInputElement> }) {
  const { draft } = desk;
  const onKey = (e: KeyboardEvent) => {
    const act: Record<string, () => void> = {
      Escape: desk.cancel,
      Enter: desk.submit,
      ...(draft.step === "condition" ? { "1": () => desk.choose("good"), "2": () => desk.choose("damaged") } : {}),
    };
    const action = act[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  };
  if (draft.step !== "condition") {
    const field = draft.step;
    const [label, hint] = fieldText[field];
    return (
      <Field id={field} large label={t(label)} hint={t(hint)} value={draft[field]} onInput={(v) => desk.edit(field, v)} error={desk.fieldError} inputRef={inputRef} onKeyDown={onKey} />
    );
  }
  return (
    <fieldset class="condition" onKeyDown={onKey}>
      <legend>{t("desk.condition_label")}</legend>
      {(["good", "damaged"] as const).map((c, i) => (
        <label key={c} class={`condition-choice${draft.condition === c ? " is-chosen" : ""}`}>
          <input type="radio" name="condition" value={c} checked={draft.condition === c} ref={draft.condition === c ? inputRef : undefined} onChange={() => desk.choose(c)} />
          <kbd>{i + 1}</kbd> {t(`desk.condition_${c}`)}
        </label>
      ))}
      <p class="hint">{t("desk.condition_hint")}</p>
    </fieldset>
  );
}
