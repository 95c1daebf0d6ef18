// A class's availability at a city as the calendar draws it: the server answers the free units
// over time as steps ({start, end, free, total}); a cell of the calendar shows the fewest free
// units at any instant inside it, since a booking needs its unit for the whole cell.
import { shanghaiDayStart } from "./forms";

export interface FreeStep {
  start: string;
  end: string;
  free: number;
  total?: number;
}

export interface Cell {
  start: number;
  end: number;
  /** The fewest units free at any instant of the cell; null when the answer does not cover it. */
  free: number | null;
}

/** Hours of the day the calendar shows, in Asia/Shanghai (two-hour cells). */
export const cellHours = [6, 8, 10, 12, 14, 16, 18, 20] as const;
export const cellMinutes = 120;
export const calendarDays = 7;

/** The fewest free units over [start, end): uncovered stretches make it unknown (null). */
export function freeIn(steps: readonly FreeStep[], start: number, end: number): number | null {
  let least: number | null = null;
  let covered = start;
  const sorted = steps
    .map((s) => ({ s: Date.parse(s.start), e: Date.parse(s.end), free: s.free }))
    .filter((s) => !Number.isNaN(s.s) && !Number.isNaN(s.e) && s.e > start && s.s < end)
    .sort((a, b) => a.s - b.s);
  for (const s of sorted) {
    if (s.s > covered) return null;
    least = least === null ? s.free : Math.min(least, s.free);
    covered = Math.max(covered, s.e);
  }
  return covered >= end ? least : null;
}

/** The calendar's rows (days from today, Asia/Shanghai) and their cells. */
export function calendar(steps: readonly FreeStep[], now: number): { day: number; cells: Cell[] }[] {
  const rows: { day: number; cells: Cell[] }[] = [];
  for (let d = 0; d < calendarDays; d++) {
    const day = shanghaiDayStart(now, d);
    const cells = cellHours.map((h) => {
      const start = day + h * 3600_000;
      const end = start + cellMinutes * 60_000;
      return { start, end, free: end <= now ? null : freeIn(steps, Math.max(start, now), end) };
    });
    rows.push({ day, cells });
  }
  return rows;
}

/** The answer of the availability endpoint, whatever list key it uses, as steps. */
export function stepsOf(body: unknown): FreeStep[] {
  const b = body as Record<string, unknown> | null;
  const list = Array.isArray(body) ? body : Array.isArray(b?.steps) ? b!.steps : Array.isArray(b?.items) ? b!.items : [];
  const units = typeof b?.units === "number" ? b.units : undefined;
  return (list as Record<string, unknown>[])
    .filter((s) => s && typeof s.start === "string" && typeof s.end === "string")
    .map((s) => ({
      start: s.start as string,
      end: s.end as string,
      free: typeof s.free === "number" ? s.free : typeof s.available === "number" ? (s.available as number) : 0,
      total: typeof s.total === "number" ? s.total : units,
    }));
}

/** The class rule's longest booking in minutes, as the availability answer states it. */
export function maxLengthOf(body: unknown): number | undefined {
  const rule = (body as { rule?: { max_length_minutes?: unknown } } | null)?.rule;
  return typeof rule?.max_length_minutes === "number" ? rule.max_length_minutes : undefined;
}
