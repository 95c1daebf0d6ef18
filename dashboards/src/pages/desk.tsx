// The custodian's scan-and-go desk, keyboard only. Focus starts in the scan field; a
// keyboard-wedge scanner types a device id fast and ends with Enter.
//  - a device that is in: the desk asks for the officer's badge (scan it), Enter checks it out;
//  - a device that is out: the desk asks for its condition (1 ok, 2 damaged + a note, which
//    sends it to maintenance), Enter checks it in;
//  - Esc cancels at any step. The result is shown large, in colour and in words, with the
//    reason and what would make it work when refused.
// The same page runs at the city's eqm-gateway (same API paths), also while the city is offline.
// Beside it: the devices that are out, overdue first.
import { useEffect, useMemo, useRef } from "preact/hooks";
import { DeviceCard, OutList, Result, StepField } from "../desk/parts";
import { useDesk, type Step } from "../desk/use-desk";
import { useFeed } from "../feed";
import { host } from "../host";
import { t } from "../i18n";
import { cityName } from "../region";
import { RegionStore } from "../region-store";
import { session } from "../session";

/** How often the gateway page re-reads the list (the gateway has no WebSocket feed). */
const gatewayRefreshMs = 10_000;

const stepTitle: Record<Step, "desk.step_scan" | "desk.step_badge" | "desk.step_condition" | "desk.step_note"> = {
  scan: "desk.step_scan",
  badge: "desk.step_badge",
  condition: "desk.step_condition",
  note: "desk.step_note",
};

/** The desk's city: the gateway's own, or the custodian's home city at the server. */
function deskCity(): string | undefined {
  const h = host.value;
  if (h?.kind === "gateway") return h.city;
  return session.value?.city ?? undefined;
}

/** The list of devices out, live from the feed at the server, re-read at a gateway. */
function useOutList(city: string | undefined): RegionStore {
  const atGateway = host.value?.kind === "gateway";
  const store = useMemo(() => new RegionStore(city, false), [city]);
  useEffect(() => {
    void store.load();
    if (!atGateway) return undefined;
    const timer = window.setInterval(() => void store.load(), gatewayRefreshMs);
    return () => window.clearInterval(timer);
  }, [store, atGateway]);
  useFeed(atGateway ? null : { city, onMessage: (m) => store.apply(m), onResync: () => void store.load() });
  return store;
}

/** Focus follows the step; a scanner typing while the focus is elsewhere still reaches the field. */
function useDeskFocus(step: Step, busy: boolean) {
  const inputRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (!busy) inputRef.current?.focus();
  }, [step, busy]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      if (e.ctrlKey || e.metaKey || e.altKey || step === "condition") return;
      if (e.key.length === 1) inputRef.current?.focus();
    };
    document.addEventListener("keydown", onKey, true);
    return () => document.removeEventListener("keydown", onKey, true);
  }, [step]);
  return inputRef;
}

export default function DeskPage() {
  const city = deskCity();
  const store = useOutList(city);
  const desk = useDesk(store, city);
  const inputRef = useDeskFocus(desk.draft.step, desk.busy);
  useEffect(desk.restore, []);

  return (
    <div class="page desk-page">
      <div class="page-head">
        <h1>{t("page.desk")}</h1>
        <span class="quiet">{city ? cityName(city) : ""}</span>
      </div>
      <div class="desk-grid">
        <section class="card desk-card" aria-labelledby="desk-step">
          <h2 id="desk-step" class="desk-step">
            {t(stepTitle[desk.draft.step])}
          </h2>
          {desk.device && desk.draft.step !== "scan" && <DeviceCard d={desk.device} />}
          <form onSubmit={(e) => e.preventDefault()} noValidate>
            <StepField desk={desk} inputRef={inputRef} />
          </form>
          <p class="keys">{desk.draft.step === "scan" ? t("desk.keys_scan") : t("desk.keys_step")}</p>
          {desk.busy && <p class="quiet-note">{t("desk.waiting")}</p>}
          <Result outcome={desk.result} />
        </section>
        <OutList store={store} />
      </div>
    </div>
  );
}
