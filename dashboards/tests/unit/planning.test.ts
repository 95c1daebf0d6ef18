// The planning pages' rules, without a browser: Asia/Shanghai times typed into forms, the checks
// that keep a wrong booking, person, rule or quota from being sent, the order of transfers and
// pick-ups, the calendar's free units, CSV in and out, and the utilization report as read.
import { beforeEach, describe, expect, it } from "vitest";
import { calendar, freeIn, stepsOf } from "../../src/availability";
import { bookingBody, checkBooking, type BookingDraft } from "../../src/booking-form";
import { parseCsv, toCsv } from "../../src/csv";
import { fromLocalInput, toLocalInput } from "../../src/forms";
import { setLang } from "../../src/i18n";
import { routes, transferOrder, type Reservation, type Transfer } from "../../src/planning";
import { checkPerson } from "../../src/pages/people";
import { todaysPickups } from "../../src/pages/pickups";
import { checkQuotas } from "../../src/pages/quotas";
import { fromDrafts, toDraft } from "../../src/pages/rules";
import { readUtilization, seriesByClass } from "../../src/utilization";

const now = Date.parse("2026-11-30T02:00:00Z"); // 10:00 in Shanghai

function draft(patch: Partial<BookingDraft> = {}): BookingDraft {
  return {
    by: "class",
    class: "drone",
    analyte: "",
    device_id: "",
    city: "450100",
    start: "2026-11-30T14:00",
    end: "2026-11-30T16:00",
    purpose: "夜查 <img src=x onerror=alert(1)>",
    case_no: "",
    ...patch,
  };
}

beforeEach(() => setLang("zh-CN"));

describe("times typed into forms", () => {
  it("are Asia/Shanghai whatever the machine's zone", () => {
    expect(fromLocalInput("2026-11-30T14:05")).toBe("2026-11-30T14:05:00+08:00");
    expect(toLocalInput("2026-11-30T06:05:00Z")).toBe("2026-11-30T14:05");
    expect(toLocalInput(Date.parse(fromLocalInput("2026-12-31T23:59")!))).toBe("2026-12-31T23:59");
  });
  it("refuse days that do not exist and other text", () => {
    expect(fromLocalInput("2026-02-30T10:00")).toBeNull();
    expect(fromLocalInput("tomorrow")).toBeNull();
  });
});

describe("the booking form", () => {
  it("sends a class booking as the contract's body, with Shanghai offsets", () => {
    expect(checkBooking(draft(), now)).toEqual({});
    expect(bookingBody(draft({ case_no: " 2026-001 " }))).toEqual({
      class: "drone",
      city: "450100",
      start: "2026-11-30T14:00:00+08:00",
      end: "2026-11-30T16:00:00+08:00",
      purpose: "夜查 <img src=x onerror=alert(1)>",
      case_no: "2026-001",
    });
    expect(bookingBody(draft({ by: "device", device_id: "dr-1" }))).not.toHaveProperty("class");
  });
  it("names every wrong field in the user's language and sends nothing", () => {
    const e = checkBooking(draft({ start: "2026-11-30T08:00", end: "2026-11-30T07:00", purpose: " " }), now);
    expect(e.start).toBe("开始时间已经过去，请选择现在或以后的时间");
    expect(e.end).toBe("结束时间须晚于开始时间");
    expect(e.purpose).toBe("请填写用途");
    setLang("en");
    const en = checkBooking(draft({ by: "device", device_id: "a b", class: "analyzer" }), now);
    expect(en.device_id).toMatch(/Device id/);
    expect(Object.keys(en)).toEqual(["device_id"]);
  });
  it("asks an analyzer booking for its analyte, and holds the class's longest window", () => {
    expect(checkBooking(draft({ class: "analyzer" }), now).analyte).toBeTruthy();
    expect(checkBooking(draft({ class: "analyzer", analyte: "cod" }), now)).toEqual({});
    expect(checkBooking(draft({ end: "2026-12-20T10:00" }), now).end).toMatch(/14/);
    expect(checkBooking(draft({ end: "2026-11-30T19:00" }), now, 240).end).toMatch(/0.2/);
  });
  it("refuses control characters and over-long text", () => {
    expect(checkBooking(draft({ purpose: "a\u0007b" }), now).purpose).toBeTruthy();
    expect(checkBooking(draft({ case_no: "x".repeat(65) }), now).case_no).toMatch(/64/);
  });
});

