import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSigned } from "../helpers/acme.ts";
import { chromiumAvailable } from "../helpers/browser.ts";
import { startDashboardStory, type DashboardStory } from "../helpers/dashboard.ts";
import type { TestForge, TestProject, TestUser } from "../helpers/forge.ts";
import type { TestPlatform } from "../helpers/platform.ts";

/**
 * The dashboard with the keyboard only — no click, no fill: sign in, add a GitLab connection,
 * pick a repository and one of its branches, create the site, open its first build; lock,
 * unlock, retry, cancel and publish deploys; turn deploy previews off in the settings, add a
 * variable and delete it through the confirmation (Escape gives the focus back); set a custom
 * domain and upload its certificate in a dialog that keeps the focus inside and gives it back;
 * force HTTPS; create and revoke an access token; sign out. Every control is reached with Tab or
 * Shift+Tab (in the page's order), shows where the focus is, and is worked with Enter, Space or
 * the arrow keys.
 */

const LONG = 90_000;

/** What a person hears for the focused element: its role and its name. */
const FOCUSED = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return { role: "", name: "" };
  const role = el.getAttribute("role") ?? (el.tagName === "A" ? "link" : el.tagName === "INPUT" ? (el.type === "checkbox" || el.type === "radio" ? el.type : "textbox") : el.tagName.toLowerCase());
  const label = el.getAttribute("aria-label") ?? (el.labels && el.labels[0] ? el.labels[0].textContent : el.textContent);
  const row = el.closest("[data-deploy]");
  return { role, name: (label ?? "").replace(/\\s+/g, " ").trim(), id: el.id, outline: getComputedStyle(el).outlineStyle, deploy: row ? row.getAttribute("data-deploy") : null, inDialog: el.closest("dialog[open]") !== null };
})()`;

interface Focused {
  role: string;
  name: string;
  id: string;
  outline: string;
  /** The deploy of the list row the element is in. */
  deploy: string | null;
  inDialog: boolean;
}

const focused = (page: Page) => page.evaluate<Focused>(FOCUSED);

/**
 * Presses Tab until the focused element is `role` named `name` (and passes `also`); fails after
 * `max` presses. Every element it stops on shows where the focus is.
 */
async function tabTo(
  page: Page,
  role: string,
  name: RegExp,
  options: { max?: number; also?: (f: Focused) => boolean; key?: string } = {},
): Promise<Focused> {
  const seen: string[] = [];
  const max = options.max ?? 80;
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(options.key ?? "Tab");
    const now = await focused(page);
    if (now.role === role && name.test(now.name) && (options.also?.(now) ?? true)) {
      assert.notEqual(now.outline, "none", `the focus on ${role} "${now.name}" is visible`);
      return now;
    }
    seen.push(`${now.role} "${now.name.slice(0, 40)}"`);
  }
  assert.fail(`no ${role} named ${name} within ${max} Tabs; passed: ${seen.join(", ")}`);
}

describe(
  "the dashboard with the keyboard only",
  { skip: !chromiumAvailable() && "Chromium is not installed (apt-get install chromium)" },
  () => {
    let story: DashboardStory;
    let forge: TestForge;
    let platform: TestPlatform;
    let owner: TestUser;
    let project: TestProject;
    let page: Page;
    let certDir = "";

    before(async () => {
      certDir = await mkdtemp(join(tmpdir(), "slipway-kb-certs-"));
      story = await startDashboardStory({
        owner: "kim",
        path: "notes",
        files: {
          "index.html": "<h1>notes</h1>\n",
          "package.json": JSON.stringify({ devDependencies: { vite: "5" } }),
          // Slow enough for a keyboard to reach Cancel while it runs.
          "build.sh": "mkdir -p dist && cp index.html dist/ && echo built && sleep 4\n",
        },
        forgeApi: true,
        buildWorkers: 1,
      });
      ({ forge, platform, owner, project, page } = story);
      await story.repo.push("main", ["develop", "release/2"]);
    });

    after(async () => {
      await story?.stop();
      if (certDir) await rm(certDir, { recursive: true, force: true });
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
      // Prefilled from the repository's files (a Vite project), saying so; typing replaces it.
      await page.getByTestId("detected-cmd").waitFor({ timeout: 15_000 });
      assert.equal(await page.getByTestId("detected-cmd").innerText(), "Detected: Vite");
      const [connection] = (await platform.api<Array<{ id: string }>>("GET", "/git_connections"))
        .body;
      const detected = await platform.api<{ cmd: string; dir: string }>(
        "GET",
        `/git_connections/${connection?.id}/repos/${project.id}/build_settings?branch=release%2F2`,
      );
      assert.equal(detected.status, 200, detected.text);
      await tabTo(page, "textbox", /^Build command$/);
      assert.equal(await page.getByLabel("Build command").inputValue(), detected.body.cmd);
      await press("Control+A");
      await type("sh build.sh");
      await tabTo(page, "textbox", /^Publish directory$/);
      assert.equal(await page.getByLabel("Publish directory").inputValue(), detected.body.dir);
      await story.shot("new-site-branch");
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

    it("works a deploy's buttons: lock, unlock, retry, cancel, publish", async () => {
      const firstId = page.url().split("/").pop() ?? "";
      // Auto publishing: locked and unlocked with Enter (the button keeps the focus).
      await tabTo(page, "button", /^Lock auto publishing$/);
      await press("Enter");
      await see("Auto publishing is locked");
      assert.equal((await focused(page)).name, "Unlock auto publishing", "the same button");
      await press("Enter");
      await page.getByText("Auto publishing is locked").waitFor({ state: "hidden" });

      // Retry builds the branch again; Cancel stops the running build.
      await tabTo(page, "button", /^Retry build$/);
      await press("Enter");
      await page.waitForURL((url) => !url.pathname.endsWith(firstId));
      await tabTo(page, "button", /^Cancel build$/);
      await press("Space");
      await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: LONG });
      const canceledId = page.url().split("/").pop() ?? "";
      const canceled = await platform.api<{ state: string }>("GET", `/deploys/${canceledId}`);
      assert.match(canceled.body.state, /^(error|canceled|cancelled)$/, canceled.text);

      // Retry again and let it publish: the first deploy is then an older one to publish again.
      await tabTo(page, "button", /^Retry build$/);
      await press("Enter");
      await page.waitForURL((url) => !url.pathname.endsWith(canceledId));
      await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: LONG });
      await page.locator(".deploy-heading").getByText("published").waitFor({ timeout: LONG });
      await tabTo(page, "link", /All deploys of notes-kb/);
      await press("Enter");
      await tabTo(page, "link", /./, { also: (f) => f.deploy === firstId });
      await press("Enter");
      await page.waitForURL((url) => url.pathname.endsWith(firstId));
      await tabTo(page, "button", /^Publish this deploy$/);
      await press("Enter");
      await see("This deploy is now published");
      const site = await platform.api<{ published_deploy: { id: string } }>(
        "GET",
        "/sites/notes-kb",
      );
      assert.equal(site.body.published_deploy.id, firstId);
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

    it("sets a domain, uploads a certificate in a dialog that keeps the focus, and turns on HTTPS", async () => {
      await tabTo(page, "link", /^Domains$/, { key: "Shift+Tab", max: 120 });
      await press("Enter");
      await see("No custom domain yet");
      await tabTo(page, "textbox", /^Primary domain$/);
      await type("notes.example.com");
      await press("Enter");
      await see("Saved. Slipway checks the new names now.");
      await page.locator('[data-domain="notes.example.com"]').waitFor();

      // The dialog takes the focus, keeps it inside (both ways round), and Escape gives it back.
      await tabTo(page, "button", /^Upload a certificate$/);
      await press("Enter");
      let now = await focused(page);
      assert.deepEqual([now.role, now.name, now.inDialog], ["textarea", "Certificate", true]);
      await tabTo(page, "button", /^Upload certificate$/, { max: 6 });
      await press("Tab");
      now = await focused(page);
      assert.deepEqual([now.name, now.inDialog], ["Close", true], "Tab wraps to the first control");
      await press("Shift+Tab");
      now = await focused(page);
      assert.deepEqual([now.name, now.inDialog], ["Upload certificate", true], "and back");
      await press("Escape");
      await page.getByRole("dialog").waitFor({ state: "hidden" });
      assert.equal((await focused(page)).name, "Upload a certificate", "the focus is back");

      const cert = await selfSigned(certDir, ["notes.example.com", "www.notes.example.com"]);
      await press("Enter");
      // Pasted, as a person would.
      await page.keyboard.insertText(cert.certPem);
      await tabTo(page, "textarea", /^Private key$/, { max: 2 });
      await page.keyboard.insertText(cert.keyPem);
      await tabTo(page, "button", /^Upload certificate$/, { max: 4 });
      await press("Enter");
      await page.getByRole("dialog").waitFor({ state: "hidden" });
      assert.equal((await focused(page)).name, "Upload a certificate", "the focus is back");
      await page.getByTestId("cert-expires").waitFor();
      await page
        .locator('[data-domain="notes.example.com"] .badge[data-state="active"]')
        .waitFor({ timeout: 15_000 });

      await tabTo(page, "checkbox", /^Force HTTPS/);
      await press("Space");
      await tabTo(page, "button", /^Save HTTPS settings$/);
      await press("Enter");
      await page.getByRole("form", { name: "HTTPS settings" }).getByText("Saved.").waitFor();
      const site = await platform.api<{ force_ssl: boolean; custom_domain: string }>(
        "GET",
        "/sites/notes-kb",
      );
      assert.equal(site.body.custom_domain, "notes.example.com");
      assert.equal(site.body.force_ssl, true);
    });

    it("creates and revokes an access token", async () => {
      await tabTo(page, "link", /^Access tokens/, { key: "Shift+Tab", max: 120 });
      await press("Enter");
      await see("Personal access tokens");
      await tabTo(page, "textbox", /^Name$/);
      await type("kb-laptop");
      await press("Enter");
      await see("Copy the token now");
      const row = page.locator('tr[data-token="kb-laptop"]');
      await row.waitFor();
      await tabTo(page, "button", /^Revoke$/);
      await press("Space");
      assert.equal((await focused(page)).name, "Yes");
      await press("Enter");
      await row.waitFor({ state: "detached" });
    });

    it("signs out", async () => {
      await tabTo(page, "button", /^Sign out$/);
      await press("Enter");
      await page.waitForURL(/\/sign-in/);
    });
  },
);
