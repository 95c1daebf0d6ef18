// The planning side as the pages read it (ARCHITECTURE.md, "Bodies of the planning side"):
// reservations, transfers, people, quotas, the quota-gap and utilization reports and the
// allocation plan. Every path of these APIs is named here, once; the pages call the functions.
import { call, get, listAll, post } from "./api";
import { tWord } from "./i18n";
import type { DeviceClass } from "./model";

export type ReservationStatus =
  | "requested"
  | "approved"
  | "declined"
  | "active"
  | "completed"
  | "cancelled"
  | "no_show"
  | "overdue";

export interface Reservation {
  id: string;
  status: ReservationStatus;
  person_id?: string;
  person_name?: string;
  city: string;
  class?: DeviceClass;
  analyte?: string;
  device_id?: string;
  unit_id?: string;
  start: string;
  end: string;
  purpose?: string;
  case_no?: string;
  reason?: string;
  decided_by?: string;
}

/** The body of POST /reservations: exactly one of device_id and class. */
export interface BookingBody {
  device_id?: string;
  class?: string;
  analyte?: string;
  city: string;
  start: string;
  end: string;
  purpose: string;
  case_no?: string;
}

/** One free window a 409 offers instead. */
export interface Alternative {
  start: string;
  end: string;
  device_id?: string;
}

export interface ConflictRef {
  id: string;
  start: string;
  end: string;
}

export type TransferStatus = "requested" | "approved" | "in_transit" | "completed" | "cancelled" | "overdue";

export interface TransferItem {
  device_id?: string;
  class?: string;
  count?: number;
  analyte?: string;
}

export interface Transfer {
  id: string;
  status: TransferStatus;
  from_city: string;
  to_city: string;
  items: TransferItem[];
  due: string;
  reason?: string;
  created_at?: string;
  /** The units moving, once the source has chosen them. */
  units?: { device_id: string; class?: string; state?: string }[];
}

export interface Person {
  id: string;
  name: string;
  role: "officer" | "custodian" | "dispatcher" | "admin";
  city?: string | null;
  badge?: string | null;
  badge_cities?: string[];
  active?: boolean;
}

export interface Quota {
  city: string;
  class: string;
  analyte?: string;
  min_ready: number;
}

export interface QuotaGapRow {
  city: string;
  class: string;
  analyte?: string;
  quota: number;
  stock: number;
  ready: number;
  in_use: number;
  in_transit: number;
  gap: number;
}

export interface PlanMove {
  from: string;
  to: string;
  class: string;
  count: number;
  eta_minutes: number;
  cost?: number;
  serves?: unknown;
}

export interface Plan {
  id?: string;
  moves: PlanMove[];
  unmet: { city: string; class: string; kind: string; count: number }[];
  total_cost: number;
}

/** A reservation rule row (docs/reservations.md): only `class` is required. */
export interface ReservationRule {
  class: string;
  analyte?: string;
  min_notice_minutes: number;
  max_length_minutes: number;
  buffer_minutes: number;
  working_hours: { open: string; close: string; days: string[] } | null;
  approval_required: boolean;
  max_open_bookings: number | null;
}

const enc = encodeURIComponent;

