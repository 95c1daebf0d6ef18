// The custodian's desk against a real eqm-server, eqm-gateway and Mosquitto: scan and go with
// typed keys only, a refusal in plain words, a damaged check-in, markup shown as text, an
// expired session that keeps what was typed, a bad badge that is never sent, and QR labels
// that read back (jsQR) as their device ids from a screenshot of the printed sheet.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import { launch, newPage, phone, shot, signIn } from "./browser.mjs";
import { Region, requirePrerequisites, screenshotDir, waitFor } from "./harness.mjs";

const city = "450100";
const custodian = `custodian-${city}`;
const officerBadge = "B-OFF-1";
const markup = "<img src=x onerror=window.__xss=1>";
const ids = {
  ok: "450100-bc-101",
  low: "450100-bc-102",
  expiry: "450100-bc-103",
  bad: "450100-bc-104",
  markup: "450100-bc-105",
};

let region;
let browser;

before(async () => {
  requirePrerequisites();
  region = new Region("custodian");
  region.addUser("admin", "admin");
  region.addUser(custodian, "custodian", { city });
  region.addUser(`officer-${city}`, "officer", { city, badge: officerBadge });
  await region.startBrokers();
  await region.startServer();
  await region.startGateway();
  await region.login("admin");
  await waitFor("the gateway online at the server", async () => (await region.api("GET", "/api/v1/cities", { token: region.tokens.admin })).json.items[0].online);
  for (const id of Object.values(ids)) {
    await region.addDevice({ id, class: "body_camera", model: id === ids.markup ? markup : "DSJ-A9", city });
  }
  // The gateway decides with the battery it heard last: one device is nearly flat.
  for (const id of Object.values(ids)) region.reportDevice(id, { battery: id === ids.low ? 12 : 95 });
  await waitFor("the gateway to know the devices", async () => {
    const r = await region.gatewayApi("GET", `/api/v1/devices/${ids.markup}`);
    return r.status === 200 && r.json.registered && typeof r.json.battery_pct === "number";
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (process.exitCode) console.error(region?.logs());
  await region?.stop();
});

/** Signs in as the custodian; the desk is the start page and the scan field has the focus. */
async function atDesk(options) {
  const page = await newPage(browser, options);
  await signIn(page, region.serverUrl, custodian, region.passwords[custodian], options);
  await page.waitForFunction(() => location.hash === "#/desk");
  await page.waitForFunction(() => document.activeElement?.id === "scan");
  return page;
}

async function scan(page, text) {
  await page.keyboard.type(text, { delay: 5 });
  await page.keyboard.press("Enter");
}

test("a refused check-out shows its reason and the fix in plain words", async () => {
  const page = await atDesk();
  await scan(page, ids.low);
  await page.waitForFunction(() => document.activeElement?.id === "badge");
  await scan(page, officerBadge);
  const result = page.getByTestId("desk-result");
  await result.waitFor();
  await assert.doesNotReject(result.getByText("不能领用").waitFor());
  assert.match(await result.innerText(), /电量 12%，需不低于 80%/);
  assert.match(await result.innerText(), /请充电后再领用/);
  assert.match(await result.getAttribute("class"), /desk-result-refused/);
  await shot(page, "custodian-refused-zh");
  assert.equal((await region.device(ids.low)).status, "available");
  await page.context().close();
});

test("the refusal reads in English too", async () => {
  const page = await atDesk({ locale: "en", lang: "en" });
  await scan(page, ids.low);
  await page.waitForFunction(() => document.activeElement?.id === "badge");
  await scan(page, officerBadge);
  const result = page.getByTestId("desk-result");
  await result.getByText("Check-out refused").waitFor();
  assert.match(await result.innerText(), /Battery 12%, needs at least 80%/);
  assert.match(await result.innerText(), /Charge it before checking it out/);
  await shot(page, "custodian-refused-en");
  await page.context().close();
});

test("scan and go: a check-out, then a damaged check-in with a note, with typed keys only", async () => {
  const page = await atDesk();
  let posts = [];
  page.on("request", (r) => r.method() === "POST" && posts.push(r.url()));
  await scan(page, ids.ok);
  await page.waitForFunction(() => document.activeElement?.id === "badge");
  await scan(page, officerBadge);
  const result = page.getByTestId("desk-result");
  await result.getByText("已领用").first().waitFor();
  assert.match(await result.innerText(), new RegExp(`领用人：officer-${city}`));
  assert.match(await result.getAttribute("class"), /desk-result-ok/);
  // Back to the scan field, and the device is on the list of devices out.
  await page.waitForFunction(() => document.activeElement?.id === "scan");
  await page.getByTestId("out-list").locator(`[data-device="${ids.ok}"]`).waitFor();
  await shot(page, "custodian-checkout-ok");
  assert.equal((await region.device(ids.ok)).status, "checked_out");
  assert.equal(posts.filter((u) => u.endsWith(`/devices/${ids.ok}/checkout`)).length, 1);

  // Check-in: scan it again, 2 = damaged, a note, Enter.
  await scan(page, ids.ok);
  await page.getByRole("radio", { name: /完好/ }).waitFor();
  await page.waitForFunction(() => document.activeElement?.getAttribute("name") === "condition");
  await page.keyboard.press("2");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement?.id === "note");
  await page.keyboard.type("镜头碎裂 " + markup, { delay: 2 });
  await page.keyboard.press("Enter");
  await result.getByText("已归还，已送修").waitFor();
  assert.match(await result.innerText(), /设备已转入维修/);
  await shot(page, "custodian-checkin-damaged");
  await waitFor("the server to show maintenance", async () => (await region.device(ids.ok)).status === "maintenance");
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await page.context().close();
});

test("a device model and a note holding markup are shown as text", async () => {
  const page = await atDesk();
  // The model, on the desk's device card.
  await scan(page, ids.markup);
  const card = page.getByTestId("device-card");
  await card.waitFor();
  assert.ok((await card.innerText()).includes(markup));
  assert.equal(await card.locator("img").count(), 0);
  // The note of the damaged check-in above, in the custody history.
  await page.goto(`${region.serverUrl}/#/devices/${ids.ok}`);
  const history = page.getByTestId("custody-history");
  await history.waitFor();
  assert.ok((await history.innerText()).includes(markup));
  assert.equal(await history.locator("img").count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await shot(page, "custodian-device-history");
  await page.context().close();
});

test("an expired session goes back to the login and keeps what was typed", async () => {
  const page = await atDesk();
  await scan(page, ids.expiry);
  await page.waitForFunction(() => document.activeElement?.id === "badge");
  // Every session ends at the server while the badge is being scanned.
  region.expireSessions();
  await page.keyboard.type(officerBadge);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => location.hash.startsWith("#/login"));
  await page.getByText("登录已过期").waitFor();
  await shot(page, "custodian-session-expired");
  assert.equal((await region.device(ids.expiry)).status, "available");
  await page.locator("#login-password").fill(region.passwords[custodian]);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => location.hash === "#/desk");
  // Back at the badge step with the badge as typed; Enter finishes the check-out.
  await page.waitForFunction(() => document.activeElement?.id === "badge");
  assert.equal(await page.locator("#badge").inputValue(), officerBadge);
  await page.keyboard.press("Enter");
  await page.getByTestId("desk-result").getByText("已领用").first().waitFor();
  assert.equal((await region.device(ids.expiry)).status, "checked_out");
  await page.context().close();
});

