import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { runChecked } from "../../src/lib/run.ts";
import { chromiumAvailable, launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { createPushedProject, startForgeAndPlatform, type WorkingCopy } from "../helpers/e2e.ts";
import type { TestForge, TestProject, TestUser } from "../helpers/forge.ts";
import type { TestPlatform } from "../helpers/platform.ts";

/**
 * The main flow with the keyboard only — no click, no fill: sign in, add a GitLab connection,
 * pick a repository and one of its branches, create the site, open its first build, turn deploy
 * previews off in the settings, add a variable and delete it through the confirmation (Escape
 * gives the focus back), sign out. Every control is reached with Tab (in the page's order) and
 * worked with Enter, Space or the arrow keys.
 */

const ROOT = resolve(import.meta.dirname, "../..");
const LONG = 90_000;

/** What a person hears for the focused element: its role and its name. */
const FOCUSED = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return { role: "", name: "" };
  const role = el.getAttribute("role") ?? (el.tagName === "A" ? "link" : el.tagName === "INPUT" ? (el.type === "checkbox" || el.type === "radio" ? el.type : "textbox") : el.tagName.toLowerCase());
  const label = el.getAttribute("aria-label") ?? (el.labels && el.labels[0] ? el.labels[0].textContent : el.textContent);
  return { role, name: (label ?? "").replace(/\\s+/g, " ").trim(), id: el.id, outline: getComputedStyle(el).outlineStyle };
})()`;

interface Focused {
  role: string;
  name: string;
  id: string;
  outline: string;
}

const focused = (page: Page) => page.evaluate<Focused>(FOCUSED);

/** Presses Tab until the focused element is `role` named `name`; fails after `max` presses. */
async function tabTo(page: Page, role: string, name: RegExp, max = 80): Promise<Focused> {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const now = await focused(page);
    if (now.role === role && name.test(now.name)) return now;
    seen.push(`${now.role} "${now.name.slice(0, 40)}"`);
  }
  assert.fail(`no ${role} named ${name} within ${max} Tabs; passed: ${seen.join(", ")}`);
}

describe(
  "the dashboard with the keyboard only",
  { skip: !chromiumAvailable() && "Chromium is not installed (apt-get install chromium)" },
  () => {
    let forge: TestForge;
    let platform: TestPlatform;
    let owner: TestUser;
    let project: TestProject;
    let repo: WorkingCopy;
    let browser: TestBrowser;
    let page: Page;
    let shots: string;

    before(async () => {
      if (!existsSync(join(ROOT, "dist", "web", "index.html"))) {
        await runChecked(process.execPath, ["--import", "tsx", "scripts/build-web.ts"], {
          cwd: ROOT,
        });
      }
      shots = process.env.SLIPWAY_SCREENSHOTS
        ? resolve(ROOT, process.env.SLIPWAY_SCREENSHOTS)
        : await mkdtemp(join(tmpdir(), "slipway-shots-"));
      await mkdir(shots, { recursive: true });
      ({ forge, platform } = await startForgeAndPlatform({ forgeApi: true, buildWorkers: 1 }));
      ({ owner, project, repo } = await createPushedProject(forge, "kim", "notes", {
        "index.html": "<h1>notes</h1>\n",
        "build.sh": "mkdir -p dist && cp index.html dist/ && echo built\n",
      }));
      await repo.push("main", ["develop", "release/2"]);
      browser = await launchBrowser();
      page = await (await browser.newContext()).newPage();
    });

    after(async () => {
      await browser?.close();
      await repo?.cleanup();
      await platform?.stop();
      await forge?.stop();
    });

    const see = (text: string | RegExp, timeout = 15_000) =>
      page.getByText(text).first().waitFor({ state: "visible", timeout });
    const press = (key: string) => page.keyboard.press(key);
    const type = (text: string) => page.keyboard.type(text);

    it("signs in, links a repository on a branch picked from its list, and builds it", async () => {
      await page.goto(`${platform.url}/sign-in`);
      assert.equal((await focused(page)).name, "E-mail address", "the first field has the focus");
      await type("admin@localhost");
      await tabTo(page, "textbox", /^Password$/);
      await type(platform.platform.generatedAdminPassword?.password ?? "");
      await press("Enter");
      await see("You have no sites yet");

      const newSite = await tabTo(page, "link", /^New site$/);
      assert.notEqual(newSite.outline, "none", "the focus is visible");
      await press("Enter");
      await see("New site from git");

      // The two ways to link are tabs: one tab stop, the arrows switch.
      await tabTo(page, "tab", /Through a git connection/);
      await press("ArrowRight");
      assert.match((await focused(page)).name, /By hand/);
      await see("Make a deploy key");
      await press("ArrowLeft");
      assert.match((await focused(page)).name, /Through a git connection/);
      await see("No connection yet");

      await tabTo(page, "textbox", /^Provider URL$/);
      await type(forge.url);
      await tabTo(page, "textbox", /^Token$/);
      await type(owner.token);
      await press("Enter");
      await see(project.path_with_namespace, LONG);

      await tabTo(page, "radio", new RegExp(project.path_with_namespace));
      await press("Space");
      await tabTo(page, "textbox", /^Site name$/);
      await press("Control+A");
      await type("notes-kb");
      // The repository's branches in a select, its default branch chosen; arrows pick another.
      await tabTo(page, "select", /^Branch$/);
      const branchName = page.getByLabel("Branch name");
      assert.equal(await branchName.inputValue(), "main");
      await press("ArrowDown");
      assert.equal(await page.getByLabel("Branch", { exact: true }).inputValue(), "develop");
      assert.equal(await branchName.inputValue(), "develop");
      await press("ArrowDown");
      assert.equal(await branchName.inputValue(), "release/2");
      await tabTo(page, "textbox", /^Build command$/);
      await type("sh build.sh");
      await tabTo(page, "textbox", /^Publish directory$/);
      await type("dist");
      await page.screenshot({ path: join(shots, "new-site-branch.png") });
      await press("Enter");
      await see("notes-kb is linked.", LONG);
      const site = await platform.api<{ build_settings: { repo_branch: string } }>(
        "GET",
        "/sites/notes-kb",
      );
      assert.equal(site.body.build_settings.repo_branch, "release/2");

      await tabTo(page, "link", /^Watch the first build$/);
      await press("Enter");
      await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: LONG });
      await see("built");
      // The log is a stop of its own, scrolled with the keys.
      await tabTo(page, "log", /^Build log lines$/);
    });

    it("changes a setting, and a confirmation gives the focus back", async () => {
      await tabTo(page, "link", /^Settings$/);
      await press("Enter");
      await see("Build settings");
      await tabTo(page, "checkbox", /^Deploy previews/);
      await press("Space");
      assert.equal(
        await page.getByRole("checkbox", { name: /Deploy previews/ }).isChecked(),
        false,
      );
      await tabTo(page, "button", /^Save build settings$/);
      await press("Enter");
      await see("Saved. The next build uses them.");
      const site = await platform.api<{ build_settings: { deploy_previews: boolean } }>(
        "GET",
        "/sites/notes-kb",
      );
      assert.equal(site.body.build_settings.deploy_previews, false);

      await tabTo(page, "textbox", /^Key$/);
      await type("KB_VAR");
      await tabTo(page, "textbox", /^Value$/);
      await type("typed");
      await press("Enter");
      const row = page.locator('tr[data-env="KB_VAR"]');
      await row.waitFor();

      // Delete asks first; the question takes the focus, Escape closes it and gives it back.
      await tabTo(page, "button", /^Delete$/);
      await press("Space");
      assert.equal((await focused(page)).name, "Yes");
      await press("Escape");
      assert.equal((await focused(page)).name, "Delete");
      await press("Enter");
      assert.equal((await focused(page)).name, "Yes");
      await press("Enter");
      await row.waitFor({ state: "detached" });
      // The button went with its row: the focus is on the page's content, not lost.
      await page.waitForFunction("document.activeElement && document.activeElement.id === 'main'");
      await tabTo(page, "textbox", /^Key$/);
    });

    it("signs out", async () => {
      await tabTo(page, "button", /^Sign out$/);
      await press("Enter");
      await page.waitForURL(/\/sign-in/);
    });
  },
);
