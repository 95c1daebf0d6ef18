// Dock event to the dispatcher's map, measured per event: publishes dock events to the city
// broker at a fixed rate (mosquitto_pub -l, one line per event) and times, against the
// publisher's clock, (a) the device's WebSocket message arriving at a plain WebSocket client in
// its own thread (the baseline), (b) the same message arriving in the page, and (c) the map in
// Chromium showing the new number: the DOM change and the start of the next frame, which
// carries it to the screen. Run by ./run, which starts the region; see README.md.
//   node measure.mjs --server URL --broker-port N --user NAME --password-file F --badge B \
//        --prefix P --pool N [--rate 50] [--city 450100]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { launch, newPage, signIn } from "../../dashboards/tests/browser/browser.mjs";

const { values: opt } = parseArgs({
  options: {
    server: { type: "string" },
    "broker-port": { type: "string" },
    user: { type: "string" },
    "password-file": { type: "string" },
    badge: { type: "string" },
    prefix: { type: "string" },
    pool: { type: "string" },
    rate: { type: "string", default: "50" },
    city: { type: "string", default: "450100" },
    "goal-ms": { type: "string", default: "1000" },
  },
});
for (const k of ["server", "broker-port", "user", "password-file", "badge", "prefix", "pool"]) {
  if (!opt[k]) throw new Error(`measure.mjs: --${k} is required`);
}
const pool = Number(opt.pool);
const rate = Number(opt.rate);
const events = 2 * pool;
const goalMs = Number(opt["goal-ms"]);
const password = readFileSync(opt["password-file"], "utf8").trim();
const note = (s) => console.error(`bench: ${s}`);

/** The publisher's clock, in ms: monotonic and the same in every thread of this process. */
const hr = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function waitFor(what, probe, ms) {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Event k: the first `pool` take camera k out of the dock with a badge (a check-out), the next
 * `pool` put them back (check-ins). The city's "in use" count on the map rises 1..pool, then
 * falls pool-1..0: every event changes the number, and within each half a larger (smaller)
 * number means this event and every earlier one of the half are on the screen.
 */
function plan(k) {
  const out = k < pool;
  const i = out ? k : k - pool;
  return { device: `${opt.prefix}${i}`, status: out ? "checked_out" : "available", inUse: out ? k + 1 : 2 * pool - 1 - k, out };
}

// --- the baseline: a plain WebSocket client on its own thread --------------------------------
const baselineSource = `
const { parentPort, workerData } = require("node:worker_threads");
const hr = () => Number(process.hrtime.bigint()) / 1e6;
const seen = [];
const ws = new WebSocket(workerData.url);
ws.onopen = () => parentPort.postMessage({ open: true });
ws.onerror = () => parentPort.postMessage({ error: "the baseline WebSocket failed" });
ws.onmessage = (e) => {
  const t = hr();
  const m = JSON.parse(e.data);
  if (m.type === "device" && m.device.id.startsWith(workerData.prefix)) seen.push([t, m.device.id, m.device.status]);
};
parentPort.on("message", () => {
  ws.close();
  parentPort.postMessage({ seen });
});
`;

function startBaseline(token) {
  const url = new URL("/api/v1/events", opt.server);
  url.protocol = "ws:";
  url.searchParams.set("token", token);
  const worker = new Worker(baselineSource, { eval: true, workerData: { url: url.toString(), prefix: opt.prefix } });
  const opened = new Promise((ok, fail) => {
    worker.once("message", (m) => (m.open ? ok() : fail(new Error(m.error))));
    worker.once("error", fail);
  });
  const stop = () =>
    new Promise((ok) => {
      worker.once("message", (m) => ok(m.seen));
      worker.postMessage("stop");
    }).finally(() => worker.terminate());
  return { opened, stop };
}

// --- the page's own records ------------------------------------------------------------------
// Installed before the pages' scripts run: the feed's messages as they arrive (before the page
// handles them), and long tasks. Times are performance.timeOrigin + performance.now(), in ms.
function instrumentPage(prefix) {
  const now = () => performance.timeOrigin + performance.now();
  const rec = { socket: [], map: [], longTasks: [] };
  window.__bench = rec;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const t = now();
        const m = JSON.parse(e.data);
        if (m.type === "device" && m.device.id.startsWith(prefix)) rec.socket.push([t, m.device.id, m.device.status]);
      });
    }
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) rec.longTasks.push(e.duration);
  }).observe({ type: "longtask", buffered: true });
}

/** Watches the city's "in use" number on the map; each change with its time and its frame's. */
function watchMap(city) {
  const rec = window.__bench;
  const now = () => performance.timeOrigin + performance.now();
  const read = () => {
    const text = document.querySelector(`[data-testid="detail-${city}"]`)?.textContent ?? "";
    const m = /(\d+)/.exec(text);
    return m ? Number(m[1]) : null;
  };
  let last = read();
  new MutationObserver(() => {
    const v = read();
    if (v === null || v === last) return;
    last = v;
    const entry = { t: now(), v, frame: null };
    rec.map.push(entry);
    // rAF callbacks run as the next frame is made, after this change: that frame shows it.
    requestAnimationFrame(() => {
      entry.frame = now();
    });
  }).observe(document.querySelector('[data-testid="region-map"]'), { subtree: true, childList: true, characterData: true });
  return last;
}

