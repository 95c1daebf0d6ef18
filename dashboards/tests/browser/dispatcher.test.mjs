// The dispatcher's region page and every role's login and navigation, against a real
// eqm-server, eqm-gateway and Mosquitto: a dock check-out reaches the map without a reload, an
// alert is acknowledged, a lost connection shows the banner and recovers by itself, and a
// device model holding markup is shown as text.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, newPage, phone, shot, signIn } from "./browser.mjs";
import { Region, requirePrerequisites, waitFor } from "./harness.mjs";

const city = "450100";
const badge = "B-OFF-7";
const markup = "<img src=x onerror=window.__xss=1>";
const cams = ["450100-bc-201", "450100-bc-202", "450100-bc-203"];

let region;
let browser;

before(async () => {
  requirePrerequisites();
  region = new Region("dispatcher");
  region.addUser("admin", "admin");
  region.addUser("dispatcher", "dispatcher");
  region.addUser(`custodian-${city}`, "custodian", { city });
  region.addUser(`officer-${city}`, "officer", { city, badge });
  await region.startBrokers();
  await region.startServer();
  await region.startGateway();
  await region.login("admin");
  await waitFor("the gateway online at the server", async () => (await region.api("GET", "/api/v1/cities", { token: region.tokens.admin })).json.items[0].online);
  for (const id of cams) await region.addDevice({ id, class: "body_camera", model: "DSJ-A9", city });
  await region.addDevice({ id: "450200-bc-xss", class: "body_camera", model: markup, city: "450200" });
  for (const id of cams) region.reportDevice(id, { battery: 95 });
  await waitFor("the gateway to know the cameras and the badge", async () => {
    const r = await region.gatewayApi("GET", `/api/v1/devices/${cams[2]}`);
    return r.status === 200 && r.json.registered && typeof r.json.battery_pct === "number";
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (process.exitCode) console.error(region?.logs());
  await region?.stop();
});

const roles = [
  { name: "dispatcher", start: "#/region", nav: ["全区总览", "调配方案", "调拨", "利用率与缺口", "装备台账", "告警"] },
  { name: `custodian-${city}`, start: "#/desk", nav: ["领用归还", "今日领取", "标签打印", "告警"] },
  { name: `officer-${city}`, start: "#/reserve", nav: ["预约装备", "我的预约", "可用装备"] },
  { name: "admin", start: "#/devices", nav: ["全区总览", "标签打印", "装备台账", "人员与工卡", "预约规则", "配备标准", "告警"] },
];

test("each role signs in, lands on its main page and sees its own navigation", async () => {
  for (const role of roles) {
    const page = await newPage(browser);
    await signIn(page, region.serverUrl, role.name, region.passwords[role.name]);
    await page.waitForFunction((want) => location.hash === want, role.start);
    const nav = await page.getByRole("navigation").getByRole("link").allInnerTexts();
    assert.deepEqual(nav, role.nav, role.name);
    await page.waitForLoadState("networkidle");
    await shot(page, `login-${role.name.split("-")[0]}`);
    await page.setViewportSize(phone);
    await shot(page, `login-${role.name.split("-")[0]}-phone`);
    // Usable on a 360 px wide phone: nothing sticks out sideways.
    await page.setViewportSize({ width: 360, height: 740 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${role.name}: the page is ${overflow} px wider than a 360 px screen`);
    // A page of another role is not shown: back to the role's own start page.
    await page.goto(`${region.serverUrl}/#/${role.name === "dispatcher" ? "desk" : "region"}`);
    if (role.name !== "admin") await page.waitForFunction((want) => location.hash === want, role.start);
    await page.getByRole("button", { name: "退出" }).click();
    await page.waitForFunction(() => location.hash === "#/login");
    await page.context().close();
  }
});

test("a wrong password and empty fields are refused in words; empty fields send nothing", async () => {
  const page = await newPage(browser);
  const logins = [];
  page.on("request", (r) => r.url().endsWith("/api/v1/auth/login") && logins.push(r.url()));
  await page.goto(`${region.serverUrl}/#/login`);
  await page.getByRole("button", { name: "登录" }).click();
  await page.getByText("请填写用户名").waitFor();
  await page.getByText("请填写密码").waitFor();
  assert.equal(logins.length, 0);
  await page.locator("#login-name").fill("dispatcher");
  await page.locator("#login-password").fill("not-the-password");
  await page.keyboard.press("Enter");
  await page.getByText("用户名或密码不正确").waitFor();
  await shot(page, "login-refused");
  await page.context().close();
});

test("a dock check-out appears on the dispatcher's map without a reload", async () => {
  const page = await newPage(browser);
  await signIn(page, region.serverUrl, "dispatcher", region.passwords.dispatcher);
  const detail = page.getByTestId(`detail-${city}`);
  await page.getByText("● 实时更新").waitFor();
  await waitFor("the map to show the three cameras", async () => /总数 3/.test(await detail.textContent()));
  assert.match(await detail.textContent(), /已领用 0/);
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  region.dockEvent("slot_remove", cams[0], badge);
  await page.waitForFunction(
    ([id]) => /已领用 1/.test(document.querySelector(`[data-testid="detail-${id}"]`)?.textContent ?? ""),
    [city],
    { timeout: 10000 },
  );
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
  assert.equal((await region.device(cams[0])).status, "checked_out");
  // The city table says the same.
  assert.match(await page.locator(`tr[data-city="${city}"]`).innerText(), /在线/);
  await shot(page, "dispatcher-region");
  await page.setViewportSize(phone);
  await shot(page, "dispatcher-region-phone");
  await page.context().close();
});

test("an alert arrives live and is acknowledged", async () => {
  const page = await newPage(browser);
  await signIn(page, region.serverUrl, "dispatcher", region.passwords.dispatcher);
  await page.getByText("● 实时更新").waitFor();
  // Taken from the dock without a badge: refused and alerted as a critical removal.
  region.dockEvent("slot_remove", cams[1]);
  const item = page.getByTestId("alert-list").locator("li", { hasText: "未刷卡取出" });
  await item.waitFor({ timeout: 10000 });
  assert.match(await item.innerText(), /严重/);
  assert.match(await item.innerText(), new RegExp(cams[1]));
  await shot(page, "dispatcher-alert");
  await item.getByRole("button", { name: "确认" }).click();
  await item.getByText("已确认（dispatcher）").waitFor();
  const alerts = await region.api("GET", `/api/v1/alerts?city=${city}`, { token: await region.login("admin") });
  const acked = (Array.isArray(alerts.json) ? alerts.json : alerts.json.items).find((a) => a.type === "unauthorised_removal");
  assert.equal(acked.acked, true);
  await page.context().close();
});

test("a device model holding markup is shown as text", async () => {
  const page = await newPage(browser);
  await signIn(page, region.serverUrl, "admin", region.passwords.admin);
  const row = page.getByTestId("device-table").locator('[data-device="450200-bc-xss"]');
  await row.waitFor();
  assert.ok((await row.innerText()).includes(markup));
  assert.equal(await page.locator("main img").count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await shot(page, "admin-devices");
  await page.context().close();
});

test("the admin's forms: a bad value is refused in words before anything is sent; a CSV import shows its row report", async () => {
  const page = await newPage(browser);
  await signIn(page, region.serverUrl, "admin", region.passwords.admin);
  const posts = [];
  page.on("request", (r) => r.method() === "POST" && posts.push(new URL(r.url()).pathname));
  await page.locator("#new-id").fill("bad id!");
  await page.getByRole("button", { name: "新增" }).click();
  await page.locator("#new-id-error").getByText("编号只能由字母、数字、- 和 _ 组成").waitFor();
  await page.locator("#new-model-error").getByText("请填写型号").waitFor();
  assert.deepEqual(posts, []);

  const csv = "id,class,model,city\n450100-bc-901,body_camera,DSJ-A9,450100\nbad id,camera,,999999\n";
  await page.locator("#import-file").setInputFiles({ name: "devices.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.getByRole("button", { name: "导入", exact: true }).click();
  const report = page.getByTestId("import-report");
  await report.waitFor();
  assert.match(await report.locator("caption").innerText(), /整份文件未导入/);
  // The second data row (line 3 of the file) is refused; the good row was not imported either.
  assert.equal(await report.locator("tbody tr td:first-child").first().innerText(), "3");
  await shot(page, "admin-import-report");
  assert.equal((await region.api("GET", "/api/v1/devices/450100-bc-901", { token: await region.login("admin") })).status, 404);
  await page.context().close();
});

test("a lost connection shows a banner and recovers by itself", async () => {
  const page = await newPage(browser, { locale: "en" });
  await signIn(page, region.serverUrl, "dispatcher", region.passwords.dispatcher, { lang: "en" });
  await page.getByText("● Live").waitFor();
  await region.server.stop();
  const banner = page.getByTestId("connection-banner");
  await banner.waitFor({ timeout: 10000 });
  assert.match(await banner.innerText(), /connection to the server is lost/);
  await shot(page, "dispatcher-connection-lost-en");
  await region.startServer();
  await banner.waitFor({ state: "detached", timeout: 20000 });
  await page.getByText("● Live").waitFor();
  // Live again: the next dock check-out still reaches the map.
  region.dockEvent("slot_remove", cams[2], badge);
  await page.waitForFunction(
    ([id]) => /2 in use/.test(document.querySelector(`[data-testid="detail-${id}"]`)?.textContent ?? ""),
    [city],
    { timeout: 10000 },
  );
  await shot(page, "dispatcher-region-en");
  await page.context().close();
});
