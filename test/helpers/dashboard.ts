import { existsSync } from "node:fs";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { runChecked } from "../../src/lib/run.ts";
import { launchBrowser, type TestBrowser } from "./browser.ts";
import { createPushedProject, startForgeAndPlatform, type WorkingCopy } from "./e2e.ts";
import type { TestForge, TestProject, TestUser } from "./forge.ts";
import type { TestPlatform } from "./platform.ts";

/**
 * The set-up every dashboard browser test shares: the built dashboard, where screenshots go, a
 * browser with one page (uncaught page errors collected), and signing in with a token. With a
 * forge project (`startDashboardStory`), also the forge and the owner's pushed working copy.
 */

const ROOT = resolve(import.meta.dirname, "../..");

/** Builds `dist/web` (the dashboard the platform serves) when it is not there yet. */
export async function ensureDashboardBuilt(): Promise<void> {
  if (existsSync(join(ROOT, "dist", "web", "index.html"))) return;
  await runChecked(process.execPath, ["--import", "tsx", "scripts/build-web.ts"], { cwd: ROOT });
}

/** `$SLIPWAY_SCREENSHOTS` (`npm run screenshots`: docs/screenshots/), or a temporary directory. */
async function screenshotsDir(): Promise<string> {
  const dir = process.env.SLIPWAY_SCREENSHOTS
    ? resolve(ROOT, process.env.SLIPWAY_SCREENSHOTS)
    : await mkdtemp(join(tmpdir(), "slipway-shots-"));
  await mkdir(dir, { recursive: true });
  return dir;
}

export interface DashboardBrowser {
  browser: TestBrowser;
  context: BrowserContext;
  page: Page;
  /** Where screenshots go. */
  shots: string;
  /** Uncaught errors of `page` (a test ends by checking there were none). */
  errors: string[];
  /** Saves a screenshot of what `target` (the main page by default) shows, or all of it. */
  shot(name: string, options?: { target?: Page; fullPage?: boolean }): Promise<void>;
  /** Waits until the page shows `text` (inside `within`, or anywhere). */
  see(text: string | RegExp, timeout?: number, within?: string): Promise<void>;
  close(): Promise<void>;
}

/** Chromium with one page on a fresh profile; `initScript` runs before each page's own scripts. */
export async function openDashboard(
  options: { initScript?: string } = {},
): Promise<DashboardBrowser> {
  await ensureDashboardBuilt();
  const shots = await screenshotsDir();
  const browser = await launchBrowser();
  const context = await browser.newContext();
  if (options.initScript !== undefined) await context.addInitScript(options.initScript);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return {
    browser,
    context,
    page,
    shots,
    errors,
    shot: async (name, options = {}) => {
      const target = options.target ?? page;
      // The logo and other images loaded (a page that polls never goes network-idle).
      // (A string evaluated as is: the dashboard's Content-Security-Policy refuses eval.)
      await target.evaluate(
        "Promise.all([...document.images].map((image) => image.complete || new Promise((done) => { image.onload = image.onerror = done; })))",
      );
      // A whole page from its top (the sticky bar stays where the page was scrolled to).
      if (options.fullPage) await target.evaluate("window.scrollTo(0, 0)");
      await target.screenshot({
        path: join(shots, `${name}.png`),
        fullPage: options.fullPage ?? false,
      });
    },
    see: (text, timeout = 15_000, within = "body") =>
      page.locator(within).getByText(text).first().waitFor({ state: "visible", timeout }),
    close: () => browser.close(),
  };
}

/** Signs `page` in by pasting an access token (the admin's by default) on the sign-in page. */
export async function signInWithToken(
  page: Page,
  platform: TestPlatform,
  token = platform.adminToken,
): Promise<void> {
  await page.goto(`${platform.url}/sign-in`);
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in with token" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor({ timeout: 15_000 });
}

export interface DashboardStory extends DashboardBrowser {
  forge: TestForge;
  platform: TestPlatform;
  owner: TestUser;
  project: TestProject;
  /** The owner's working copy of `project`, on `main`. */
  repo: WorkingCopy;
  /** Working copies made during the test, cleaned up by `stop()`. */
  repos: WorkingCopy[];
  stop(): Promise<void>;
}

/**
 * The forge with `owner/path` holding `files` (pushed to `main`), a platform that reaches it
 * (its HTTP API too with `forgeApi`, for git connections), and the dashboard in a browser.
 */
export async function startDashboardStory(options: {
  owner: string;
  path: string;
  files: Record<string, string>;
  forgeApi?: boolean;
  buildWorkers?: number;
  initScript?: string;
}): Promise<DashboardStory> {
  const { forge, platform } = await startForgeAndPlatform({
    ...(options.forgeApi !== undefined ? { forgeApi: options.forgeApi } : {}),
    ...(options.buildWorkers !== undefined ? { buildWorkers: options.buildWorkers } : {}),
  });
  const repos: WorkingCopy[] = [];
  let view: DashboardBrowser | undefined;
  const stop = async () => {
    await view?.close();
    for (const copy of repos) await copy.cleanup();
    await platform.stop();
    await forge.stop();
  };
  try {
    const pushed = await createPushedProject(forge, options.owner, options.path, options.files);
    repos.push(pushed.repo);
    view = await openDashboard(
      options.initScript !== undefined ? { initScript: options.initScript } : {},
    );
    return { ...view, ...pushed, forge, platform, repos, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