/** page clock - publisher clock, from the round trip with the least delay. */
async function clockOffset(page) {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 30; i++) {
    const a = hr();
    const p = await page.evaluate(() => performance.timeOrigin + performance.now());
    const b = hr();
    if (b - a < best.rtt) best = { rtt: b - a, offset: p - (a + b) / 2 };
  }
  return best;
}

// --- the publisher -----------------------------------------------------------------------------
async function startPublisher() {
  const topic = `eqm/v1/dock/${opt.city}-dock-bench/event`;
  // Line-buffered, so its debug lines (CONNACK, each PUBACK) arrive as they happen.
  const pub = spawn("stdbuf", ["-oL", "mosquitto_pub", "-d", "-h", "127.0.0.1", "-p", opt["broker-port"], "-q", "1", "-t", topic, "-l"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  let acks = 0;
  pub.stdout.on("data", (d) => {
    const s = d.toString();
    if (out.length < 4096) out += s;
    acks += (s.match(/received PUBACK/g) ?? []).length;
  });
  await waitFor("mosquitto_pub to connect", () => out.includes("CONNACK") || pub.exitCode !== null, 10000);
  if (pub.exitCode !== null) throw new Error(`mosquitto_pub failed: ${out}`);
  return { pub, acks: () => acks };
}

async function publishAll(pub, run) {
  const sent = new Array(events);
  let maxLate = 0;
  const t0 = hr() + 200;
  for (let k = 0; k < events; k++) {
    const due = t0 + (k * 1000) / rate;
    const wait = due - hr();
    if (wait > 1) await sleep(wait - 1);
    while (hr() < due) {
      // the last millisecond, spun: setTimeout is only as exact as the event loop
    }
    const e = plan(k);
    const event = { event_id: `bench-${run}-${k}`, ts: new Date().toISOString(), type: e.out ? "slot_remove" : "slot_insert", slot: (k % 12) + 1, device_id: e.device };
    if (e.out) event.badge = opt.badge;
    const line = `${JSON.stringify(event)}\n`;
    const t = hr();
    pub.stdin.write(line);
    sent[k] = t;
    maxLate = Math.max(maxLate, t - due);
    if ((k + 1) % (rate * 5) === 0) note(`published ${k + 1}/${events}`);
  }
  return { sent, maxLate };
}

// --- matching and figures --------------------------------------------------------------------
/** For each event, the first record (time in publisher ms) of its device in its new state after it was sent. */
function matchMessages(records, sent) {
  const byKey = new Map();
  for (const [t, id, status] of records) {
    const key = `${id} ${status}`;
    if (!byKey.has(key)) byKey.set(key, []);
    byKey.get(key).push(t);
  }
  return sent.map((s, k) => {
    const e = plan(k);
    const t = (byKey.get(`${e.device} ${e.status}`) ?? []).find((x) => x >= s);
    return t === undefined ? null : t - s;
  });
}

/**
 * For each event, when the map first showed it (or a later event of the same half): rising,
 * a number at least its own; falling, at most its own. A fall is recognised by the first
 * number below the one before it.
 */
function matchMap(changes, sent, start, field) {
  let falling = false;
  let prev = start;
  const marked = changes.map((c) => {
    if (c.v < prev) falling = true;
    prev = c.v;
    return { ...c, falling };
  });
  return sent.map((s, k) => {
    const e = plan(k);
    const c = marked.find((x) => x[field] !== null && (e.out ? x.falling || x.v >= e.inUse : x.falling && x.v <= e.inUse));
    return c ? Math.max(0, c[field] - s) : null;
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function figures(latencies) {
  const got = latencies.filter((x) => x !== null).sort((a, b) => a - b);
  if (got.length === 0) return { n: 0 };
  return { n: got.length, p50: percentile(got, 50), p90: percentile(got, 90), p99: percentile(got, 99), max: got[got.length - 1] };
}

const fmt = (x) => (x === undefined ? "-" : x.toFixed(1));
function line(label, f) {
  return `web_map_latency: ${label.padEnd(42)} ${String(f.n).padStart(5)}/${events}  p50 ${fmt(f.p50)} ms, p90 ${fmt(f.p90)} ms, p99 ${fmt(f.p99)} ms, max ${fmt(f.max)} ms`;
}

// --- the run ---------------------------------------------------------------------------------
async function main() {
  const login = await fetch(new URL("/api/v1/auth/login", opt.server), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: opt.user, password }),
  });
  if (!login.ok) throw new Error(`login of ${opt.user}: ${login.status} ${await login.text()}`);
  const baseline = startBaseline((await login.json()).token);
  await baseline.opened;

  const browser = await launch();
  try {
    const page = await newPage(browser);
    await page.addInitScript(instrumentPage, opt.prefix);
    await signIn(page, opt.server, opt.user, password);
    await page.waitForFunction(() => location.hash === "#/region");
    await page.getByText("● 实时更新").waitFor({ timeout: 30000 });
    await page.waitForFunction(
      ([city, n]) => new RegExp(`已领用 0 · 总数 ${n}\\b`).test(document.querySelector(`[data-testid="detail-${city}"]`)?.textContent ?? ""),
      [opt.city, pool],
      { timeout: 30000 },
    );
    const start = await page.evaluate(watchMap, opt.city);
    const before = await clockOffset(page);
    note(`the map shows ${pool} cameras, none in use`);

    const { pub, acks } = await startPublisher();
    note(`publishing ${events} dock events at ${rate}/s`);
    const { sent, maxLate } = await publishAll(pub, Date.now().toString(36));
    const lastSent = sent[events - 1];
    // Done when the map is back at 0 and both sockets heard the last check-in, or 30 s on.
    await waitFor(
      "the map and the sockets to show the last event",
      async () => {
        const [map0, socketN] = await page.evaluate(() => {
          const m = window.__bench.map;
          return [m.length > 0 && m[m.length - 1].v === 0 && m[m.length - 1].frame !== null, window.__bench.socket.length];
        });
        return (map0 && socketN >= events) || hr() - lastSent > 30000;
      },
      40000,
    );
    pub.stdin.end();
    const after = await clockOffset(page);
    const rec = await page.evaluate(() => window.__bench);
    const seen = await baseline.stop();
    const offset = (before.offset + after.offset) / 2;
    const toPub = (t) => (t === null ? null : t - offset);
    const changes = rec.map.map((c) => ({ v: c.v, t: toPub(c.t), frame: toPub(c.frame) }));

    const ws = matchMessages(seen, sent);
    const pageWs = matchMessages(rec.socket.map(([t, id, s]) => [toPub(t), id, s]), sent);
    const dom = matchMap(changes, sent, start, "t");
    const frame = matchMap(changes, sent, start, "frame");
    const behind = frame.map((f, k) => (f === null || pageWs[k] === null ? null : Math.max(0, f - pageWs[k])));
    const f = { ws: figures(ws), pageWs: figures(pageWs), dom: figures(dom), frame: figures(frame), behind: figures(behind) };
    const tenth = Math.max(1, Math.floor(events / 10));
    const firstTenth = figures(frame.slice(0, tenth));
    const lastTenth = figures(frame.slice(events - tenth));
    const longest = rec.longTasks.length ? Math.max(...rec.longTasks) : 0;

    console.log(`web_map_latency: ${events} dock events at ${rate}/s to the city broker (${pool} check-outs, then ${pool} check-ins, of ${pool} cameras); publisher at most ${maxLate.toFixed(1)} ms late, ${acks()} PUBACKs`);
    console.log(line("baseline: WebSocket client (own thread)", f.ws));
    console.log(line("the page's WebSocket message event", f.pageWs));
    console.log(line("the map's number changes (DOM)", f.dom));
    console.log(line("the map's number on screen (next frame)", f.frame));
    console.log(line("message event to screen (the page's work)", f.behind));
    // A page that cannot keep up queues the messages: the latency grows from the first events to the last.
    const keepsUp = lastTenth.p99 <= 2 * firstTenth.p99 + 100;
    console.log(`web_map_latency: ${keepsUp ? "the page keeps up" : "THE PAGE FALLS BEHIND"}: p99 on screen of the first ${tenth} events ${fmt(firstTenth.p99)} ms, of the last ${tenth} ${fmt(lastTenth.p99)} ms; the map changed ${changes.length} times for ${events} events; long tasks in the page: ${rec.longTasks.length}, longest ${longest.toFixed(0)} ms`);
    console.log(`web_map_latency: page clock tied to the publisher's by round trips of ${before.rtt.toFixed(2)} ms before and ${after.rtt.toFixed(2)} ms after the run; it drifted ${(after.offset - before.offset).toFixed(2)} ms`);
    const ratio = f.frame.p99 / f.ws.p99;
    const met = f.frame.n === events && f.frame.p99 <= goalMs;
    console.log(`web_map_latency: p99 ratio map on screen / WebSocket = ${Number.isFinite(ratio) ? ratio.toFixed(2) : "-"}; goal p99 <= ${goalMs} ms on screen: ${met ? "met" : "MISSED"}`);
    let status = 0;
    for (const [name, x] of [["the WebSocket client", f.ws], ["the page's WebSocket", f.pageWs], ["the map", f.frame]]) {
      if (x.n !== events) {
        console.error(`web_map_latency: ${events - x.n} events never reached ${name}`);
        status = 1;
      }
    }
    if (!met || !keepsUp) status = 1;
    return status;
  } finally {
    await browser.close();
  }
}

main().then(
  (status) => process.exit(status),
  (e) => {
    console.error(`web_map_latency: ${e.stack ?? e}`);
    process.exit(1);
  },
);
