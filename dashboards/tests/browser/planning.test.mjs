// The planning side in the browser, against a real eqm-server, eqm-gateway and Mosquitto: an
// officer's booking that clashes shows the free windows offered instead, and one tap books one
// (the purpose, holding markup, is shown as text) and the calendar feed link works; a
// dispatcher approves one transfer and cancels another; a person an admin adds signs in with
// the one-time password and chooses their own first; a dispatcher's approved allocation plan
// becomes transfers, drawn as arrows on the map and listed on the transfers page.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, newPage, phone, shot, signIn } from "./browser.mjs";
import { Region, requirePrerequisites, waitFor } from "./harness.mjs";

const city = "450100";
const officer = `officer-${city}`;
const markup = "<img src=x onerror=window.__xss=1>";
const cams = ["450100-bc-301", "450100-bc-302", "450100-bc-303"];

let region;
let browser;

before(async () => {
  requirePrerequisites();
  region = new Region("planning");
  region.addUser("admin", "admin");
  region.addUser("dispatcher", "dispatcher");
  region.addUser(officer, "officer", { city, badge: "B-OFF-31" });
  region.addUser(`officer2-${city}`, "officer", { city, badge: "B-OFF-32" });
  await region.startBrokers();
  await region.startServer();
  await region.startGateway();
  await region.login("admin");
  await waitFor("the gateway online at the server", async () => (await region.api("GET", "/api/v1/cities", { token: region.tokens.admin })).json.items[0].online);
  await region.addDevice({ id: "450100-dr-301", class: "drone", model: "DJI M30", city });
  for (const id of cams) await region.addDevice({ id, class: "body_camera", model: "DSJ-A9", city });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (process.exitCode) console.error(region?.logs());
  await region?.stop();
});

/** `2026-12-01T10:00` in Asia/Shanghai, `days` from today. */
function shanghai(days, hour) {
  const d = new Date(Date.now() + 8 * 3600_000 + days * 86_400_000);
  return `${d.toISOString().slice(0, 10)}T${String(hour).padStart(2, "0")}:00`;
}

/** Fills a date-and-time field: the date picker, then the half hour. */
async function setWhen(page, id, local) {
  const [date, time] = local.split("T");
  await page.locator(`#${id}-date`).fill(date);
  await page.locator(`#${id}-time`).selectOption(time);
}

