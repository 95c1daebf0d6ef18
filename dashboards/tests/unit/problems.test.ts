// Refusals in plain words, with the numbers taken from the problem's detail or the device.
import { beforeEach, describe, expect, it } from "vitest";
import { setLang } from "../../src/i18n";
import type { Device } from "../../src/model";
import { describeProblem, oneLine } from "../../src/problems";

const problem = (code: string, detail?: string, extra: Record<string, unknown> = {}) => ({
  type: `urn:eqm:problem:${code}`,
  status: 409,
  detail,
  ...extra,
});

const camera: Device = {
  id: "450100-bc-001",
  class: "body_camera",
  model: "DSJ-A9",
  city: "450100",
  status: "available",
  holder: null,
  battery_pct: 12,
};

describe("describeProblem", () => {
  beforeEach(() => setLang("zh-CN"));

  it("says the battery level, the threshold and what to do", () => {
    const p = describeProblem(problem("battery_low", "battery_pct: battery 12% is below the body_camera threshold of 80%"));
    expect(oneLine(p)).toBe("电量 12%，需不低于 80% — 请充电后再领用");
  });

  it("takes the battery level from the device when the detail lacks it", () => {
    const p = describeProblem(problem("battery_low", "too low"), { device: camera });
    expect(p.reason).toBe("电量 12%，需不低于 80%");
  });

  it("tells an unknown battery level apart", () => {
    const p = describeProblem(problem("battery_low", "battery level unknown (no telemetry yet); the drone threshold is 90%"));
    expect(p.reason).toBe("电量未知（设备尚未上报），需不低于 90%");
  });

  it("gives the calibration date and the reservation's end in Asia/Shanghai", () => {
    expect(describeProblem(problem("calibration_expired", "calibration was due on 2026-10-01")).reason).toBe("校准已于 2026-10-01 过期");
    const r = describeProblem(problem("reserved_for_other", "reserved for p-7 until 2026-11-29T10:00:00.000Z (reservation r-1)"));
    expect(r.reason).toBe("已预约给 p-7，至 2026-11-29 18:00");
  });

  it("names the other city of a badge", () => {
    const p = describeProblem(problem("badge_not_allowed", "Li Wei (p-9) belongs to city 450200 and may not check out equipment in 450100"));
    expect(p.reason).toBe("Li Wei 属于柳州，不能在南宁领用");
  });

  it("names the field and the rule of a bad value in the user's language", () => {
    const p = describeProblem({ ...problem("bad_field", "must match ^[A-Za-z0-9_-]{1,64}$"), status: 400, field: "badge" });
    expect(p.reason).toBe("“工卡”有误：只能由字母、数字、- 和 _ 组成，最多 64 个字符");
    setLang("en");
    expect(describeProblem({ ...problem("bad_field", "is required"), status: 400, field: "note" }).reason).toBe("Note: required");
  });

  it("keeps the server's words for a problem type it does not know", () => {
    expect(describeProblem(problem("quota_exceeded", "the quota of 450100 is 4")).reason).toBe("the quota of 450100 is 4");
  });
});

describe("rules of bad values", () => {
  beforeEach(() => setLang("zh-CN"));

  it("are said in the user's words, with the allowed values kept", () => {
    const f = (detail: string) => describeProblem({ type: "urn:eqm:problem:bad_field", status: 400, detail, field: "class" }).reason;
    expect(f('unknown value "camera"; expected one of body_camera, drone, analyzer, dock')).toBe(
      "“类别”有误：“camera”不是可选的值，应为 body_camera, drone, analyzer, dock 之一",
    );
    expect(f("missing: this field is required")).toBe("“类别”有误：必填");
    expect(f("out of range: must be 1..128 characters, is 0")).toBe("“类别”有误：须为 1 到 128 个字符");
  });
});
