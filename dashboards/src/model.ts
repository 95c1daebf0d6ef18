// The shapes the pages read from the API (eqm-server's and eqm-gateway's), and small facts
// about them. Fields a page does not need are left out; everything optional is checked.

export type DeviceClass = "body_camera" | "drone" | "analyzer" | "dock";
export const deviceClasses: readonly DeviceClass[] = ["body_camera", "drone", "analyzer", "dock"];

export type CustodyState =
  | "available"
  | "checked_out"
  | "in_transit"
  | "maintenance"
  | "lost"
  | "retired";

export interface ReadinessProblem {
  code: string;
  message: string;
}

export interface Device {
  id: string;
  class: DeviceClass | null;
  model: string | null;
  city: string;
  status: CustodyState;
  holder: string | null;
  due?: string;
  online?: boolean;
  locked?: boolean;
  last_seen?: string | null;
  readiness?: { ready: boolean; problems: ReadinessProblem[] };
  /** The gateway's last telemetry. */
  battery_pct?: number;
  /** The server's last telemetry minute. */
  telemetry?: { battery_pct_last?: number };
  calibration_due?: string;
  analyte?: string;
  registration_id?: string;
  registered?: boolean;
  docked?: boolean;
}

export interface Alert {
  id: string;
  city?: string;
  type: string;
  state: "raised" | "cleared";
  severity: "info" | "warning" | "critical";
  detail: string;
  raised_at: string;
  acked: boolean;
  acked_by?: string;
  acked_at?: string;
  device_id?: string | null;
}

export interface City {
  code: string;
  name: string;
  lat: number;
  lon: number;
  online: boolean;
  last_seen: string | null;
  gw_id?: string;
}

export interface CustodyRecord {
  index: number;
  ts: string;
  action: string;
  from_state: string;
  to_state: string;
  holder: string | null;
  actor: string;
  source: string;
  condition?: string;
  note?: string;
  due?: string;
  dock_id?: string;
}

/** The server lists {city, verified, record}; the gateway lists bare records. */
export interface CustodyEntry {
  verified?: boolean;
  record: CustodyRecord;
}

export function custodyEntry(v: unknown): CustodyEntry | null {
  if (!v || typeof v !== "object") return null;
  const o = v as Record<string, unknown>;
  if (o.record && typeof o.record === "object")
    return { verified: o.verified === true, record: o.record as CustodyRecord };
  if (typeof o.action === "string") return { record: o as unknown as CustodyRecord };
  return null;
}

/** The device's last known battery level in percent, if any. */
export function batteryOf(d: Device): number | undefined {
  if (typeof d.battery_pct === "number") return d.battery_pct;
  const t = d.telemetry?.battery_pct_last;
  return typeof t === "number" ? t : undefined;
}

/** The bureau's check-out thresholds (libs/domain readiness_policy), for messages only. */
export const batteryThreshold: Record<DeviceClass, number> = {
  body_camera: 80,
  drone: 90,
  analyzer: 50,
  dock: 0,
};

/** Ids of devices, badges and docks: the contract's pattern. */
export const idPattern = /^[A-Za-z0-9_-]{1,64}$/;
export const maxNoteChars = 512;

/** A checked-out device whose return time has passed. */
export function isOverdue(d: Device, now: number): boolean {
  if (d.status !== "checked_out" || !d.due) return false;
  const due = Date.parse(d.due);
  return !Number.isNaN(due) && due < now;
}