test("a booking that clashes shows the free windows, and one tap books one", async () => {
  // Another officer holds the only drone tomorrow 10:00-12:00 (and its 30-minute buffer).
  const other = await region.login(`officer2-${city}`);
  const held = await region.api("POST", "/api/v1/reservations", {
    token: other,
    body: { class: "drone", city, start: `${shanghai(1, 10)}:00+08:00`, end: `${shanghai(1, 12)}:00+08:00`, purpose: "巡查" },
  });
  assert.equal(held.status, 201, held.text);

  const page = await newPage(browser);
  await signIn(page, region.serverUrl, officer, region.passwords[officer]);
  await page.waitForFunction(() => location.hash === "#/reserve");
  await page.getByLabel("类别", { exact: true }).selectOption("drone");
  // The calendar shows tomorrow 10:00 as fully booked.
  await page.getByTestId("availability").waitFor();
  await setWhen(page, "reserve-start", shanghai(1, 11));
  await setWhen(page, "reserve-end", shanghai(1, 13));
  await page.locator("#reserve-purpose").fill(`夜间检查 ${markup}`);
  // A purpose left empty is named and nothing is sent.
  const posts = [];
  page.on("request", (r) => r.method() === "POST" && r.url().endsWith("/api/v1/reservations") && posts.push(r.url()));
  await page.locator("#reserve-purpose").fill("   ");
  await page.getByRole("button", { name: "预约", exact: true }).click();
  await page.getByText("请填写用途").waitFor();
  assert.equal(posts.length, 0);

  await page.locator("#reserve-purpose").fill(`夜间检查 ${markup}`);
  await page.getByRole("button", { name: "预约", exact: true }).click();
  const conflict = page.getByTestId("conflict");
  await conflict.waitFor();
  assert.match(await conflict.innerText(), /这段时间已约满/);
  const offers = page.getByTestId("alternatives").getByRole("button");
  assert.ok((await offers.count()) >= 1, "at least one free window is offered");
  await shot(page, "planning-conflict");
  await page.setViewportSize(phone);
  await shot(page, "planning-conflict-phone");

  const first = await offers.first().innerText();
  await offers.first().click();
  await page.getByTestId("booked").waitFor();
  assert.equal(posts.length, 2, "the clash and the booking of the offered window");

  const mine = (await region.api("GET", "/api/v1/reservations", { token: await region.login(officer) })).json.items;
  assert.equal(mine.length, 1);
  assert.equal(mine[0].purpose, `夜间检查 ${markup}`);
  // The offered window was booked: its start is the one on the button (Shanghai time).
  const start = new Date(Date.parse(mine[0].start) + 8 * 3600_000).toISOString().slice(11, 16);
  assert.ok(first.includes(start), `button "${first}" books ${start}`);

  await page.goto(`${region.serverUrl}/#/bookings`);
  const list = page.getByTestId("my-bookings");
  await list.waitFor();
  assert.match(await list.innerText(), /<img src=x onerror=window.__xss=1>/);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  // The calendar feed: a link to subscribe to, read without a token (as a calendar app does).
  await page.getByRole("button", { name: "生成订阅链接" }).click();
  const url = await page.locator("#feed-url").inputValue();
  assert.match(url, /\/api\/v1\/calendar\/[0-9a-f]+\.ics$/);
  const feed = await fetch(url);
  assert.equal(feed.status, 200);
  assert.match(await feed.text(), /BEGIN:VCALENDAR[\s\S]*BEGIN:VEVENT/);
  await shot(page, "planning-bookings-phone");
  await page.context().close();
});

test("a dispatcher approves one transfer and cancels another", async () => {
  const token = await region.login("dispatcher");
  const due = new Date(Date.now() + 2 * 86_400_000).toISOString();
  const make = async (items, reason) => {
    const r = await region.api("POST", "/api/v1/transfers", { token, body: { from_city: city, to_city: "450300", items, due, reason } });
    assert.equal(r.status, 201, r.text);
    return r.json.id;
  };
  const drone = await make([{ device_id: "450100-dr-301" }], "桂林汛期巡查");
  const cams = await make([{ class: "body_camera", count: 1 }], `备用 ${markup}`);

  const page = await newPage(browser);
  page.on("dialog", (d) => void d.accept());
  await signIn(page, region.serverUrl, "dispatcher", region.passwords.dispatcher);
  await page.goto(`${region.serverUrl}/#/transfers`);
  const live = page.getByTestId("transfers-live");
  await live.waitFor();
  assert.match(await live.innerText(), /<img src=x onerror=window.__xss=1>/);
  await live.locator(`tr[data-transfer="${drone}"]`).getByRole("button", { name: "批准" }).click();
  await live.locator(`tr[data-transfer="${drone}"]`).getByText("已批准").waitFor();
  await live.locator(`tr[data-transfer="${cams}"]`).getByRole("button", { name: "取消" }).click();
  await page.getByTestId("transfers-done").locator(`tr[data-transfer="${cams}"]`).getByText("已取消").waitFor();
  const statuses = Object.fromEntries((await region.api("GET", "/api/v1/transfers", { token })).json.items.map((x) => [x.id, x.status]));
  assert.equal(statuses[drone], "approved");
  assert.equal(statuses[cams], "cancelled");
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await shot(page, "planning-transfers-decided");
  await page.context().close();
});

