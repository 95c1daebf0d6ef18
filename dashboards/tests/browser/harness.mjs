// A real region for the browser tests, on 127.0.0.1 free ports: a central Mosquitto, a city
// Mosquitto, eqm-server (serving dashboards/dist) and an eqm-gateway, with users and devices.
// Everything started here is stopped by stop(), also when a test fails or the process exits.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const dashboardsDir = resolve(here, "../..");
export const repoRoot = resolve(dashboardsDir, "..");
export const buildDir = resolve(repoRoot, process.env.EQM_BUILD_DIR ?? "build");
export const distDir = join(dashboardsDir, "dist");
export const serverBin = join(buildDir, "server/eqm-server");
export const gatewayBin = join(buildDir, "gateway/eqm-gateway");
const mosquittoBin = "/usr/sbin/mosquitto";
const mosquittoPub = "/usr/bin/mosquitto_pub";

const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a truthy value; throws `what` after `ms`. */
export async function waitFor(what, probe, ms = 15000, every = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    let v;
    try {
      v = await probe();
    } catch {
      v = undefined;
    }
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

export function requirePrerequisites({ gateway = true } = {}) {
  const missing = [];
  if (!existsSync(join(distDir, "index.html"))) missing.push("dashboards/dist (npm run build in dashboards/)");
  if (!existsSync(serverBin)) missing.push(serverBin);
  if (gateway && !existsSync(gatewayBin)) missing.push(gatewayBin);
  if (!existsSync(mosquittoBin)) missing.push(mosquittoBin);
  if (!existsSync(mosquittoPub)) missing.push(mosquittoPub);
  if (missing.length) throw new Error(`missing: ${missing.join(", ")}`);
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

function portAccepts(port) {
  return new Promise((ok) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => {
      c.destroy();
      ok(true);
    });
    c.once("error", () => ok(false));
  });
}

/** A child process with its output in a log file. */
class Child {
  constructor(name, argv, logPath, stdin) {
    this.name = name;
    this.argv = argv;
    this.logPath = logPath;
    this.stdin = stdin;
  }
  start() {
    writeFileSync(this.logPath, `$ ${this.argv.join(" ")}\n`, { flag: "a" });
    this.proc = spawn(this.argv[0], this.argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const log = (chunk) => writeFileSync(this.logPath, chunk, { flag: "a" });
    this.proc.stdout.on("data", log);
    this.proc.stderr.on("data", log);
    this.exited = new Promise((r) => this.proc.once("exit", r));
    children.add(this.proc);
    this.proc.once("exit", () => children.delete(this.proc));
    return this;
  }
  get running() {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }
  log() {
    return existsSync(this.logPath) ? readFileSync(this.logPath, "utf8") : "";
  }
  async stop(signal = "SIGTERM") {
    if (!this.running) return;
    this.proc.kill(signal);
    const done = await Promise.race([this.exited.then(() => true), sleep(5000).then(() => false)]);
    if (!done) {
      this.proc.kill("SIGKILL");
      await this.exited;
    }
  }
}

export class Broker {
  constructor(dir, name) {
    this.dir = join(dir, name);
    mkdirSync(this.dir, { recursive: true });
    this.name = name;
  }
  async start() {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!this.port || attempt > 0) this.port = this.port && this.fixed ? this.port : await freePort();
      const log = join(this.dir, `mosquitto.${Date.now()}.log`);
      const conf = join(this.dir, "mosquitto.conf");
      writeFileSync(
        conf,
        [
          process.getuid?.() === 0 ? "user root" : "",
          "persistence false",
          `log_dest file ${log}`,
          "log_type all",
          "per_listener_settings false",
          `listener ${this.port} 127.0.0.1`,
          "allow_anonymous true",
          "",
        ].join("\n"),
      );
      this.child = new Child(this.name, [mosquittoBin, "-c", conf], join(this.dir, "mosquitto.out"));
      this.child.start();
      // "running" is logged once the listener is bound: this broker owns the port.
      const up = await waitFor(
        `${this.name} broker`,
        async () => !this.child.running || (existsSync(log) && readFileSync(log, "utf8").includes(" running") && (await portAccepts(this.port))),
        10000,
        30,
      ).catch(() => false);
      if (up && this.child.running) {
        this.fixed = true;
        return this;
      }
      await this.child.stop("SIGKILL");
      if (this.fixed) break;
    }
    throw new Error(`the ${this.name} broker did not start`);
  }
  get uri() {
    return `tcp://127.0.0.1:${this.port}`;
  }
  stop() {
    return this.child?.stop();
  }
}

