// The list helper: an {items, next_cursor} page (anything else is an error, not an empty
// list), and every page of a cursor-paged list.
import { afterEach, describe, expect, it, vi } from "vitest";
import { listAll, pageOf } from "../../src/api";

describe("pageOf", () => {
  it("reads a page", () => {
    expect(pageOf({ items: [1], next_cursor: "c2" })).toEqual({ items: [1], next: "c2" });
    expect(pageOf({ items: [1], next_cursor: null })).toEqual({ items: [1], next: null });
  });
  it("refuses what is not a page rather than showing an empty list", () => {
    expect(() => pageOf([1, 2])).toThrow(/not a page/);
    expect(() => pageOf({ devices: [3] })).toThrow(/not a page/);
    expect(() => pageOf(null)).toThrow(/not a page/);
  });
});

describe("listAll", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("follows next_cursor to the last page", async () => {
    const pages: Record<string, unknown> = {
      "": { items: [1, 2], next_cursor: "b" },
      b: { items: [3], next_cursor: "c" },
      c: { items: [4], next_cursor: null },
    };
    const seen: string[] = [];
    vi.stubGlobal("fetch", async (url: string) => {
      const u = new URL(url, "http://x/");
      seen.push(u.pathname + u.search);
      return new Response(JSON.stringify(pages[u.searchParams.get("cursor") ?? ""]), { status: 200 });
    });
    expect(await listAll<number>("api/v1/devices?city=450100")).toEqual([1, 2, 3, 4]);
    expect(seen).toEqual([
      "/api/v1/devices?city=450100&limit=1000",
      "/api/v1/devices?city=450100&limit=1000&cursor=b",
      "/api/v1/devices?city=450100&limit=1000&cursor=c",
    ]);
  });

  it("stops when a server repeats a cursor", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ items: [1], next_cursor: "same" }), { status: 200 }));
    expect(await listAll<number>("api/v1/alerts")).toEqual([1, 1]);
  });
});

describe("hostFrom", () => {
  it("tells a city gateway (and its central link) from the regional server by /healthz", async () => {
    const { hostFrom } = await import("../../src/host");
    expect(hostFrom({ status: "ok", city: "450100", gw_id: "gw-450100", central_mqtt: false })).toEqual({
      kind: "gateway",
      city: "450100",
      gwId: "gw-450100",
      centralOnline: false,
    });
    expect(hostFrom({ status: "ok", mqtt_connected: true, store: "ok" })).toEqual({ kind: "server", centralOnline: true });
    expect(hostFrom(null).kind).toBe("server");
  });
});
