// Debian's Chromium, driven by playwright-core: no browser download. Contexts are set to
// Asia/Shanghai and the language under test; each test saves screenshots under the build folder.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { screenshotDir } from "./harness.mjs";

export const desktop = { width: 1440, height: 900 };
export const phone = { width: 390, height: 844 };

export async function launch() {
  return chromium.launch({
    executablePath: process.env.EQM_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    // As root Chromium refuses to start without --no-sandbox; the rest keep it off a network
    // this machine does not have.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** `scale`: device pixels per CSS pixel (3 is about a 300 dpi printer's). */
export async function newPage(browser, { locale = "zh-CN", viewport = desktop, scale = 1 } = {}) {
  const context = await browser.newContext({ locale, timezoneId: "Asia/Shanghai", viewport, deviceScaleFactor: scale });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  return page;
}

/** A full-page screenshot named after the test, in the screenshot folder. */
export async function shot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Signs in through the login form, with the keyboard. */
export async function signIn(page, base, name, password, { lang } = {}) {
  await page.goto(`${base}/#/login`);
  if (lang === "en") await page.getByRole("button", { name: "English" }).click();
  await page.locator("#login-name").fill(name);
  await page.locator("#login-password").fill(password);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => !location.hash.startsWith("#/login"));
}
