// The custodian's scan-and-go desk, keyboard only. Focus starts in the scan field; a
// keyboard-wedge scanner types a device id fast and ends with Enter.
//  - a device that is in: the desk asks for the officer's badge (scan it), Enter checks it out;
//  - a device that is out: the desk asks for its condition (1 ok, 2 damaged + a note, which
//    sends it to maintenance), Enter checks it in;
//  - Esc cancels at any step. The result is shown large, in colour and in words, with the
//    reason and what would make it work when refused.
// The same page runs at the city's eqm-gateway (same API paths), also while the city is offline.
// Beside it: the devices that are out, overdue first.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, get, post } from "../api";
import { Field, StatusWord } from "../components";
import { useDraft } from "../drafts";
import { useFeed } from "../feed";
import { host } from "../host";
import { t, tWord } from "../i18n";
import { formatDateTime, formatSpan, now } from "../i18n/time";
import { batteryOf, idPattern, isOverdue, maxNoteChars, type Device } from "../model";
import { describeError, describeProblem, type Plain } from "../problems";
import { cityName } from "../region";
import { RegionStore } from "../region-store";
import { deviceHref } from "../router";
import { session } from "../session";

type Step = "scan" | "badge" | "condition" | "note";
type Condition = "good" | "damaged";

interface Draft {
  step: Step;
  deviceId: string;
  scan: string;
  badge: string;
  condition: Condition;
  note: string;
}

const emptyDraft: Draft = { step: "scan", deviceId: "", scan: "", badge: "", condition: "good", note: "" };

interface Outcome {
  tone: "ok" | "refused" | "info";
  title: string;
  subject?: string;
  lines: string[];
  problem?: Plain;
  at: number;
}

/** The desk's city: the gateway's own, or the custodian's home city at the server. */
function deskCity(): string | undefined {
  const h = host.value;
  if (h?.kind === "gateway") return h.city;
  return session.value?.city ?? undefined;
}

function deviceLine(d: Device): string {
  const cls = d.class ? tWord("class", d.class) : "";
  return [d.id, d.model ?? "", cls].filter(Boolean).join(" · ");
}

/** Why a device cannot go out right now, as the server or gateway sees it (warnings only; the
 * gateway decides). A battery nobody has reported yet is left out: the server hears the level a
 * minute after the gateway does, and the gateway may well know it. */
function readinessWarnings(d: Device): Plain[] {
  const known = (d.readiness?.problems ?? []).filter((p) => !(p.code === "battery_low" && /unknown/.test(p.message)));
  return known.map((p) =>
    describeProblem({ type: `urn:eqm:problem:${p.code}`, status: 409, detail: p.message }, { device: d }),
  );
}

function statusOutcome(d: Device): Outcome {
  const key = d.status === "in_transit" ? "desk.in_transit" : d.status === "maintenance" ? "desk.in_maintenance" : "desk.not_here";
  return {
    tone: "info",
    title: t("desk.nothing_to_do"),
    subject: deviceLine(d),
    lines: [t(key, { status: tWord("status", d.status) })],
    at: Date.now(),
  };
}

