// The custodian's page served by the city's eqm-gateway, against the gateway's own API: it
// says it is working offline while the central broker is down, and still checks a device out.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, newPage, phone, shot, signIn } from "./browser.mjs";
import { Region, distDir, requirePrerequisites, waitFor } from "./harness.mjs";

const city = "450100";
const custodian = `custodian-${city}`;
const badge = "B-OFF-9";
const cam = "450100-bc-301";

let region;
let browser;

before(async () => {
  requirePrerequisites();
  region = new Region("gateway");
  region.addUser("admin", "admin");
  region.addUser(custodian, "custodian", { city });
  region.addUser(`officer-${city}`, "officer", { city, badge });
  await region.startBrokers();
  await region.startServer();
  await region.startGateway(["--static-dir", distDir]);
  await region.login("admin");
  await waitFor("the gateway online at the server", async () => (await region.api("GET", "/api/v1/cities", { token: region.tokens.admin })).json.items[0].online);
  await region.addDevice({ id: cam, class: "body_camera", model: "DSJ-A9", city });
  region.reportDevice(cam, { battery: 95 });
  await waitFor("the gateway to know the camera", async () => {
    const r = await region.gatewayApi("GET", `/api/v1/devices/${cam}`);
    return r.status === 200 && r.json.registered && typeof r.json.battery_pct === "number";
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (process.exitCode) console.error(region?.logs());
  await region?.stop();
});

test("with the central broker stopped, the gateway's custodian page still checks a device out", async () => {
  const page = await newPage(browser, { viewport: phone });
  await signIn(page, region.gatewayUrl, custodian, region.passwords[custodian]);
  await page.waitForFunction(() => location.hash === "#/desk");
  await region.central.stop();
  const banner = page.getByTestId("offline-banner");
  await banner.waitFor({ timeout: 15000 });
  assert.equal((await banner.innerText()).replace(/\s+/g, " ").trim(), "离线模式 — 领用和归还照常进行，恢复后自动同步");
  await page.locator("#scan").focus();
  await page.keyboard.type(cam);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement?.id === "badge");
  await page.keyboard.type(badge);
  await page.keyboard.press("Enter");
  await page.getByTestId("desk-result").getByText("已领用").first().waitFor();
  await shot(page, "gateway-offline-checkout-phone");
  const d = await region.gatewayApi("GET", `/api/v1/devices/${cam}`);
  assert.equal(d.json.status, "checked_out");
  // The link comes back: the banner goes by itself.
  await region.central.start();
  await banner.waitFor({ state: "detached", timeout: 30000 });
  await page.context().close();
});
