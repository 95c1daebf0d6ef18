// A refusal in plain words: what is wrong and what would make it work, in the user's language.
// Every `urn:eqm:problem:<code>` the API can return has its words here; the numbers (battery
// level, threshold, dates) come from the problem's English `detail` or else from the device.
import { ApiError, NetworkError, codeOf, type Problem } from "./api";
import { hasMessage, t, type MessageKey, type Params } from "./i18n";
import { formatDate, formatDateTime } from "./i18n/time";
import { batteryOf, batteryThreshold, type Device } from "./model";

export interface Plain {
  /** What is wrong: "电量 12%，需不低于 80%". */
  reason: string;
  /** What would make it work: "请充电后再领用". */
  fix?: string;
  /** The field the problem is about, in words ("工卡"), when it names one. */
  field?: string;
}

export interface Context {
  /** The device the request was about, for numbers the detail lacks. */
  device?: Device | null;
}

const num = String.raw`(\d+(?:\.\d+)?)`;
const isoTime = String.raw`(\d{4}-\d{2}-\d{2}T[0-9:.]+Z)`;

function battery(p: Problem, ctx: Context): Plain {
  const detail = p.detail ?? "";
  const known = new RegExp(`battery ${num}% is below .* threshold of ${num}%`).exec(detail);
  if (known) return { reason: t("problem.battery_low", { pct: known[1], min: known[2] }), fix: t("fix.battery_low") };
  const unknown = new RegExp(`battery level unknown.*threshold is ${num}%`).exec(detail);
  const cls = ctx.device?.class;
  const min = unknown?.[1] ?? (cls ? String(batteryThreshold[cls]) : "");
  const pct = ctx.device ? batteryOf(ctx.device) : undefined;
  if (unknown || pct === undefined)
    return { reason: t("problem.battery_unknown", { min }), fix: t("fix.battery_unknown") };
  return { reason: t("problem.battery_low", { pct: Math.round(pct), min }), fix: t("fix.battery_low") };
}

function calibration(p: Problem, ctx: Context): Plain {
  const m = /due on (\d{4}-\d{2}-\d{2})/.exec(p.detail ?? "");
  const date = m?.[1] ?? ctx.device?.calibration_due;
  if (date) return { reason: t("problem.calibration_expired", { date: formatDate(date) }), fix: t("fix.calibration_expired") };
  return { reason: t("problem.calibration_unknown"), fix: t("fix.calibration_unknown") };
}

function footage(p: Problem): Plain {
  const m = new RegExp(`waited ${num} h.*limit is ${num} h`).exec(p.detail ?? "");
  return {
    reason: m ? t("problem.footage_pending", { hours: m[1], limit: m[2] }) : t("problem.footage_pending_plain"),
    fix: t("fix.footage_pending"),
  };
}

function reserved(p: Problem): Plain {
  const m = new RegExp(`reserved for (\\S+) until ${isoTime}`).exec(p.detail ?? "");
  return {
    reason: m ? t("problem.reserved_for_other", { who: m[1], until: formatDateTime(m[2]) }) : t("problem.reserved_plain"),
    fix: t("fix.reserved_for_other"),
  };
}

function badgeNotAllowed(p: Problem): Plain {
  const m = /^(.*) \((\S+)\) belongs to city (\d{6}) and may not check out equipment in (\d{6})/.exec(
    p.detail ?? "",
  );
  if (m) {
    const city = (code: string) => (hasMessage(`city.${code}`) ? t(`city.${code}` as MessageKey) : code);
    return {
      reason: t("problem.badge_other_city", { who: m[1], city: city(m[3]), here: city(m[4]) }),
      fix: t("fix.badge_not_allowed"),
    };
  }
  if (/is not active/.test(p.detail ?? "")) return { reason: t("problem.badge_inactive"), fix: t("fix.badge_not_allowed") };
  return { reason: t("problem.badge_not_allowed"), fix: t("fix.badge_not_allowed") };
}

function invalidTransition(p: Problem, ctx: Context): Plain {
  const status = ctx.device?.status;
  const state = status && hasMessage(`status.${status}`) ? t(`status.${status}` as MessageKey) : "";
  return {
    reason: state ? t("problem.invalid_transition_state", { state }) : t("problem.invalid_transition"),
    fix: p.status === 409 ? t("fix.invalid_transition") : undefined,
  };
}

