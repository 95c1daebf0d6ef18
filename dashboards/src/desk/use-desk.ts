// The desk's state machine: scan -> badge -> check-out, or scan -> condition (-> note) ->
// check-in. What was typed lives in a draft (sessionStorage), so an expired session that goes
// to the login and back finds the same step with the same text.
import { useState } from "preact/hooks";
import { ApiError, get, post } from "../api";
import { useDraft } from "../drafts";
import { t, tWord } from "../i18n";
import { formatDateTime } from "../i18n/time";
import { idPattern, maxNoteChars, type Device } from "../model";
import { describeError, type Plain } from "../problems";
import { cityName } from "../region";
import type { RegionStore } from "../region-store";

export type Step = "scan" | "badge" | "condition" | "note";
export type Condition = "good" | "damaged";
export type Editable = "scan" | "badge" | "note";

export interface Draft {
  step: Step;
  deviceId: string;
  scan: string;
  badge: string;
  condition: Condition;
  note: string;
}

const emptyDraft: Draft = { step: "scan", deviceId: "", scan: "", badge: "", condition: "good", note: "" };

/** The big result under the field. */
export interface Outcome {
  tone: "ok" | "refused" | "info";
  title: string;
  subject?: string;
  lines: string[];
  problem?: Plain;
  at: number;
}

export function deviceLine(d: Device): string {
  const cls = d.class ? tWord("class", d.class) : "";
  return [d.id, d.model ?? "", cls].filter(Boolean).join(" · ");
}

function outcome(tone: Outcome["tone"], title: string, subject: string, rest: Partial<Outcome> = {}): Outcome {
  return { tone, title, subject, lines: [], at: Date.now(), ...rest };
}

/** A device that is neither in nor out (in transit, in maintenance, lost, retired). */
function statusOutcome(d: Device): Outcome {
  const key = d.status === "in_transit" ? "desk.in_transit" : d.status === "maintenance" ? "desk.in_maintenance" : "desk.not_here";
  return outcome("info", t("desk.nothing_to_do"), deviceLine(d), { lines: [t(key, { status: tWord("status", d.status) })] });
}

const isUnauthorized = (e: unknown) => e instanceof ApiError && e.code === "unauthorized";
const devicePath = (id: string) => `api/v1/devices/${encodeURIComponent(id)}`;