describe("the availability calendar", () => {
  const steps = stepsOf({
    units: 2,
    steps: [
      { start: "2026-11-30T00:00:00Z", end: "2026-11-30T05:00:00Z", free: 2 },
      { start: "2026-11-30T05:00:00Z", end: "2026-11-30T07:00:00Z", free: 0 },
      { start: "2026-11-30T07:00:00Z", end: "2026-12-08T00:00:00Z", free: 1 },
    ],
  });
  it("shows the fewest free units of each cell, unknown where the answer is silent", () => {
    expect(steps[0].total).toBe(2);
    expect(freeIn(steps, Date.parse("2026-11-30T02:00:00Z"), Date.parse("2026-11-30T04:00:00Z"))).toBe(2);
    expect(freeIn(steps, Date.parse("2026-11-30T04:00:00Z"), Date.parse("2026-11-30T06:00:00Z"))).toBe(0);
    expect(freeIn(steps, Date.parse("2026-12-07T23:00:00Z"), Date.parse("2026-12-08T01:00:00Z"))).toBeNull();
  });
  it("has seven days from today in Shanghai, the past cells empty", () => {
    const rows = calendar(steps, now);
    expect(rows).toHaveLength(7);
    expect(new Date(rows[0].day).toISOString()).toBe("2026-11-29T16:00:00.000Z");
    expect(rows[0].cells[0].free).toBeNull(); // 06:00-08:00 has passed
    expect(rows[0].cells[2].free).toBe(2); // 10:00-12:00
    expect(rows[0].cells[3].free).toBe(0); // 12:00-14:00 holds the full stretch
    expect(rows[0].cells[4].free).toBe(0); // 14:00-16:00: full until 15:00
    expect(rows[0].cells[5].free).toBe(1);
  });
});

describe("lists in their order", () => {
  it("puts overdue transfers first", () => {
    const tr = (id: string, due: string, status: Transfer["status"] = "in_transit"): Transfer => ({ id, status, from_city: "450100", to_city: "451000", items: [], due });
    const list = [tr("a", "2026-12-01T00:00:00Z"), tr("b", "2026-11-29T00:00:00Z"), tr("c", "2026-11-30T12:00:00Z", "overdue"), tr("d", "2026-11-28T00:00:00Z", "approved")];
    expect(list.sort(transferOrder(now)).map((x) => x.id)).toEqual(["d", "b", "c", "a"]);
  });
  it("shows today's pick-ups of Shanghai's today by start time, not other days or states", () => {
    const r = (id: string, start: string, status: Reservation["status"] = "approved"): Reservation => ({ id, status, city: "450100", start, end: start });
    const list = [r("late", "2026-11-30T09:00:00Z"), r("early", "2026-11-29T23:30:00Z"), r("yesterday", "2026-11-29T15:00:00Z"), r("off", "2026-11-30T03:00:00Z", "cancelled")];
    expect(todaysPickups(list, now).map((x) => x.id)).toEqual(["early", "late"]);
  });
  it("merges a plan's moves into one arrow per route", () => {
    const m = (from: string, to: string, count: number, eta: number) => ({ from, to, class: "drone", count, eta_minutes: eta });
    expect(routes([m("450100", "451000", 2, 190), m("450100", "451000", 1, 200), m("450300", "451000", 1, 300)])).toEqual([
      { from: "450100", to: "451000", count: 3, eta_minutes: 200 },
      { from: "450300", to: "451000", count: 1, eta_minutes: 300 },
    ]);
  });
});

