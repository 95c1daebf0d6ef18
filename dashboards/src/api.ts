// The one client of the REST API (eqm-server's, or eqm-gateway's for the custodian page).
// - Every refusal arrives as application/problem+json (RFC 9457) and becomes an ApiError
//   carrying the problem; problems.ts turns it into plain words.
// - A 401 ends the session (session.expire) so the page goes back to the login.
// - No answer at all marks the link down (connectivity.ts) and throws NetworkError.
// - Lists: listAll() follows `next_cursor` pages; it is the one place that also takes the
//   older shapes (a bare array, or {devices: [...]} at the gateway) while the API moves over.
import { httpFailed, httpOk } from "./connectivity";
import { authHeader, expire } from "./session";

export interface Problem {
  type: string;
  title?: string;
  status: number;
  detail?: string;
  field?: string;
  [extra: string]: unknown;
}

export const problemPrefix = "urn:eqm:problem:";

/** The API refused: `problem` says why. */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? problem.type);
    this.name = "ApiError";
  }
  /** The problem's code: the part of `type` after urn:eqm:problem: ("battery_low"). */
  get code(): string {
    return codeOf(this.problem);
  }
}

/** The server could not be reached (no HTTP answer). */
export class NetworkError extends Error {
  constructor() {
    super("network");
    this.name = "NetworkError";
  }
}

export function codeOf(p: Problem): string {
  return p.type.startsWith(problemPrefix) ? p.type.slice(problemPrefix.length) : p.type;
}

export interface CallOptions {
  body?: unknown;
  /** Sent as it is with this content type (CSV import); otherwise `body` is sent as JSON. */
  raw?: { text: string; contentType: string };
  /** false for the login itself: its 401 is a wrong password, not an expired session. */
  auth?: boolean;
  /** A token of its own (the password change right after a login with a one-time password). */
  token?: string;
  signal?: AbortSignal;
}

async function problemOf(r: Response): Promise<Problem> {
  const text = await r.text().catch(() => "");
  try {
    const j = JSON.parse(text) as Partial<Problem>;
    if (j && typeof j === "object" && typeof j.type === "string") {
      return { ...j, type: j.type, status: typeof j.status === "number" ? j.status : r.status };
    }
  } catch {
    // not JSON: described below from the status
  }
  const byStatus: Record<number, string> = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    429: "too_many_requests",
    503: "unavailable",
  };
  return {
    type: problemPrefix + (byStatus[r.status] ?? (r.status >= 500 ? "internal" : "bad_request")),
    status: r.status,
    detail: text.slice(0, 300) || r.statusText,
  };
}

/** Calls the API; the decoded JSON answer (undefined for 204), or throws ApiError/NetworkError. */
export async function call<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = opts.token ? { Authorization: `Bearer ${opts.token}` } : opts.auth === false ? {} : authHeader();
  let body: string | undefined;
  if (opts.raw) {
    headers["Content-Type"] = opts.raw.contentType;
    body = opts.raw.text;
  } else if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let r: Response;
  try {
    r = await fetch(path, { method, headers, body, signal: opts.signal, cache: "no-store" });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    httpFailed();
    throw new NetworkError();
  }
  httpOk();
  if (!r.ok) {
    const p = await problemOf(r);
    if (r.status === 401 && opts.auth !== false) expire();
    throw new ApiError(p);
  }
  if (r.status === 204) return undefined as T;
  const text = await r.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => call<T>("GET", path, { signal });
export const post = <T>(path: string, body?: unknown) => call<T>("POST", path, { body });

/** One page of a list answer: every list of the server and the gateway is `{items, next_cursor}`. */
export function pageOf<T>(body: unknown): { items: T[]; next: string | null } {
  const b = body as Record<string, unknown> | null;
  if (!b || typeof b !== "object" || !Array.isArray(b.items)) throw new Error("the answer is not a page of a list ({items, next_cursor})");
  const next = typeof b.next_cursor === "string" && b.next_cursor ? b.next_cursor : null;
  return { items: b.items as T[], next };
}

/** Pages fetched at most, so a server that repeats a cursor cannot keep the page busy. */
const maxPages = 1000;
const pageLimit = 1000;

/** Every item of a list, following `next_cursor` from page to page. */
export async function listAll<T>(path: string, signal?: AbortSignal): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  const seen = new Set<string>();
  for (let page = 0; page < maxPages; page++) {
    const url = new URL(path, "http://x/");
    url.searchParams.set("limit", String(pageLimit));
    if (cursor) url.searchParams.set("cursor", cursor);
    const body = await get<unknown>(url.pathname.slice(1) + url.search, signal);
    const { items, next } = pageOf<T>(body);
    out.push(...items);
    if (!next || seen.has(next)) break;
    seen.add(next);
    cursor = next;
  }
  return out;
}
