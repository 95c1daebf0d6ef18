// Is the page still talking to its server? Two witnesses: the WebSocket feed (when a page
// has one open) and plain HTTP calls. Either losing its link shows the banner; a probe of
// /healthz with backoff notices when the server is back, and the banner goes by itself.
import { computed, signal } from "@preact/signals";

export type FeedState = "closed" | "connecting" | "open" | "lost";

/** The state of the page's WebSocket feed ("closed": the page has none). */
export const feedState = signal<FeedState>("closed");
/** True while HTTP calls fail for want of a connection. */
export const httpDown = signal(false);
/** The link is lost: show the banner. */
export const linkLost = computed(() => feedState.value === "lost" || httpDown.value);

/** Backoff delays for reconnecting: 0.5 s doubling to at most 5 s, with ±20 % jitter. */
export function backoff(attempt: number): number {
  const base = Math.min(5000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

let probing = false;

/** An HTTP call failed without an answer: show the banner and probe until the server answers. */
export function httpFailed(): void {
  httpDown.value = true;
  if (probing) return;
  probing = true;
  let attempt = 0;
  const probe = async (): Promise<void> => {
    try {
      const r = await fetch("healthz", { cache: "no-store" });
      if (r.status < 500 || r.status === 503) {
        httpDown.value = false;
        probing = false;
        return;
      }
    } catch {
      // still down
    }
    window.setTimeout(probe, backoff(attempt++));
  };
  window.setTimeout(probe, backoff(attempt++));
}

/** An HTTP call got an answer. */
export function httpOk(): void {
  if (httpDown.value) httpDown.value = false;
}
