// Per-city counts kept from the feed: a device's old contribution out, its new one in.
import { describe, expect, it } from "vitest";
import type { Alert, Device } from "../../src/model";
import { RegionStore } from "../../src/region-store";

const device = (id: string, city: string, status: Device["status"], ready = true): Device => ({
  id,
  class: "body_camera",
  model: "DSJ-A9",
  city,
  status,
  holder: status === "checked_out" ? "p-1" : null,
  readiness: { ready, problems: [] },
});

const alert = (id: string, city: string, acked = false, state: Alert["state"] = "raised"): Alert => ({
  id,
  city,
  type: "low_battery",
  state,
  severity: "warning",
  detail: "battery at 12%, below 20%",
  raised_at: "2026-11-29T06:00:00Z",
  acked,
});

describe("RegionStore", () => {
  it("moves a device's counts when it changes state or city", () => {
    const s = new RegionStore();
    s.apply({ type: "device", device: device("a", "450100", "available") });
    s.apply({ type: "device", device: device("b", "450100", "available", false) });
    expect(s.stats.value["450100"]).toEqual({ stock: 2, inUse: 0, ready: 1, alerts: 0 });
    s.apply({ type: "device", device: device("a", "450100", "checked_out") });
    expect(s.stats.value["450100"]).toEqual({ stock: 2, inUse: 1, ready: 0, alerts: 0 });
    s.apply({ type: "device", device: device("b", "450200", "available") });
    expect(s.stats.value["450100"]).toEqual({ stock: 1, inUse: 1, ready: 0, alerts: 0 });
    expect(s.stats.value["450200"]).toEqual({ stock: 1, inUse: 0, ready: 1, alerts: 0 });
    s.apply({ type: "device", device: { ...device("a", "450100", "retired"), class: "body_camera" } });
    expect(s.stats.value["450100"].stock).toBe(0);
  });

  it("counts open alerts until they are acknowledged or cleared", () => {
    const s = new RegionStore();
    s.apply({ type: "alert", alert: alert("x", "450100") });
    s.apply({ type: "alert", alert: alert("y", "450100") });
    expect(s.stats.value["450100"].alerts).toBe(2);
    s.apply({ type: "alert", alert: alert("x", "450100", true) });
    expect(s.stats.value["450100"].alerts).toBe(1);
    s.apply({ type: "alert", alert: alert("y", "450100", false, "cleared") });
    expect(s.stats.value["450100"].alerts).toBe(0);
    expect(s.alerts.value.map((a) => a.id)).toEqual(["x"]);
  });

  it("keeps only its own city's devices when it is a city's store", () => {
    const s = new RegionStore("450100", false);
    s.apply({ type: "device", device: device("a", "450100", "available") });
    s.apply({ type: "device", device: device("b", "450200", "available") });
    expect([...s.devices.keys()]).toEqual(["a"]);
  });
});
