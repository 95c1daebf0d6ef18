// The officer's booking form as data: what was typed, the checks made before anything is sent,
// and the body of POST /api/v1/reservations built from it. Pure, so the unit tests try it.
import { fromLocalInput, textProblem, type Errors } from "./forms";
import { t } from "./i18n";
import { idPattern } from "./model";
import type { BookingBody } from "./planning";

export const bookableClasses = ["body_camera", "drone", "analyzer"] as const;
export const analytes = ["cod", "nh3n", "voc", "so2", "nox", "noise"] as const;
export const maxPurposeChars = 512;
export const maxCaseNoChars = 64;
/** The default rule's longest booking (docs/reservations.md); the server applies the class's own. */
export const defaultMaxLengthMinutes = 14 * 24 * 60;
/** A start this far in the past still counts as "now" (the server's grace). */
const startGraceMs = 5 * 60_000;

export interface BookingDraft {
  by: "class" | "device";
  class: string;
  analyte: string;
  device_id: string;
  city: string;
  start: string;
  end: string;
  purpose: string;
  case_no: string;
}

export type BookingField = "device_id" | "class" | "analyte" | "city" | "start" | "end" | "purpose" | "case_no";

/** Every rule a field breaks, in the user's words; empty when the draft may be sent. */
export function checkBooking(d: BookingDraft, now: number, maxLengthMinutes = defaultMaxLengthMinutes): Errors<BookingField> {
  const e: Errors<BookingField> = {};
  if (d.by === "device") {
    if (!d.device_id.trim()) e.device_id = t("rule.required_field", { field: t("field.device_id") });
    else if (!idPattern.test(d.device_id.trim())) e.device_id = t("rule.id_field", { field: t("field.device_id") });
  } else {
    if (!(bookableClasses as readonly string[]).includes(d.class)) e.class = t("rule.required_field", { field: t("field.class") });
    if (d.class === "analyzer" && !(analytes as readonly string[]).includes(d.analyte))
      e.analyte = t("rule.analyte_required");
  }
  if (!/^\d{6}$/.test(d.city)) e.city = t("rule.required_field", { field: t("field.city") });
  const start = d.start ? fromLocalInput(d.start) : null;
  const end = d.end ? fromLocalInput(d.end) : null;
  if (!d.start) e.start = t("rule.required_field", { field: t("field.start") });
  else if (!start) e.start = t("rule.datetime", { field: t("field.start") });
  else if (Date.parse(start) < now - startGraceMs) e.start = t("rule.start_past");
  if (!d.end) e.end = t("rule.required_field", { field: t("field.end") });
  else if (!end) e.end = t("rule.datetime", { field: t("field.end") });
  else if (start && Date.parse(end) <= Date.parse(start)) e.end = t("rule.end_after_start");
  else if (start && Date.parse(end) - Date.parse(start) > maxLengthMinutes * 60_000)
    e.end = t("rule.max_length", { days: Math.round((maxLengthMinutes / 1440) * 10) / 10 });
  const purpose = textProblem(t("field.purpose"), d.purpose, maxPurposeChars);
  if (purpose) e.purpose = purpose;
  const caseNo = textProblem(t("field.case_no"), d.case_no, maxCaseNoChars, false);
  if (caseNo) e.case_no = caseNo;
  return e;
}

/** The request body of a draft that passed checkBooking(). */
export function bookingBody(d: BookingDraft): BookingBody {
  const body: BookingBody = {
    city: d.city,
    start: fromLocalInput(d.start) ?? d.start,
    end: fromLocalInput(d.end) ?? d.end,
    purpose: d.purpose.trim(),
  };
  if (d.by === "device") body.device_id = d.device_id.trim();
  else {
    body.class = d.class;
    if (d.class === "analyzer") body.analyte = d.analyte;
  }
  if (d.case_no.trim()) body.case_no = d.case_no.trim();
  return body;
}