test("a bad badge says which field is wrong and why, and nothing is sent", async () => {
  const page = await atDesk({ viewport: phone });
  const sent = [];
  page.on("request", (r) => r.url().includes("/checkout") && sent.push(r.url()));
  await scan(page, ids.bad);
  await page.waitForFunction(() => document.activeElement?.id === "badge");
  await scan(page, "B 1!");
  const error = page.locator("#badge-error");
  await error.waitFor();
  assert.match(await error.innerText(), /工卡号只能由字母、数字、- 和 _ 组成/);
  assert.equal(await page.locator("#badge").getAttribute("aria-invalid"), "true");
  await shot(page, "custodian-bad-badge-phone");
  assert.deepEqual(sent, []);
  // Esc cancels back to the scan field.
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => document.activeElement?.id === "scan");
  await page.context().close();
});

test("the desk and the label sheet on a phone and a desktop", async () => {
  const page = await atDesk({ viewport: phone });
  await shot(page, "custodian-desk-phone");
  await page.setViewportSize({ width: 360, height: 740 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "the desk fits 360 px");
  await page.setViewportSize(phone);
  await page.goto(`${region.serverUrl}/#/labels`);
  const sheet = page.getByTestId("label-sheet");
  await sheet.locator(".label").first().waitFor();
  assert.equal(await sheet.locator(".label").count(), Object.keys(ids).length);
  const label = sheet.locator(`[data-device="${ids.ok}"]`);
  assert.ok((await label.locator("svg.qr path").getAttribute("d")).length > 100);
  await shot(page, "custodian-labels-phone");
  await page.setViewportSize({ width: 1440, height: 900 });
  await shot(page, "custodian-labels");
  await page.context().close();
});

// Device ids with every character class an id may hold (^[A-Za-z0-9_-]{1,64}$): all of them in
// one id of the longest length, ids a QR encoder writes in its numeric, alphanumeric and byte
// modes, and single characters. Registered in another city, so the desk's tests above see
// none of them.
const qrCity = "450200";
const qrIds = [
  "ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz_0123456789",
  "0123456789",
  "ABC-0123",
  "abc_def",
  "450200-bc-301",
  "-",
  "_",
  "a",
  "Z",
  "9",
];

/** The QR code in the part of a PNG screenshot that `box` covers (device pixels), read by jsQR. */
function readQr(png, box) {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const w = Math.min(png.width - x0, Math.ceil(box.width));
  const h = Math.min(png.height - y0, Math.ceil(box.height));
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const from = ((y0 + y) * png.width + x0) * 4;
    rgba.set(png.data.subarray(from, from + w * 4), y * w * 4);
  }
  return jsQR(rgba, w, h, { inversionAttempts: "dontInvert" });
}

