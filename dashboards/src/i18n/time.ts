// Times as a person in Guangxi reads them, whatever the browser's zone: Asia/Shanghai,
// 24-hour, `2026-11-29 14:05`; dates `2026-11-29`; recent events as "3 分钟前".
import { signal } from "@preact/signals";
import { t } from "./index";

export const timeZone = "Asia/Shanghai";

const parts = new Intl.DateTimeFormat("en-CA", {
  timeZone,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});

type Instant = string | number | Date;

function toDate(v: Instant): Date | null {
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

function fields(d: Date): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of parts.formatToParts(d)) out[p.type] = p.value;
  return out;
}

/** `2026-11-29 14:05` in Asia/Shanghai; "—" for a missing or unreadable time. */
export function formatDateTime(v: Instant | null | undefined): string {
  const d = v == null ? null : toDate(v);
  if (!d) return "—";
  const f = fields(d);
  return `${f.year}-${f.month}-${f.day} ${f.hour}:${f.minute}`;
}

/** `2026-11-29` in Asia/Shanghai. A bare `YYYY-MM-DD` is a calendar day and stays as it is. */
export function formatDate(v: Instant | null | undefined): string {
  if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
  const d = v == null ? null : toDate(v);
  if (!d) return "—";
  const f = fields(d);
  return `${f.year}-${f.month}-${f.day}`;
}

/** A window: `2026-12-01 10:00 – 12:00` within a day, both full times across days. */
export function formatWindow(start: Instant, end: Instant): string {
  const a = formatDateTime(start);
  const b = formatDateTime(end);
  return a.slice(0, 10) === b.slice(0, 10) ? `${a} – ${b.slice(11)}` : `${a} – ${b}`;
}

/** The calendar day in Asia/Shanghai of an instant, as `YYYY-MM-DD` (for "today" checks). */
export function dayOf(v: Instant): string {
  return formatDate(v);
}

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;

/** "刚刚", "3 分钟前", "5 小时前" for the last day; the full time beyond. Future times likewise. */
export function formatRelative(v: Instant | null | undefined, now: number): string {
  const d = v == null ? null : toDate(v);
  if (!d) return "—";
  const diff = now - d.getTime();
  const abs = Math.abs(diff);
  if (abs < minute) return t("time.just_now");
  if (abs >= day) return formatDateTime(d);
  const past = diff > 0;
  if (abs < hour) {
    const n = Math.floor(abs / minute);
    return t(past ? "time.minutes_ago" : "time.in_minutes", { n });
  }
  const n = Math.floor(abs / hour);
  return t(past ? "time.hours_ago" : "time.in_hours", { n });
}

/** A span of time in words: "2 小时 5 分钟", "3 天 4 小时", "12 分钟". */
export function formatSpan(ms: number): string {
  const m = Math.max(0, Math.floor(ms / minute));
  if (m < 60) return t("time.span_minutes", { m });
  const h = Math.floor(m / 60);
  if (h < 48) return t("time.span_hours", { h, m: m % 60 });
  return t("time.span_days", { d: Math.floor(h / 24), h: h % 24 });
}

/** The clock that relative times read; ticks every 20 s so "3 分钟前" stays true. */
export const now = signal(Date.now());
if (typeof window !== "undefined") {
  window.setInterval(() => {
    now.value = Date.now();
  }, 20_000);
}
