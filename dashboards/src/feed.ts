// The live feed: eqm-server's WebSocket /api/v1/events sends {type: "device"|"alert"|"gateway"|
// "reservation"|"transfer"}
// messages as they happen. A page opens one with useFeed(); when the socket drops, the banner
// shows and the feed reconnects by itself with backoff, then asks the page to re-read what it
// may have missed. Before each retry it checks the session, so an expired token goes to the
// login instead of retrying forever.
import { useEffect, useRef } from "preact/hooks";
import { call } from "./api";
import { backoff, feedState } from "./connectivity";
import { session } from "./session";

export type FeedMessage =
  | { type: "device"; device: import("./model").Device }
  | { type: "alert"; alert: import("./model").Alert }
  | { type: "gateway"; city: import("./model").City }
  | { type: "reservation"; reservation: import("./planning").Reservation }
  | { type: "transfer"; transfer: import("./planning").Transfer };

const feedTypes = new Set(["device", "alert", "gateway", "reservation", "transfer"]);

export interface FeedOptions {
  /** Only this city's messages. */
  city?: string;
  onMessage: (m: FeedMessage) => void;
  /** Called after a reconnect: re-read the snapshot. */
  onResync: () => void;
}

function feedUrl(token: string, city?: string): string {
  const u = new URL("api/v1/events", location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.search = "";
  u.searchParams.set("token", token);
  if (city) u.searchParams.set("city", city);
  return u.toString();
}

function parse(data: unknown): FeedMessage | null {
  if (typeof data !== "string") return null;
  try {
    const m = JSON.parse(data) as { type?: unknown };
    if (typeof m.type === "string" && feedTypes.has(m.type)) return m as FeedMessage;
  } catch {
    // a malformed frame is skipped
  }
  return null;
}

/** Opens the feed; the returned function closes it for good. */
export function openFeed(opts: FeedOptions): () => void {
  let socket: WebSocket | null = null;
  let closed = false;
  let attempt = 0;
  let timer = 0;
  let everOpened = false;

  const connect = () => {
    const s = session.value;
    if (closed || !s) return;
    feedState.value = everOpened ? "lost" : "connecting";
    const ws = new WebSocket(feedUrl(s.token, opts.city));
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      feedState.value = "open";
      if (everOpened) opts.onResync();
      everOpened = true;
    };
    ws.onmessage = (e) => {
      const m = parse(e.data);
      if (m) opts.onMessage(m);
    };
    ws.onclose = () => {
      if (closed || socket !== ws) return;
      feedState.value = "lost";
      timer = window.setTimeout(retry, backoff(attempt++));
    };
  };

  // A cheap authenticated call tells an expired token (401: call() ends the session) from a
  // server that is still down (the retry goes on).
  const retry = async () => {
    if (closed) return;
    try {
      await call("GET", "api/v1/cities");
    } catch {
      if (!session.value || closed) return;
    }
    connect();
  };

  connect();
  return () => {
    closed = true;
    window.clearTimeout(timer);
    socket?.close();
    socket = null;
    feedState.value = "closed";
  };
}

/** The feed for as long as the component is on the page. */
export function useFeed(opts: FeedOptions | null): void {
  const latest = useRef(opts);
  latest.current = opts;
  const city = opts?.city;
  const enabled = opts !== null;
  useEffect(() => {
    if (!enabled) return undefined;
    return openFeed({
      city,
      onMessage: (m) => latest.current?.onMessage(m),
      onResync: () => latest.current?.onResync(),
    });
  }, [enabled, city]);
}
