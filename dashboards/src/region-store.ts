// The region as the dispatcher sees it: cities, devices, raised alerts, and per-city counts kept
// up to date from the WebSocket feed. Counts change incrementally (a device's old contribution
// out, its new one in), so a busy feed costs little whatever the size of the fleet.
import { signal } from "@preact/signals";
import { ApiError, get, listAll } from "./api";
import type { FeedMessage } from "./feed";
import type { Alert, City, Device } from "./model";
import { describeError, type Plain } from "./problems";
import { regionCities } from "./region";

export interface CityStats {
  /** Equipment the city holds (docks, lost and retired devices not counted). */
  stock: number;
  inUse: number;
  ready: number;
  /** Raised alerts nobody has acknowledged yet. */
  alerts: number;
}

const zero: CityStats = { stock: 0, inUse: 0, ready: 0, alerts: 0 };

function contribution(d: Device): CityStats {
  const counted = d.class !== "dock" && d.status !== "lost" && d.status !== "retired";
  if (!counted) return zero;
  return {
    stock: 1,
    inUse: d.status === "checked_out" ? 1 : 0,
    ready: d.status === "available" && d.readiness?.ready === true ? 1 : 0,
    alerts: 0,
  };
}

function add(a: CityStats, b: CityStats, sign: 1 | -1): CityStats {
  return {
    stock: a.stock + sign * b.stock,
    inUse: a.inUse + sign * b.inUse,
    ready: a.ready + sign * b.ready,
    alerts: a.alerts + sign * b.alerts,
  };
}

const severityRank: Record<string, number> = { critical: 0, warning: 1, info: 2 };

/** Unacknowledged first, then the most severe, then the newest. */
export function alertOrder(a: Alert, b: Alert): number {
  if (a.acked !== b.acked) return a.acked ? 1 : -1;
  const s = (severityRank[a.severity] ?? 3) - (severityRank[b.severity] ?? 3);
  if (s !== 0) return s;
  return b.raised_at.localeCompare(a.raised_at);
}

export class RegionStore {
  readonly cities = signal<Record<string, City>>({});
  readonly stats = signal<Record<string, CityStats>>({});
  readonly alerts = signal<Alert[]>([]);
  readonly loaded = signal(false);
  readonly failure = signal<Plain | null>(null);
  /** Per city, the units its quotas lack (GET /reports/quota-gap); null until the server has it. */
  readonly gaps = signal<Record<string, number> | null>(null);
  /** Bumped on every device change, for views that list devices. */
  readonly revision = signal(0);
  readonly devices = new Map<string, Device>();

  /** `city`: only that city's devices and alerts; `withAlerts` false: devices only. */
  constructor(
    private readonly city?: string,
    private readonly withAlerts = true,
  ) {}

  /** Reads the whole picture (again, after a reconnect). */
  async load(): Promise<void> {
    const q = this.city ? `?city=${this.city}` : "";
    try {
      const [cities, devices, alerts] = await Promise.all([
        this.city ? Promise.resolve<City[]>([]) : listAll<City>("api/v1/cities"),
        listAll<Device>(`api/v1/devices${q}`),
        this.withAlerts ? listAll<Alert>(`api/v1/alerts${q}`) : Promise.resolve<Alert[]>([]),
      ]);
      const byCode: Record<string, City> = {};
      for (const c of cities) byCode[c.code] = c;
      this.cities.value = byCode;
      this.devices.clear();
      for (const d of devices) this.devices.set(d.id, d);
      this.alerts.value = alerts.filter((a) => a.state === "raised").sort(alertOrder);
      this.recount();
      this.failure.value = null;
      this.loaded.value = true;
    } catch (e) {
      this.failure.value = describeError(e);
    }
  }

  /** The quota gap per city, summed over classes; left null while the server has no report. */
  async loadGaps(): Promise<void> {
    try {
      const rows = await listAll<{ city: string; gap: number }>("api/v1/reports/quota-gap");
      const gaps: Record<string, number> = {};
      for (const r of rows) if (typeof r.gap === "number") gaps[r.city] = (gaps[r.city] ?? 0) + r.gap;
      this.gaps.value = gaps;
    } catch (e) {
      // 404: this server has no quota report (yet); anything else shows on the next load.
      if (!(e instanceof ApiError)) throw e;
    }
  }

  private recount(): void {
    const stats: Record<string, CityStats> = {};
    for (const c of regionCities) stats[c.code] = { ...zero };
    for (const d of this.devices.values()) stats[d.city] = add(stats[d.city] ?? zero, contribution(d), 1);
    for (const a of this.alerts.value) {
      if (a.city && !a.acked) stats[a.city] = add(stats[a.city] ?? zero, { ...zero, alerts: 1 }, 1);
    }
    this.stats.value = stats;
    this.revision.value++;
  }

  apply(m: FeedMessage): void {
    if (m.type === "device") this.upsertDevice(m.device);
    else if (m.type === "alert") this.upsertAlert(m.alert);
    else if (m.type === "gateway" && m.city?.code) {
      this.cities.value = { ...this.cities.value, [m.city.code]: { ...this.cities.value[m.city.code], ...m.city } };
    }
  }

  upsertDevice(d: Device): void {
    if (this.city && d.city !== this.city) {
      if (this.devices.delete(d.id)) this.revision.value++;
      return;
    }
    const before = this.devices.get(d.id);
    this.devices.set(d.id, d);
    const next = { ...this.stats.value };
    if (before) next[before.city] = add(next[before.city] ?? zero, contribution(before), -1);
    next[d.city] = add(next[d.city] ?? zero, contribution(d), 1);
    this.stats.value = next;
    this.revision.value++;
  }

  upsertAlert(a: Alert): void {
    const before = this.alerts.value.find((x) => x.id === a.id);
    const rest = this.alerts.value.filter((x) => x.id !== a.id);
    this.alerts.value = (a.state === "raised" ? [...rest, a] : rest).sort(alertOrder);
    const open = (x?: Alert) => (x && x.state === "raised" && !x.acked ? 1 : 0);
    const delta = open(a) - open(before);
    const city = a.city ?? before?.city;
    if (delta !== 0 && city) {
      const s = this.stats.value[city] ?? zero;
      this.stats.value = { ...this.stats.value, [city]: { ...s, alerts: s.alerts + delta } };
    }
  }

  /** One device, read again (after a check-out the answer carries it, but not at every host). */
  async refreshDevice(id: string): Promise<void> {
    const d = await get<Device>(`api/v1/devices/${encodeURIComponent(id)}`);
    this.upsertDevice(d);
  }
}