test("an admin adds a person, who signs in with the one-time password and chooses their own", async () => {
  const page = await newPage(browser);
  await signIn(page, region.serverUrl, "admin", region.passwords.admin);
  await page.goto(`${region.serverUrl}/#/people`);
  await page.getByTestId("people-table").waitFor();
  // A bad badge is named and nothing is sent.
  const posts = [];
  page.on("request", (r) => r.method() === "POST" && r.url().endsWith("/api/v1/people") && posts.push(r.url()));
  await page.locator("#add-person-name").fill("王保管");
  await page.locator("#add-person-role").selectOption("custodian");
  await page.locator("#add-person-badge").fill("B 77");
  await page.getByRole("button", { name: "新增", exact: true }).click();
  await page.getByText("工卡只能由字母、数字、- 和 _ 组成，最多 64 个字符").waitFor();
  assert.equal(posts.length, 0);

  await page.locator("#add-person-badge").fill("B-77");
  await page.getByRole("button", { name: "新增", exact: true }).click();
  const once = await page.getByTestId("one-time-password").innerText();
  assert.match(once.trim(), /^\S{8,}$/);
  await page.getByTestId("people-table").getByText("王保管").waitFor();
  await shot(page, "planning-people");
  await page.context().close();

  // The new custodian signs in with it and must choose a password before anything else.
  const own = await newPage(browser, { viewport: phone });
  await own.goto(`${region.serverUrl}/#/login`);
  await own.locator("#login-name").fill("王保管");
  await own.locator("#login-password").fill(once.trim());
  await own.keyboard.press("Enter");
  await own.locator("#new-password").fill("short");
  await own.getByRole("button", { name: "保存并进入" }).click();
  assert.equal(await own.locator("#new-password-error").innerText(), "至少 8 个字符");
  await own.locator("#new-password").fill("counter-2026-pw");
  await own.locator("#new-password-again").fill("counter-2026-pw");
  await shot(own, "planning-new-password-phone");
  await own.getByRole("button", { name: "保存并进入" }).click();
  await own.waitForFunction(() => location.hash === "#/desk");
  const again = await region.api("POST", "/api/v1/auth/login", { body: { name: "王保管", password: "counter-2026-pw" } });
  assert.equal(again.status, 200);
  assert.equal(again.json.must_change_password, false);
  await own.context().close();
});

test("an approved allocation plan creates transfers", async () => {
  // Baise needs two cameras it does not have; Nanning has three and no quota of its own.
  const put = await region.api("PUT", "/api/v1/quotas", { token: region.tokens.admin, body: { items: [{ city: "451000", class: "body_camera", min_ready: 2 }] } });
  assert.equal(put.status, 200, put.text);

  const page = await newPage(browser);
  await signIn(page, region.serverUrl, "dispatcher", region.passwords.dispatcher);
  await page.goto(`${region.serverUrl}/#/plan`);
  await page.getByRole("button", { name: "生成调配方案" }).click();
  const moves = page.getByTestId("plan-moves");
  await moves.waitFor();
  assert.match(await moves.innerText(), /南宁[\s\S]*百色[\s\S]*执法记录仪[\s\S]*2/);
  // The move is an arrow on the map, with its count.
  assert.match(await page.locator(".map-moves").innerHTML(), /×2/);
  await shot(page, "planning-plan");

  await page.getByRole("button", { name: "批准全部" }).click();
  await page.getByTestId("plan-approved").waitFor();
  const token = await region.login("dispatcher");
  const transfers = await waitFor("the plan's transfers", async () => {
    const r = await region.api("GET", "/api/v1/transfers?to_city=451000", { token });
    return r.status === 200 && r.json.items.length > 0 && r.json.items;
  });
  assert.equal(transfers.length, 1);
  assert.equal(transfers[0].from_city, "450100");
  assert.equal(transfers[0].status, "approved");
  const units = transfers[0].items.reduce((n, it) => n + (it.count ?? 1), 0);
  assert.equal(units, 2);

  await page.getByRole("link", { name: "查看调拨" }).click();
  const live = page.getByTestId("transfers-live");
  await live.waitFor();
  assert.match(await live.innerText(), /百色/);
  await shot(page, "planning-transfers");
  await page.context().close();
});
