import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { chromiumAvailable } from "../helpers/browser.ts";
import { signInWithToken, startDashboardStory, type DashboardStory } from "../helpers/dashboard.ts";
import { addForgeDeployKey, repoWithDeployKey } from "../helpers/e2e.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { createDeployKey, waitForBuild } from "../helpers/sites.ts";

/**
 * A build that prints 100,000 lines, watched live in the dashboard: every line arrives once, the
 * last one can be scrolled to and read, and the page keeps answering. What the main thread went
 * through (long tasks, from a PerformanceObserver in the page) is reported in the test's output;
 * nothing here asserts a time.
 */

const LONG = 180_000;
const LINES = 100_000;

const BUILD_SH = [
  `seq ${LINES} | sed 's/.*/line & of ${LINES}/'`,
  "mkdir -p dist && cp index.html dist/",
  "",
].join("\n");

/** Records the page's long tasks (over 50 ms) from its first script on. */
const OBSERVE_LONG_TASKS = `
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
`;

interface LongTasks {
  count: number;
  maxMs: number;
  totalMs: number;
}

/** The long tasks since the last call (and forgets them). */
async function takeLongTasks(page: Page): Promise<LongTasks> {
  const durations = await page.evaluate<number[]>(
    "(() => { const taken = window.__longTasks; window.__longTasks = []; return taken; })()",
  );
  return {
    count: durations.length,
    maxMs: Math.round(Math.max(0, ...durations)),
    totalMs: Math.round(durations.reduce((a, b) => a + b, 0)),
  };
}

const describeTasks = (what: string, tasks: LongTasks) =>
  `${what}: ${tasks.count} long task(s), longest ${tasks.maxMs} ms, ${tasks.totalMs} ms in all`;

describe(
  "a 100,000-line build log in the dashboard",
  { skip: !chromiumAvailable() && "Chromium is not installed (apt-get install chromium)" },
  () => {
    let story: DashboardStory;
    let platform: TestPlatform;
    let page: Page;

    before(async () => {
      story = await startDashboardStory({
        owner: "lena",
        path: "chatty",
        files: { "index.html": "<h1>chatty</h1>\n", "build.sh": BUILD_SH },
        buildWorkers: 1,
        initScript: OBSERVE_LONG_TASKS,
      });
      ({ platform, page } = story);
      const key = await createDeployKey(platform);
      await addForgeDeployKey(story.forge, story.project, story.owner, key.public_key);
      await signInWithToken(page, platform);
      const created = await platform.api<{ deploy_id: string; build_id: string }>(
        "POST",
        "/sites",
        { body: { name: "chatty", repo: repoWithDeployKey(story.project, key.id) } },
      );
      assert.equal(created.status, 201, created.text);
      // The page opens while the build runs: the log streams in live.
      await page.goto(`${platform.url}/sites/chatty/deploys/${created.body.deploy_id}`);
      const build = await waitForBuild(platform, created.body.build_id);
      assert.equal(build.state, "done", build.error ?? "");
    });

    after(async () => {
      await story?.stop();
    });

    it("shows every line once, scrolls to the last, and keeps answering", async (t) => {
      const status = page.locator(".log-status");
      await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: LONG });
      // The whole log, as the API stores it (read once the page saw the stream end).
      const buildId = (
        await platform.api<{ build_id: string }>("GET", `/deploys/${page.url().split("/").pop()}`)
      ).body.build_id;
      const log = await platform.api<Array<{ seq: number; message: string }>>(
        "GET",
        `/builds/${buildId}/log`,
      );
      const total = log.body.length;
      const last = log.body.findIndex((l) => l.message === `line ${LINES} of ${LINES}`);
      assert.ok(
        last > 0,
        `the log API returns the whole log, the build's last line included (${log.body.length} lines, last: ${log.body
          .slice(-5)
          .map((l) => l.message)
          .join(" | ")})`,
      );
      assert.ok(total > LINES, `every printed line is kept (${total} in all)`);
      assert.ok(!log.body.some((l) => /lines were dropped/.test(l.message)), "none dropped");

      const scroller = page.locator(".log-scroll");
      assert.equal(Number(await scroller.getAttribute("data-lines")), total, "each line once");
      assert.match(await status.innerText(), new RegExp(`${total.toLocaleString("en-US")} lines`));
      t.diagnostic(
        describeTasks(`streaming ${total} lines into the page`, await takeLongTasks(page)),
      );

      // The log followed the end: the last line the build printed is on screen.
      const lastRow = page.locator(".log-row", { hasText: `line ${LINES} of ${LINES}` });
      await lastRow.waitFor({ state: "visible" });

      // To the top and back to the end with the keyboard.
      await scroller.focus();
      await page.keyboard.press("Home");
      await page.locator(".log-row", { hasText: "Build ready to start" }).waitFor();
      await page.getByRole("button", { name: "Follow the end" }).waitFor();
      for (let i = 0; i < 20; i++) await page.keyboard.press("PageDown");
      await page.keyboard.press("End");
      await lastRow.waitFor({ state: "visible" });
      const box = await lastRow.boundingBox();
      const view = await scroller.boundingBox();
      assert.ok(box && view, "the last line and the log are laid out");
      assert.ok(
        box.y >= view.y && box.y + box.height <= view.y + view.height + 1,
        "the last line is inside the log's visible area",
      );
      // Its number is its place in the whole log.
      assert.equal(Number(await lastRow.locator(".log-no").innerText()), last + 1);
      t.diagnostic(describeTasks("scrolling to the top and back", await takeLongTasks(page)));

      // Still answering: a stage button jumps into the middle, Follow the end comes back.
      await page.locator(".log-section-btn", { hasText: "building" }).click();
      await page.locator(".log-text", { hasText: new RegExp(`^line 1 of ${LINES}$`) }).waitFor();
      await page.getByRole("button", { name: "Follow the end" }).click();
      await lastRow.waitFor({ state: "visible" });
      t.diagnostic(describeTasks("jumping to a stage and back", await takeLongTasks(page)));
      await story.shot("deploy-long-log");
    });
  },
);