export function useDesk(store: RegionStore, city: string | undefined) {
  const [draft, setDraft, clearDraft] = useDraft<Draft>("desk", emptyDraft);
  const [device, setDevice] = useState<Device | null>(null);
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [result, setResult] = useState<Outcome | null>(null);

  const reset = () => {
    clearDraft();
    setDevice(null);
    setFieldError(null);
  };
  /** Runs a call with the busy flag; afterwards re-reads the list of devices out. */
  const busyWith = async (work: () => Promise<void>, reload: boolean) => {
    setFieldError(null);
    setBusy(true);
    try {
      await work();
    } finally {
      setBusy(false);
      if (reload) void store.load();
    }
  };
  const subject = () => (device ? deviceLine(device) : draft.deviceId);

  const lookUp = (id: string) =>
    busyWith(async () => {
      try {
        const d = await get<Device>(devicePath(id));
        if (city && d.city && d.city !== city) {
          const problem = { reason: t("desk.other_city", { city: cityName(d.city), here: cityName(city) }), fix: t("desk.other_city_fix") };
          setResult(outcome("refused", t("desk.other_city_title"), deviceLine(d), { problem }));
          return reset();
        }
        setResult(null);
        setDevice(d);
        if (d.status === "available") setDraft({ ...emptyDraft, step: "badge", deviceId: d.id });
        else if (d.status === "checked_out") setDraft({ ...emptyDraft, step: "condition", deviceId: d.id });
        else {
          setResult(statusOutcome(d));
          reset();
        }
      } catch (e) {
        if (e instanceof ApiError && e.code === "not_found") {
          const problem = { reason: t("desk.unknown_device", { id }), fix: t("desk.unknown_device_fix") };
          setResult(outcome("refused", t("desk.unknown_device_title"), id, { problem }));
          reset();
        } else if (!isUnauthorized(e)) {
          setResult(outcome("refused", t("desk.failed"), id, { problem: describeError(e) }));
        }
      }
    }, false);

  const checkOut = (badge: string) =>
    busyWith(async () => {
      try {
        const answer = await post<{ device?: Device }>(`${devicePath(draft.deviceId)}/checkout`, { badge });
        const d = answer?.device;
        if (d) store.upsertDevice(d);
        const lines = [t("desk.handed_to", { who: d?.holder ?? badge })];
        if (d?.due) lines.push(t("desk.due_at", { time: formatDateTime(d.due) }));
        setResult(outcome("ok", t("desk.checked_out"), subject(), { lines }));
        reset();
      } catch (e) {
        // An expired session keeps the step and the badge for after the login.
        if (isUnauthorized(e)) return;
        setResult(outcome("refused", t("desk.refused_checkout"), subject(), { problem: describeError(e, { device }) }));
        reset();
      }
    }, true);

  const checkIn = (condition: Condition, note: string) =>
    busyWith(async () => {
      const body = condition === "damaged" ? { condition, note } : { condition };
      try {
        const answer = await post<{ device?: Device }>(`${devicePath(draft.deviceId)}/checkin`, body);
        if (answer?.device) store.upsertDevice(answer.device);
        const damaged = condition === "damaged";
        const lines = damaged ? [t("desk.sent_to_maintenance"), t("desk.note_was", { note })] : [t("desk.back_in_stock")];
        setResult(outcome("ok", damaged ? t("desk.checked_in_damaged") : t("desk.checked_in"), subject(), { lines }));
        reset();
      } catch (e) {
        if (isUnauthorized(e)) return;
        setResult(outcome("refused", t("desk.refused_checkin"), subject(), { problem: describeError(e, { device }) }));
        reset();
      }
    }, true);

  /** Enter: the current step's action, after checking what was typed (nothing bad is sent). */
  const submit = () => {
    if (busy) return;
    const value = (s: string) => s.trim();
    switch (draft.step) {
      case "scan":
        if (!value(draft.scan)) return;
        if (!idPattern.test(value(draft.scan))) return setFieldError(t("desk.bad_device_id"));
        return void lookUp(value(draft.scan));
      case "badge":
        if (!value(draft.badge)) return setFieldError(t("desk.badge_required"));
        if (!idPattern.test(value(draft.badge))) return setFieldError(t("desk.bad_badge"));
        return void checkOut(value(draft.badge));
      case "condition":
        if (draft.condition === "damaged") return setDraft((d) => ({ ...d, step: "note" }));
        return void checkIn("good", "");
      case "note":
        if (!value(draft.note)) return setFieldError(t("desk.note_required"));
        if (value(draft.note).length > maxNoteChars) return setFieldError(t("desk.note_too_long", { n: maxNoteChars }));
        return void checkIn("damaged", value(draft.note));
    }
  };

  /** Esc: back to the scan field; in an empty scan field it also clears the last result. */
  const cancel = () => {
    if (draft.step === "scan" && !draft.scan) setResult(null);
    reset();
  };

  const edit = (field: Editable, v: string) => {
    setDraft((d) => ({ ...d, [field]: v }));
    setFieldError(null);
  };
  const choose = (condition: Condition) => setDraft((d) => ({ ...d, condition }));

  /** Back from the login: read the device of the step the draft is at again. */
  const restore = () => {
    if (draft.step === "scan" || !draft.deviceId || device) return;
    get<Device>(devicePath(draft.deviceId))
      .then(setDevice)
      .catch(() => setDraft((d) => ({ ...d, step: "scan" })));
  };

  return { draft, device, busy, fieldError, result, submit, cancel, edit, choose, restore };
}

export type Desk = ReturnType<typeof useDesk>;