function Result({ outcome }: { outcome: Outcome | null }) {
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
          {outcome.problem.fix && <p class="desk-result-fix">{outcome.problem.fix}</p>}
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

function DeviceCard({ d }: { d: Device }) {
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

function OutList({ store }: { store: RegionStore }) {
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

/** How often the gateway page re-reads the list (the gateway has no WebSocket feed). */
const gatewayRefreshMs = 10_000;

export default function DeskPage() {
  const city = deskCity();
  const atGateway = host.value?.kind === "gateway";
  const store = useMemo(() => new RegionStore(city, false), [city]);
  const [draft, setDraft, clearDraft] = useDraft<Draft>("desk", emptyDraft);
  const [device, setDevice] = useState<Device | null>(null);
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const fieldRef = useRef<HTMLInputElement>(null);
  const conditionRef = useRef<HTMLInputElement>(null);
  const update = (patch: Partial<Draft>) => setDraft({ ...draft, ...patch });

  useEffect(() => {
    void store.load();
    if (!atGateway) return undefined;
    const timer = window.setInterval(() => void store.load(), gatewayRefreshMs);
    return () => window.clearInterval(timer);
  }, [store, atGateway]);
  useFeed(atGateway ? null : { city, onMessage: (m) => store.apply(m), onResync: () => void store.load() });

  // Back from the login after an expired session: the step and what was typed are in the
  // draft; the device is read again.
  useEffect(() => {
    if (draft.step !== "scan" && draft.deviceId && !device) {
      get<Device>(`api/v1/devices/${encodeURIComponent(draft.deviceId)}`)
        .then(setDevice)
        .catch(() => update({ step: "scan" }));
    }
  }, []);

  // Focus follows the step: the one field that takes input now.
  useEffect(() => {
    if (busy) return;
    if (draft.step === "condition") conditionRef.current?.focus();
    else fieldRef.current?.focus();
  }, [draft.step, busy]);

  // A scanner typing while focus is elsewhere (a click on the list) still reaches the field.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (draft.step === "condition") return;
      if (e.key.length === 1) fieldRef.current?.focus();
    };
    document.addEventListener("keydown", onKey, true);
    return () => document.removeEventListener("keydown", onKey, true);
  }, [draft.step]);

  const reset = () => {
    clearDraft();
    setDevice(null);
    setFieldError(null);
  };

  const lookUp = async () => {
    const id = draft.scan.trim();
    if (!id) return;
    if (!idPattern.test(id)) {
      setFieldError(t("desk.bad_device_id"));
      return;
    }
    setFieldError(null);
    setBusy(true);
    try {
      const d = await get<Device>(`api/v1/devices/${encodeURIComponent(id)}`);
      if (city && d.city && d.city !== city) {
        setOutcome({ tone: "refused", title: t("desk.other_city_title"), subject: deviceLine(d), lines: [], problem: { reason: t("desk.other_city", { city: cityName(d.city), here: cityName(city) }), fix: t("desk.other_city_fix") }, at: Date.now() });
        reset();
        return;
      }
      setDevice(d);
      setOutcome(null);
      if (d.status === "available") setDraft({ ...emptyDraft, step: "badge", deviceId: d.id });
      else if (d.status === "checked_out") setDraft({ ...emptyDraft, step: "condition", deviceId: d.id });
      else {
        setOutcome(statusOutcome(d));
        reset();
      }
    } catch (e) {
      if (e instanceof ApiError && e.code === "not_found") {
        setOutcome({ tone: "refused", title: t("desk.unknown_device_title"), subject: id, lines: [], problem: { reason: t("desk.unknown_device", { id }), fix: t("desk.unknown_device_fix") }, at: Date.now() });
        reset();
      } else if (!(e instanceof ApiError && e.code === "unauthorized")) {
        setOutcome({ tone: "refused", title: t("desk.failed"), subject: id, lines: [], problem: describeError(e), at: Date.now() });
      }
    } finally {
      setBusy(false);
    }
  };

  const checkOut = async () => {
    const badge = draft.badge.trim();
    if (!badge) {
      setFieldError(t("desk.badge_required"));
      return;
    }
    if (!idPattern.test(badge)) {
      setFieldError(t("desk.bad_badge"));
      return;
    }
    setFieldError(null);
    setBusy(true);
    const id = draft.deviceId;
    try {
      const answer = await post<{ device?: Device }>(`api/v1/devices/${encodeURIComponent(id)}/checkout`, { badge });
      const d = answer?.device;
      if (d) store.upsertDevice(d);
      setOutcome({
        tone: "ok",
        title: t("desk.checked_out"),
        subject: device ? deviceLine(device) : id,
        lines: [t("desk.handed_to", { who: d?.holder ?? badge }), ...(d?.due ? [t("desk.due_at", { time: formatDateTime(d.due) })] : [])],
        at: Date.now(),
      });
      reset();
    } catch (e) {
      if (e instanceof ApiError && e.code === "unauthorized") return;
      setOutcome({ tone: "refused", title: t("desk.refused_checkout"), subject: device ? deviceLine(device) : id, lines: [], problem: describeError(e, { device }), at: Date.now() });
      reset();
    } finally {
      setBusy(false);
      void store.load();
    }
  };

  const checkIn = async () => {
    if (draft.condition === "damaged" && draft.step === "condition") {
      update({ step: "note" });
      return;
    }
    const note = draft.note.trim();
    if (draft.condition === "damaged" && !note) {
      setFieldError(t("desk.note_required"));
      return;
    }
    if (note.length > maxNoteChars) {
      setFieldError(t("desk.note_too_long", { n: maxNoteChars }));
      return;
    }
    setFieldError(null);
    setBusy(true);
    const id = draft.deviceId;
    const body = draft.condition === "damaged" ? { condition: "damaged", note } : { condition: "good" };
    try {
      const answer = await post<{ device?: Device }>(`api/v1/devices/${encodeURIComponent(id)}/checkin`, body);
      const d = answer?.device;
      if (d) store.upsertDevice(d);
      const damaged = draft.condition === "damaged";
      setOutcome({
        tone: "ok",
        title: damaged ? t("desk.checked_in_damaged") : t("desk.checked_in"),
        subject: device ? deviceLine(device) : id,
        lines: damaged ? [t("desk.sent_to_maintenance"), t("desk.note_was", { note })] : [t("desk.back_in_stock")],
        at: Date.now(),
      });
      reset();
    } catch (e) {
      if (e instanceof ApiError && e.code === "unauthorized") return;
      setOutcome({ tone: "refused", title: t("desk.refused_checkin"), subject: device ? deviceLine(device) : id, lines: [], problem: describeError(e, { device }), at: Date.now() });
      reset();
    } finally {
      setBusy(false);
      void store.load();
    }
  };

  const onFieldKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      e.preventDefault();
      if (draft.step === "scan" && !draft.scan) setOutcome(null);
      reset();
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (busy) return;
      if (draft.step === "scan") void lookUp();
      else if (draft.step === "badge") void checkOut();
      else if (draft.step === "note") void checkIn();
    }
  };

  const onConditionKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      e.preventDefault();
      reset();
    } else if (e.key === "1") {
      e.preventDefault();
      update({ condition: "good" });
    } else if (e.key === "2") {
      e.preventDefault();
      update({ condition: "damaged" });
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (!busy) void checkIn();
    }
  };

  const stepField = () => {
    if (draft.step === "scan")
      return (
        <Field id="scan" large label={t("desk.scan_label")} hint={t("desk.scan_hint")} value={draft.scan} onInput={(v) => { update({ scan: v }); setFieldError(null); }} error={fieldError} inputRef={fieldRef} onKeyDown={onFieldKey} />
      );
    if (draft.step === "badge")
      return (
        <Field id="badge" large label={t("desk.badge_label")} hint={t("desk.badge_hint")} value={draft.badge} onInput={(v) => { update({ badge: v }); setFieldError(null); }} error={fieldError} inputRef={fieldRef} onKeyDown={onFieldKey} />
      );
    if (draft.step === "note")
      return (
        <Field id="note" large label={t("desk.note_label")} hint={t("desk.note_hint")} value={draft.note} onInput={(v) => { update({ note: v }); setFieldError(null); }} error={fieldError} inputRef={fieldRef} onKeyDown={onFieldKey} />
      );
    return (
      <fieldset class="condition" onKeyDown={onConditionKey}>
        <legend>{t("desk.condition_label")}</legend>
        {(["good", "damaged"] as const).map((c, i) => (
          <label key={c} class={`condition-choice${draft.condition === c ? " is-chosen" : ""}`}>
            <input type="radio" name="condition" value={c} checked={draft.condition === c} ref={draft.condition === c ? conditionRef : undefined} onChange={() => update({ condition: c })} />
            <kbd>{i + 1}</kbd> {t(`desk.condition_${c}`)}
          </label>
        ))}
        <p class="hint">{t("desk.condition_hint")}</p>
      </fieldset>
    );
  };

  const stepTitle: Record<Step, string> = {
    scan: t("desk.step_scan"),
    badge: t("desk.step_badge"),
    condition: t("desk.step_condition"),
    note: t("desk.step_note"),
  };

  return (
    <div class="page desk-page">
      <div class="page-head">
        <h1>{t("page.desk")}</h1>
        <span class="quiet">{city ? cityName(city) : ""}</span>
      </div>
      <div class="desk-grid">
        <section class="card desk-card" aria-labelledby="desk-step">
          <h2 id="desk-step" class="desk-step">
            {stepTitle[draft.step]}
          </h2>
          {device && draft.step !== "scan" && <DeviceCard d={device} />}
          <form onSubmit={(e) => e.preventDefault()} noValidate>
            {stepField()}
          </form>
          <p class="keys">{draft.step === "scan" ? t("desk.keys_scan") : t("desk.keys_step")}</p>
          {busy && <p class="quiet-note">{t("desk.waiting")}</p>}
          <Result outcome={outcome} />
        </section>
        <OutList store={store} />
      </div>
    </div>
  );
}