describe("CSV", () => {
  it("reads quoted cells, CRLF and a BOM", () => {
    expect(parseCsv('\uFEFFcity,class\r\n450100,"drone, big"\r\n"a ""b""",x\n\n')).toEqual([
      ["city", "class"],
      ["450100", "drone, big"],
      ['a "b"', "x"],
    ]);
  });
  it("writes cells a spreadsheet cannot run as formulas", () => {
    const text = toCsv(["a", "b"], [["=HYPERLINK(1)", -3], ["x,y", "@cmd"]]);
    expect(text).toBe("\uFEFFa,b\r\n'=HYPERLINK(1),-3\r\n\"x,y\",'@cmd\r\n");
  });
});

describe("admin forms", () => {
  it("check a person as the domain does", () => {
    expect(checkPerson({ name: "李警官", role: "officer", city: "450100", badge: "B-1" })).toEqual({});
    const e = checkPerson({ name: "", role: "custodian", city: "", badge: "b 1" });
    expect(Object.keys(e).sort()).toEqual(["badge", "city", "name"]);
  });
  it("turn rule rows into the PUT body, or name the wrong row", () => {
    const d = toDraft({ class: "drone", min_notice_minutes: 60, max_length_minutes: 1440, buffer_minutes: 30, working_hours: null, approval_required: true, max_open_bookings: null });
    expect(fromDrafts([d]).items).toEqual([{ class: "drone", min_notice_minutes: 60, max_length_minutes: 1440, buffer_minutes: 30, working_hours: null, approval_required: true, max_open_bookings: null }]);
    expect(fromDrafts([{ ...d, buffer: "-1" }]).errors[0]).toMatch(/0 到 1440/);
    expect(fromDrafts([{ ...d, hours: true, open: "18:00", close: "08:00" }]).errors[0]).toBeTruthy();
  });
  it("refuse a quota table with a duplicate row or a bad number", () => {
    const q = (city: string, min: string) => ({ city, class: "drone", analyte: "", min_ready: min });
    expect(checkQuotas([q("450100", "2"), q("450200", "3")]).items).toHaveLength(2);
    expect(Object.keys(checkQuotas([q("450100", "2"), q("450100", "3")]).errors)).toEqual(["1"]);
    expect(Object.keys(checkQuotas([q("450100", "2.5")]).errors)).toEqual(["0"]);
  });
});

describe("the utilization report", () => {
  const body = {
    from: "2026-11-01",
    to: "2026-11-02",
    items: [
      { city: "450100", class: "drone", devices: 3, idle_30d: 1, custody_hours: 12, available_hours: 48, utilization: 0.25, overdue_returns: 1,
        days: [{ date: "2026-11-01", utilization: 0.5 }, { date: "2026-11-02", utilization: 0 }] },
      { city: "450200", class: "drone", devices: 1, idle_30d: 0, custody_hours: 0, available_hours: 0, utilization: 0, overdue_returns: 0,
        days: [{ date: "2026-11-01", utilization: 0.1 }, { date: "2026-11-02", utilization: 0.3 }] },
    ],
  };
  it("reads rows and the days nested in them", () => {
    const u = readUtilization(body);
    expect(u.rows[0]).toMatchObject({ city: "450100", utilization: 0.25, idle_devices: 1, overdue_returns: 1, hours_in_custody: 12 });
    expect(u.days).toHaveLength(4);
    const s = seriesByClass(u.days, null);
    expect(s.classes).toEqual(["drone"]);
    expect(s.ys[0][0]).toBeCloseTo(0.3);
    expect(seriesByClass(u.days, "450200").ys[0]).toEqual([0.1, 0.3]);
    expect(new Date(s.x[0] * 1000).toISOString()).toBe("2026-10-31T16:00:00.000Z");
  });
});
