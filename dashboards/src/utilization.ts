// The utilization report (GET /api/v1/reports/utilization) as the charts and the table read it:
// per city and class, hours in custody against hours available, idle devices, stock-outs and
// overdue returns; and per day, for the charts. Utilization is a share, 0..1.

export interface UtilRow {
  city: string;
  class: string;
  analyte?: string;
  utilization: number | null;
  hours_in_custody?: number;
  hours_available?: number;
  idle_devices?: number;
  stockouts?: number;
  overdue_returns?: number;
}

export interface UtilDay {
  day: string;
  city?: string;
  class?: string;
  utilization: number | null;
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

function share(o: Record<string, unknown>): number | null {
  const u = num(o.utilization);
  if (u !== undefined) return u > 1 ? u / 100 : u;
  const used = num(o.custody_hours) ?? num(o.hours_in_custody);
  const avail = num(o.available_hours) ?? num(o.hours_available);
  if (used !== undefined && avail !== undefined && avail > 0) return used / avail;
  return null;
}

function rowOf(o: Record<string, unknown>): UtilRow | null {
  if (typeof o.city !== "string" || typeof o.class !== "string") return null;
  return {
    city: o.city,
    class: o.class,
    analyte: typeof o.analyte === "string" ? o.analyte : undefined,
    utilization: share(o),
    hours_in_custody: num(o.custody_hours) ?? num(o.hours_in_custody),
    hours_available: num(o.available_hours) ?? num(o.hours_available),
    idle_devices: num(o.idle_30d) ?? num(o.idle_devices),
    stockouts: num(o.stockouts) ?? num(o.stock_outs),
    overdue_returns: num(o.overdue_returns) ?? num(o.overdue),
  };
}

function dayOf(o: Record<string, unknown>): UtilDay | null {
  const day = typeof o.day === "string" ? o.day : typeof o.date === "string" ? o.date : null;
  if (!day) return null;
  return {
    day: day.slice(0, 10),
    city: typeof o.city === "string" ? o.city : undefined,
    class: typeof o.class === "string" ? o.class : undefined,
    utilization: share(o),
  };
}

const records = (v: unknown): Record<string, unknown>[] =>
  Array.isArray(v) ? (v.filter((x) => x && typeof x === "object") as Record<string, unknown>[]) : [];

/** The report's rows and days, whatever keys of the two usual shapes it uses. */
export function readUtilization(body: unknown): { rows: UtilRow[]; days: UtilDay[] } {
  const b = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  const rows = records(b.items ?? b.rows ?? b.cities).map(rowOf).filter((r): r is UtilRow => r !== null);
  let days = records(b.days ?? b.daily ?? b.series).map(dayOf).filter((d): d is UtilDay => d !== null);
  if (days.length === 0) {
    // Days nested in each row: {city, class, days: [{day, utilization}]}.
    days = records(b.items ?? b.rows).flatMap((r) =>
      records(r.days ?? r.daily)
        .map((d) => dayOf({ city: r.city, class: r.class, ...d }))
        .filter((d): d is UtilDay => d !== null),
    );
  }
  return { rows, days };
}

/**
 * One series per class over the days, for the chart: x = the days (seconds, 00:00 Asia/Shanghai),
 * y = the mean utilization of the class's entries of that day (of one city, or of all).
 */
export function seriesByClass(days: readonly UtilDay[], city: string | null): { x: number[]; classes: string[]; ys: (number | null)[][] } {
  const picked = days.filter((d) => !city || !d.city || d.city === city);
  const dayKeys = [...new Set(picked.map((d) => d.day))].sort();
  const classes = [...new Set(picked.map((d) => d.class ?? "all"))].sort();
  const ys = classes.map((c) =>
    dayKeys.map((day) => {
      const vals = picked.filter((d) => d.day === day && (d.class ?? "all") === c && d.utilization !== null).map((d) => d.utilization!);
      return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
    }),
  );
  const x = dayKeys.map((d) => Date.parse(`${d}T00:00:00+08:00`) / 1000);
  return { x, classes, ys };
}

/** Per city, the mean utilization over its classes (for the per-city chart). */
export function byCity(rows: readonly UtilRow[]): Record<string, number> {
  const sums: Record<string, { s: number; n: number }> = {};
  for (const r of rows) {
    if (r.utilization === null) continue;
    const e = (sums[r.city] ??= { s: 0, n: 0 });
    e.s += r.utilization;
    e.n++;
  }
  return Object.fromEntries(Object.entries(sums).map(([c, { s, n }]) => [c, s / n]));
}
