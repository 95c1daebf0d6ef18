// The catalogs: the same keys and placeholders in both languages, words for every problem the
// API can return (read from the domain's own errc table), times in Asia/Shanghai.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { en } from "../../src/i18n/en";
import { zhCN } from "../../src/i18n/zh-CN";
import { setLang, t } from "../../src/i18n";
import { formatDate, formatDateTime, formatRelative } from "../../src/i18n/time";
import { knownProblemCodes } from "../../src/problems";

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("message catalogs", () => {
  it("have the same keys and the same placeholders in zh-CN and en", () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(zhCN).sort());
    for (const [key, text] of Object.entries(zhCN)) {
      expect(placeholders(en[key as keyof typeof en]), key).toEqual(placeholders(text));
    }
  });

  it("have plain words for every errc the server and gateways can answer with", () => {
    const source = readFileSync(new URL("../../../libs/domain/src/error.cpp", import.meta.url), "utf8");
    const codes = [...source.matchAll(/\{errc::(\w+), "(\w+)"\}/g)].map((m) => m[2]);
    expect(codes.length).toBeGreaterThan(20);
    const missing = codes.filter((c) => !knownProblemCodes.includes(c));
    expect(missing).toEqual([]);
  });

  it("fill placeholders and switch language", () => {
    setLang("zh-CN");
    expect(t("problem.battery_low", { pct: 12, min: 80 })).toBe("电量 12%，需不低于 80%");
    setLang("en");
    expect(t("problem.battery_low", { pct: 12, min: 80 })).toBe("Battery 12%, needs at least 80%");
    setLang("zh-CN");
  });
});

describe("times", () => {
  it("are shown in Asia/Shanghai, 24-hour, whatever the machine's zone", () => {
    expect(formatDateTime("2026-11-29T06:05:00.000Z")).toBe("2026-11-29 14:05");
    expect(formatDateTime("2026-11-29T18:30:00Z")).toBe("2026-11-30 02:30");
    expect(formatDate("2026-11-29T18:30:00Z")).toBe("2026-11-30");
    expect(formatDate("2027-01-31")).toBe("2027-01-31");
    expect(formatDateTime("not a time")).toBe("—");
  });

  it("say how long ago a recent event was, and the full time beyond a day", () => {
    setLang("zh-CN");
    const now = Date.parse("2026-11-29T06:05:00Z");
    expect(formatRelative("2026-11-29T06:04:30Z", now)).toBe("刚刚");
    expect(formatRelative("2026-11-29T06:02:00Z", now)).toBe("3 分钟前");
    expect(formatRelative("2026-11-29T01:00:00Z", now)).toBe("5 小时前");
    expect(formatRelative("2026-11-29T06:35:00Z", now)).toBe("30 分钟后");
    expect(formatRelative("2026-11-27T06:05:00Z", now)).toBe("2026-11-27 14:05");
  });
});
