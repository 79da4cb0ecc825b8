import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext } from "playwright-core";

/**
 * A real browser for the dashboard's tests: Debian's Chromium (`apt-get install chromium`,
 * which `scripts/setup.sh` does) driven by playwright-core. Never a browser download. The flags
 * keep it off the network it would otherwise call home to (refused here, and slow).
 */
export const CHROMIUM = process.env.SLIPWAY_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export interface TestBrowser {
  browser: Browser;
  /** A fresh browser profile (cookies of its own), phone-sized with `phone`. */
  newContext(options?: { phone?: boolean; dark?: boolean }): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** Launches Chromium (playwright gives it a new, empty profile directory of its own). */
export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  return {
    browser,
    newContext: (options = {}) =>
      browser.newContext({
        viewport: options.phone ? { width: 390, height: 844 } : { width: 1280, height: 860 },
        deviceScaleFactor: 1,
        colorScheme: options.dark ? "dark" : "light",
        ...(options.phone ? { isMobile: true, hasTouch: true } : {}),
      }),
    close: () => browser.close(),
  };
}