/** Rules the API states in English, in the user's words (the numbers and names kept). */
const rules: [RegExp, MessageKey, (m: RegExpExecArray) => Params][] = [
  [/is required$/, "rule.required", () => ({})],
  [/must not be empty/, "rule.required", () => ({})],
  [/must match \^\[A-Za-z0-9_-\]\{1,64\}\$/, "rule.id", () => ({})],
  [/14 city codes|must be a 6-digit city code/, "rule.city", () => ({})],
  [/at most (\d+) characters$/, "rule.max_chars", (m) => ({ n: m[1] })],
  [/must be (\d+)\.\.(\d+) characters/, "rule.chars_range", (m) => ({ min: m[1], max: m[2] })],
  [/unknown value "(.*)"; expected one of (.*)$/, "rule.one_of", (m) => ({ value: m[1], names: m[2] })],
  [/must be (body_camera, drone, analyzer or dock|[a-z_]+(?:, [a-z_]+)* or [a-z_]+)$/, "rule.one_of_plain", (m) => ({ names: m[1] })],
  [/out of range: must be (.+)$/, "rule.range", (m) => ({ range: m[1] })],
  [/wrong type: must be (.+)$/, "rule.type", (m) => ({ type: m[1] })],
  [/must be a number/, "rule.number", () => ({})],
  [/must be a whole number >= 0/, "rule.whole_number", () => ({})],
  [/must be true or false/, "rule.boolean", () => ({})],
  [/^unknown column$/, "rule.unknown_column", () => ({})],
  [/^required column is missing$/, "rule.missing_column", () => ({})],
  [/is already registered/, "rule.already_registered", () => ({})],
  [/is not a field of this request/, "rule.unknown_field", () => ({})],
  [/must be a string/, "rule.string", () => ({})],
];

/** A field's name in words ("工卡"); the API's name when the catalog has none. */
export function fieldName(field: string): string {
  return hasMessage(`field.${field}`) ? t(`field.${field}` as MessageKey) : field;
}

/** A rule the API states in English ("is required"), in the user's words; as sent when unknown. */
export function ruleWords(detail: string): string {
  for (const [re, key, params] of rules) {
    const m = re.exec(detail);
    if (m) return t(key, params(m));
  }
  return detail;
}

function badInput(p: Problem): Plain {
  const rule = ruleWords(p.detail ?? "");
  if (!p.field) return { reason: t("problem.bad_input", { rule }) };
  const field = fieldName(p.field);
  return { reason: t("problem.bad_field", { field, rule }), field };
}

type Describer = (p: Problem, ctx: Context) => Plain;

const simple = (code: string): Describer => () => ({
  reason: t(`problem.${code}` as MessageKey),
  fix: hasMessage(`fix.${code}`) ? t(`fix.${code}` as MessageKey) : undefined,
});

const describers: Record<string, Describer> = {
  battery_low: battery,
  calibration_expired: calibration,
  footage_pending: footage,
  reserved_for_other: reserved,
  badge_not_allowed: badgeNotAllowed,
  invalid_transition: invalidTransition,
  bad_field: badInput,
  unknown_field: badInput,
  bad_json: simple("bad_json"),
  too_large: simple("too_large"),
  unsupported_media_type: simple("unsupported_media_type"),
  locked: simple("locked"),
  in_maintenance: simple("in_maintenance"),
  unregistered: simple("unregistered"),
  badge_unknown: simple("badge_unknown"),
  not_holder: simple("not_holder"),
  ledger_broken: simple("ledger_broken"),
  not_found: simple("not_found"),
  conflict: simple("conflict"),
  forbidden: simple("forbidden"),
  unauthorized: simple("unauthorized"),
  too_many_requests: simple("too_many_requests"),
  expired: simple("expired"),
  unavailable: simple("unavailable"),
  internal: simple("internal"),
  gateway_offline: simple("unavailable"),
  password_change_required: simple("password_change_required"),
  timeout: simple("unavailable"),
};

/** Every problem code that has its own words (a unit test checks the catalogs have them). */
export const knownProblemCodes = Object.keys(describers);

/** A problem in plain words. Unknown types keep the server's detail, so nothing is hidden. */
export function describeProblem(p: Problem, ctx: Context = {}): Plain {
  const describe = describers[codeOf(p)];
  if (describe) return describe(p, ctx);
  return { reason: p.detail || p.title || t("problem.internal") };
}

/** Any error a call can throw, in plain words. */
export function describeError(e: unknown, ctx: Context = {}): Plain {
  if (e instanceof ApiError) return describeProblem(e.problem, ctx);
  if (e instanceof NetworkError) return { reason: t("problem.network"), fix: t("fix.network") };
  return { reason: t("problem.internal") };
}

/** "reason — fix" on one line. */
export function oneLine(p: Plain): string {
  return p.fix ? `${p.reason} — ${p.fix}` : p.reason;
}