export const api = {
  reservations: (query = "") => listAll<Reservation>(`api/v1/reservations${query}`),
  book: (body: BookingBody) => post<Reservation>("api/v1/reservations", body),
  reservationAction: (id: string, action: "approve" | "decline" | "cancel", reason?: string) =>
    post<Reservation>(`api/v1/reservations/${enc(id)}/${action}`, reason ? { reason } : {}),
  availability: (q: { city: string; cls: string; analyte?: string; from: string; to: string }) => {
    const p = new URLSearchParams({ city: q.city, class: q.cls, from: q.from, to: q.to });
    if (q.analyte) p.set("analyte", q.analyte);
    return get<unknown>(`api/v1/reservations/availability?${p}`);
  },
  /** A new calendar address (the previous one stops working); `revokeCalendar` ends it. */
  newCalendarLink: () => post<{ url?: string; path?: string }>("api/v1/me/calendar-link", {}),
  revokeCalendar: () => call<void>("DELETE", "api/v1/me/calendar-link"),
  transfers: () => listAll<Transfer>("api/v1/transfers"),
  transferAction: (id: string, action: "approve" | "cancel") => post<Transfer>(`api/v1/transfers/${enc(id)}/${action}`, {}),
  people: () => listAll<Person>("api/v1/people"),
  addPerson: (body: Record<string, unknown>) => post<Person & { one_time_password?: string }>("api/v1/people", body),
  editPerson: (id: string, body: Record<string, unknown>) => call<Person>("PATCH", `api/v1/people/${enc(id)}`, { body }),
  resetPassword: (id: string) => post<{ one_time_password?: string }>(`api/v1/people/${enc(id)}/password-reset`, {}),
  rules: () => get<{ items: ReservationRule[] }>("api/v1/reservation-rules"),
  putRules: (items: ReservationRule[]) => call<{ items: ReservationRule[] }>("PUT", "api/v1/reservation-rules", { body: { items } }),
  quotas: () => listAll<Quota>("api/v1/quotas"),
  putQuotas: (items: Quota[]) => call<unknown>("PUT", "api/v1/quotas", { body: { items } }),
  quotaGap: () => listAll<QuotaGapRow>("api/v1/reports/quota-gap"),
  utilization: (query: string) => get<unknown>(`api/v1/reports/utilization${query}`),
  plan: () => post<Plan>("api/v1/allocation/plan", {}),
  approvePlan: (id: string, moves?: number[]) =>
    post<{ transfers: Transfer[] }>(`api/v1/allocation/plans/${enc(id)}/approve`, moves ? { moves } : {}),
};

/** Bookings that still hold their window (and so can be cancelled, or are being used). */
export const openStatuses: readonly ReservationStatus[] = ["requested", "approved", "active", "overdue"];

/** Transfers still under way. */
export const liveTransferStatuses: readonly TransferStatus[] = ["requested", "approved", "in_transit", "overdue"];

/** A transfer whose due time has passed while it is still moving. */
export function transferOverdue(tr: Transfer, now: number): boolean {
  if (tr.status === "overdue") return true;
  if (!liveTransferStatuses.includes(tr.status)) return false;
  const due = Date.parse(tr.due);
  return !Number.isNaN(due) && due < now;
}

/** Overdue first (the longest overdue first), then by due time, then by id. */
export function transferOrder(now: number) {
  return (a: Transfer, b: Transfer): number => {
    const oa = transferOverdue(a, now);
    const ob = transferOverdue(b, now);
    if (oa !== ob) return oa ? -1 : 1;
    return a.due.localeCompare(b.due) || a.id.localeCompare(b.id);
  };
}

/** `analyzer:cod` (the plan's class names) split into class and analyte. */
export function splitClass(name: string): { cls: string; analyte?: string } {
  const [cls, analyte] = name.split(":", 2);
  return analyte ? { cls, analyte } : { cls };
}

/** A class in words, with its analyte: `analyzer:cod` is "便携式监测仪 · 化学需氧量 (COD)". */
export function className(name: string, analyte?: string): string {
  const split = splitClass(name);
  const a = analyte ?? split.analyte;
  const c = tWord("class", split.cls);
  return a ? `${c} · ${tWord("analyte", a)}` : c;
}

/** Moves merged by route, for arrows on the map: one arrow per (from, to), counts summed. */
export function routes(moves: readonly PlanMove[]): { from: string; to: string; count: number; eta_minutes: number }[] {
  const byRoute = new Map<string, { from: string; to: string; count: number; eta_minutes: number }>();
  for (const m of moves) {
    const key = `${m.from}>${m.to}`;
    const r = byRoute.get(key);
    if (r) {
      r.count += m.count;
      r.eta_minutes = Math.max(r.eta_minutes, m.eta_minutes);
    } else byRoute.set(key, { from: m.from, to: m.to, count: m.count, eta_minutes: m.eta_minutes });
  }
  return [...byRoute.values()];
}