test("every QR label of the printed sheet reads back as its device id", async () => {
  for (const id of qrIds) await region.addDevice({ id, class: "body_camera", model: "DSJ-A9", city: qrCity });
  // At about a printer's resolution, laid out for print (A4, 3 x 7 labels).
  const scale = 3;
  const page = await newPage(browser, { scale });
  await signIn(page, region.serverUrl, "admin", region.passwords.admin);
  await page.goto(`${region.serverUrl}/#/labels`);
  await page.getByLabel("设区市").selectOption(qrCity);
  const sheet = page.getByTestId("label-sheet");
  await waitFor("the sheet of the city's labels", async () => (await sheet.locator(".label").count()) === qrIds.length);
  await page.emulateMedia({ media: "print" });
  const png = PNG.sync.read(await sheet.screenshot({ path: `${screenshotDir}/custodian-labels-print.png` }));
  const origin = await sheet.boundingBox();
  for (const id of qrIds) {
    const label = sheet.locator(`.label[data-device="${id}"]`);
    const qr = await label.locator("svg.qr").boundingBox();
    // The code with the white of its label around it, as a scanner sees it.
    const read = readQr(png, {
      x: (qr.x - origin.x - 8) * scale,
      y: (qr.y - origin.y - 8) * scale,
      width: (qr.width + 16) * scale,
      height: (qr.height + 16) * scale,
    });
    assert.ok(read, `no QR code found on the label of ${id}`);
    assert.equal(read.data, id);
    // The id, model and city printed beside the code are whole, not cut off by the label's edge.
    const cut = await label.evaluate((e) => {
      const edge = e.getBoundingClientRect();
      return [...e.querySelectorAll(".label-text p")]
        .filter((p) => {
          const r = p.getBoundingClientRect();
          return r.top < edge.top || r.bottom > edge.bottom || r.left < edge.left || r.right > edge.right || p.scrollWidth > p.clientWidth;
        })
        .map((p) => p.className);
    });
    assert.deepEqual(cut, [], `the label of ${id} cuts off its text`);
  }
  await page.context().close();
});