/** `mosquitto_pub` one message to the broker. */
export function publish(broker, topic, payload, { retain = false, qos = 1 } = {}) {
  const args = ["-h", "127.0.0.1", "-p", String(broker.port), "-q", String(qos), "-t", topic, "-m", JSON.stringify(payload)];
  if (retain) args.push("-r");
  const r = spawnSync(mosquittoPub, args, { encoding: "utf8", timeout: 10000 });
  if (r.status !== 0) throw new Error(`mosquitto_pub ${topic} failed: ${r.stderr}`);
}

export const nowTs = () => new Date().toISOString();

export class Region {
  constructor(name) {
    this.dir = mkdtempSync(join(tmpdir(), `eqm-web-${name}-`));
    this.db = join(this.dir, "region.db");
    this.passwords = {};
    this.tokens = {};
    this.seq = 1;
  }

  /** eqm-server user add (before or while the server runs). */
  addUser(name, role, { city, badge, password = `pw-${name}-1` } = {}) {
    const args = ["user", "add", "--db", this.db, "--name", name, "--role", role];
    if (city) args.push("--city", city);
    if (badge) args.push("--badge", badge);
    const r = spawnSync(serverBin, args, { input: `${password}\n`, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`user add ${name}: ${r.stderr}`);
    this.passwords[name] = password;
  }

  async startBrokers() {
    this.central = await new Broker(this.dir, "central").start();
    this.city = await new Broker(this.dir, "city-450100").start();
  }

  async startServer() {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!this.serverPort || attempt > 0) this.serverPort = this.serverFixed ? this.serverPort : await freePort();
      const log = join(this.dir, "eqm-server.log");
      writeFileSync(log, "");
      this.server = new Child(
        "eqm-server",
        [serverBin, "--listen", `127.0.0.1:${this.serverPort}`, "--mqtt", this.central.uri, "--db", this.db,
          "--mqtt-client-id", "eqm-server-web", "--static-dir", distDir],
        log,
      ).start();
      // Up means: HTTP answers and the central broker session is connected (/healthz says so).
      const up = await waitFor("eqm-server", async () => !this.server.running || (await serverReady(this.serverPort)), 20000).catch(() => false);
      if (up && this.server.running) {
        this.serverFixed = true;
        return;
      }
      await this.server.stop("SIGKILL");
      if (this.serverFixed) break;
    }
    throw new Error(`eqm-server did not start:\n${this.server?.log()}`);
  }

  get serverUrl() {
    return `http://127.0.0.1:${this.serverPort}`;
  }

  async startGateway(extra = []) {
    for (let attempt = 0; attempt < 5; attempt++) {
      this.gatewayPort = await freePort();
      const log = join(this.dir, "eqm-gateway.log");
      this.gateway = new Child(
        "eqm-gateway",
        [gatewayBin, "--city", "450100", "--local-mqtt", this.city.uri, "--central-mqtt", this.central.uri,
          "--db", join(this.dir, "gateway.db"), "--listen", `127.0.0.1:${this.gatewayPort}`, ...extra],
        log,
      ).start();
      const up = await waitFor("eqm-gateway", () => !this.gateway.running || this.gateway.log().includes("listening on"), 20000).catch(() => false);
      if (up && this.gateway.running) return;
      await this.gateway.stop("SIGKILL");
    }
    throw new Error(`eqm-gateway did not start:\n${this.gateway?.log()}`);
  }

  get gatewayUrl() {
    return `http://127.0.0.1:${this.gatewayPort}`;
  }

  async api(method, path, { token, body, base } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(`${base ?? this.serverUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: r.status, json, text };
  }

  /**
   * A request to the city's eqm-gateway as `who` (a custodian of the city by default), logged in
   * at the gateway itself: it knows people only once the server's registry sync has reached it,
   * so a refused login is answered as a 401 for the caller's waitFor to retry.
   */
  async gatewayApi(method, path, { who = "custodian-450100", body } = {}) {
    const key = `gateway:${who}`;
    if (!this.tokens[key]) {
      const r = await this.api("POST", "/api/v1/auth/login", { base: this.gatewayUrl, body: { name: who, password: this.passwords[who] } });
      if (r.status !== 200) return r;
      this.tokens[key] = r.json.token;
    }
    const r = await this.api(method, path, { base: this.gatewayUrl, token: this.tokens[key], body });
    if (r.status === 401) delete this.tokens[key];
    return r;
  }

  /** Ends every session at the server (their tokens expire), as time would. */
  expireSessions() {
    const r = spawnSync("sqlite3", [this.db, "UPDATE tokens SET expires_at = '2000-01-01T00:00:00.000Z'"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`cannot expire the sessions: ${r.stderr}`);
    this.tokens = {};
  }

  async login(name) {
    const r = await this.api("POST", "/api/v1/auth/login", { body: { name, password: this.passwords[name] } });
    if (r.status !== 200) throw new Error(`login ${name}: ${r.text}`);
    this.tokens[name] = r.json.token;
    return r.json.token;
  }

  async addDevice(device, adminName = "admin") {
    const token = this.tokens[adminName] ?? (await this.login(adminName));
    const r = await this.api("POST", "/api/v1/devices", { token, body: device });
    if (r.status !== 201) throw new Error(`add device ${device.id}: ${r.text}`);
  }

  /** The device's birth and a telemetry report with `battery` percent (docked, not charging). */
  reportDevice(id, { cls = "body_camera", model = "DSJ-A9", battery = 95 } = {}) {
    publish(this.city, `eqm/v1/dev/${id}/state`, { ts: nowTs(), online: true, class: cls, model, fw: "1.0.0", bd_seq: 1 }, { retain: true });
    publish(this.city, `eqm/v1/dev/${id}/telemetry`, { ts: nowTs(), seq: this.seq++, battery_pct: battery, storage_free_mb: 20000, temp_c: 30 }, { qos: 0 });
  }

  /** A dock event: `slot_remove` with a badge is a check-out, without one an unauthorised removal. */
  dockEvent(type, deviceId, badge) {
    const event = { event_id: `web-ev-${Date.now()}-${this.seq++}`, ts: nowTs(), type, slot: 3, device_id: deviceId };
    if (badge) event.badge = badge;
    publish(this.city, "eqm/v1/dock/450100-dock-web/event", event);
  }

  /** The device as the server sees it. */
  async device(id, who = "admin") {
    const token = this.tokens[who] ?? (await this.login(who));
    const r = await this.api("GET", `/api/v1/devices/${id}`, { token });
    return r.json;
  }

  async stop() {
    for (const c of [this.gateway, this.server, this.city, this.central]) {
      try {
        await c?.stop();
      } catch {
        // keep stopping the others
      }
    }
    if (!process.env.EQM_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }

  logs() {
    return [this.server, this.gateway].filter(Boolean).map((c) => `--- ${c.name}\n${c.log().slice(-4000)}`).join("\n");
  }
}

export const screenshotDir = resolve(buildDir, process.env.EQM_SCREENSHOT_DIR ?? "web-screenshots");

/** True once eqm-server on `port` answers /healthz with its MQTT session up. */
async function serverReady(port) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`);
    const j = await r.json();
    return j.mqtt_connected === true;
  } catch {
    return false;
  }
}
