// Who is signed in. The token lives in sessionStorage (gone when the tab closes). When the API
// answers 401, the session ends, the page goes to the login form and remembers where it was;
// after the login it goes back there, and the forms find what was typed (see drafts.ts).
import { signal } from "@preact/signals";
import { here, navigate } from "./router";

export type Role = "officer" | "custodian" | "dispatcher" | "admin";
export const roles: readonly Role[] = ["dispatcher", "custodian", "officer", "admin"];

export interface Session {
  token: string;
  role: Role;
  /** The home city's 6-digit code; null for region-wide roles. */
  city: string | null;
  name: string;
  expires_at: string | null;
}

const sessionKey = "eqm.session";
const returnKey = "eqm.return_to";

function isRole(v: unknown): v is Role {
  return typeof v === "string" && (roles as readonly string[]).includes(v);
}

/** A session from a login answer, or null when the answer lacks what a page needs. */
export function sessionFrom(body: unknown, name: string): Session | null {
  if (!body || typeof body !== "object") return null;
  const b = body as Record<string, unknown>;
  if (typeof b.token !== "string" || !b.token || !isRole(b.role)) return null;
  return {
    token: b.token,
    role: b.role,
    city: typeof b.city === "string" ? b.city : null,
    name: typeof b.name === "string" && b.name ? b.name : name,
    expires_at: typeof b.expires_at === "string" ? b.expires_at : null,
  };
}

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(sessionKey);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return sessionFrom(s, s.name);
  } catch {
    return null;
  }
}

export const session = signal<Session | null>(typeof window === "undefined" ? null : load());
/** Set when the last session ended because the server no longer accepted it. */
export const sessionExpired = signal(false);

export function begin(s: Session): void {
  sessionStorage.setItem(sessionKey, JSON.stringify(s));
  session.value = s;
  sessionExpired.value = false;
}

/** Signs out on purpose: forgets the session and where the user was. */
export function end(): void {
  sessionStorage.removeItem(sessionKey);
  sessionStorage.removeItem(returnKey);
  session.value = null;
  navigate("/login");
}

/** The server refused the token: back to the login, keeping the place to come back to. */
export function expire(): void {
  if (!session.value) return;
  const place = here();
  if (!place.startsWith("/login")) sessionStorage.setItem(returnKey, place);
  sessionStorage.removeItem(sessionKey);
  session.value = null;
  sessionExpired.value = true;
  navigate("/login");
}

/** Where to go after a login: the page the expired session was on, if any. */
export function takeReturnPlace(): string | null {
  const place = sessionStorage.getItem(returnKey);
  sessionStorage.removeItem(returnKey);
  return place;
}

export function authHeader(): Record<string, string> {
  const s = session.value;
  return s ? { Authorization: `Bearer ${s.token}` } : {};
}
