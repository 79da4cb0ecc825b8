import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { chromiumAvailable, type TestBrowser } from "../helpers/browser.ts";
import { startDashboardStory, type DashboardStory } from "../helpers/dashboard.ts";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  waitForPage,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import type { TestForge, TestProject, TestUser } from "../helpers/forge.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { poll } from "../helpers/wait.ts";

/**
 * The dashboard as a person uses it, in a real browser (Debian's Chromium through
 * playwright-core) against a real platform and the built-in forge: sign in with the first
 * start's password; link a forge repository through a GitLab connection and watch the link's
 * steps; watch the first build's log to its end; see the site live; push and see the new deploy
 * appear and go live without reloading; publish the previous deploy (rollback); a failing
 * build's diagnosis; settings and an environment variable used by the next build; webhook
 * deliveries; link health and Repair; access tokens; a second user (invited) who cannot see the
 * first user's site.
 *
 * Screenshots of the main pages go to `$SLIPWAY_SCREENSHOTS` (`npm run screenshots` sets it to
 * docs/screenshots/), or to a temporary directory.
 */

const LONG = 90_000;

/** Prints a line every 50 ms for 2 s, then publishes. */
const SLOW_BUILD_SH = [
  "i=0",
  'while [ $i -lt 40 ]; do i=$((i+1)); echo "step $i"; sleep 0.05; done',
  "mkdir -p dist && cp index.html dist/",
  "",
].join("\n");

const BUILD_SH = [
  "printf '\\033[32mcolour check: green\\033[0m and \\033[1;31mbold red\\033[0m\\n'",
  "mkdir -p dist && cp index.html _redirects dist/",
  'echo "built $(cat index.html)"',
  "",
].join("\n");

describe(
  "the dashboard in a real browser (platform + forge)",
  { skip: !chromiumAvailable() && "Chromium is not installed (apt-get install chromium)" },
  () => {
    let story: DashboardStory;
    let forge: TestForge;
    let platform: TestPlatform;
    let owner: TestUser;
    let project: TestProject;
    let repo: WorkingCopy;
    let browser: TestBrowser;
    let context: BrowserContext;
    let page: Page;
    let port = "";

    before(async () => {
      story = await startDashboardStory({
        owner: "dana",
        path: "site",
        files: {
          "index.html": "<h1>version one</h1>\n",
          // One rule and one broken line: the deploy's summary names the broken one.
          _redirects: "/old / 301\n/broken\n",
          "build.sh": BUILD_SH,
        },
        forgeApi: true,
        buildWorkers: 2,
      });
      ({ forge, platform, owner, project, repo, browser, context, page } = story);
      port = new URL(platform.url).port;
    });

    after(async () => {
      await story?.stop();
    });

    const shot = (target: Page, name: string) => story.shot(name, { target });

    /** Waits until the page shows `text` (in `within`, or anywhere). */
    const see = (text: string | RegExp, timeout = 15_000, within = "body") =>
      story.see(text, timeout, within);

    const deployRows = () => page.locator("li.deploy-row");

    it("signs in with the first start's password, with the keyboard", async () => {
      await page.goto(`${platform.url}/sites/dash/deploys/abc`);
      await page.waitForURL(/\/sign-in\?redirect=/);
      await shot(page, "sign-in");
      const password = platform.platform.generatedAdminPassword?.password ?? "";
      assert.ok(password.length >= 16, "slipway start generates the first password");

      // A wrong password: the API's words, on screen.
      await page.getByLabel("E-mail address").fill("admin@localhost");
      await page.getByLabel("Password", { exact: true }).fill("not-the-password");
      await page.getByLabel("Password", { exact: true }).press("Enter");
      await see("The e-mail address or the password is wrong");

      await page.getByLabel("Password", { exact: true }).fill(password);
      await page.getByLabel("Password", { exact: true }).press("Enter");
      // Back where the link pointed (a deploy of a site that does not exist yet).
      await page.waitForURL(`${platform.url}/sites/dash/deploys/abc`);
      await see("Site not found");
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === "slipway_session");
      assert.equal(session?.httpOnly, true);
      assert.equal(session?.sameSite, "Lax");
      await page.getByRole("link", { name: "Sites", exact: true }).click();
      await see("You have no sites yet");
    });

    it("links a forge repository through a new GitLab connection, showing each step", async () => {
      await page.getByRole("link", { name: "New site", exact: true }).click();
      await see("No connection yet");
      await page.getByLabel("Provider", { exact: true }).selectOption("gitlab");
      await page.getByLabel("Provider URL").fill(forge.url);
      await page.getByLabel("Token").fill("glpat-wrong-token");
      await page.getByRole("button", { name: "Add connection" }).click();
      // A refused token is shown as the API words it.
      await page.locator(".alert-error").first().waitFor({ timeout: 15_000 });

      await page.getByLabel("Token").fill(owner.token);
      await page.getByRole("button", { name: "Add connection" }).click();
      await see(project.path_with_namespace, 15_000, "[aria-label=Repositories]");
      await page.getByLabel("Search repositories").fill("sit");
      await page.getByRole("radio", { name: new RegExp(project.path_with_namespace) }).check();
      await page.getByLabel("Site name").fill("dash");
      // The repository's branches, its default preselected; the name can still be typed.
      const branch = page.getByLabel("Branch", { exact: true });
      assert.equal(await branch.inputValue(), "main");
      assert.deepEqual(await branch.locator("option").allInnerTexts(), [
        "main (default)",
        "Another branch…",
      ]);
      assert.equal(await page.getByLabel("Branch name").inputValue(), "main");
      await page.getByLabel("Build command").fill("sh build.sh");
      await page.getByLabel("Publish directory").fill("dist");
      await page.getByRole("button", { name: "Create site" }).click();

      await see("dash is linked.", LONG);
      const steps = page.locator("ol.steps li");
      assert.ok((await steps.count()) >= 5, "the link steps are listed");
      const statuses = await steps.evaluateAll((items) =>
        items.map((i) => i.getAttribute("data-status")),
      );
      assert.ok(
        statuses.every((s) => s === "ok" || s === "skipped"),
        statuses.join(","),
      );
      await see("Deploy key installed");
      await see("Webhook installed");
      await shot(page, "new-site");
    });

    it("watches the first build's log stream to its end, coloured and staged", async () => {
      await page.getByRole("link", { name: "Watch the first build" }).click();
      await page.waitForURL(/\/sites\/dash\/deploys\/[0-9a-f]{24}$/);
      await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: LONG });
      await see("built <h1>version one</h1>", 5000, ".log");
      const green = page.locator(".log-text span", { hasText: "colour check: green" });
      assert.equal(
        await green.evaluate((el) => el.ownerDocument.defaultView?.getComputedStyle(el).color),
        "rgb(111, 207, 143)",
      );
      const bold = page.locator(".log-text span", { hasText: "bold red" });
      assert.equal(
        await bold.evaluate((el) => el.ownerDocument.defaultView?.getComputedStyle(el).fontWeight),
        "700",
      );
      assert.ok(!(await page.locator(".log").innerText()).includes("\u001b"), "no raw escapes");
      const sections = await page.locator(".log-section-name").allInnerTexts();
      for (const stage of ["initializing", "building", "deploying"]) {
        assert.ok(sections.map((s) => s.toLowerCase()).includes(stage), sections.join(","));
      }
      await see("published", 15_000, ".deploy-heading");
      const warning = page.locator(".rule-warning");
      assert.match(await warning.innerText(), /1 redirect rule could not be processed/);
      assert.match(await warning.locator("pre").innerText(), /\/broken/);
      await see("No header rules processed", 5000, ".summary-facts");
      await shot(page, "deploy-log");
    });

    it("shows the site live at its own address", async () => {
      const live = await context.newPage();
      await live.goto(`http://dash.localhost:${port}/`);
      assert.equal(await live.locator("h1").innerText(), "version one");
      await live.close();
    });

    it("shows a pushed change as a new deploy that goes live, without reloading", async () => {
      await page.getByRole("link", { name: /All deploys of dash/ }).click();
      await deployRows().first().waitFor();
      assert.equal(await deployRows().count(), 1);
      await page.evaluate("window.stillHere = true");
      await repo.commit({ "index.html": "<h1>version two</h1>\n" }, "Second version");
      await repo.push("main");
      await see("Second version", LONG, ".deploy-list");
      const second = page.locator("li.deploy-row.is-published", { hasText: "Second version" });
      await second.waitFor({ timeout: LONG });
      // The commit's message and author, as the build's fetch read them.
      assert.equal(await second.locator(".deploy-author").innerText(), "by Test");
      assert.equal(await deployRows().count(), 2);
      assert.equal(await page.evaluate("window.stillHere"), true, "the page was not reloaded");
      await waitForPage(
        platform.url,
        "dash.localhost",
        (p) => p.body.includes("version two"),
        "v2 live",
      );
      await shot(page, "deploys");
    });

    it("publishes the previous deploy (rollback) from its page", async () => {
      await deployRows().nth(1).locator(".deploy-title").click();
      await page.getByRole("button", { name: "Publish this deploy" }).click();
      await see("This deploy is now published");
      await waitForPage(
        platform.url,
        "dash.localhost",
        (p) => p.body.includes("version one"),
        "rolled back",
      );
      // Keep it published whatever is pushed next, until unlocked.
      await page.getByRole("button", { name: "Lock auto publishing" }).click();
      await page.getByRole("button", { name: "Unlock auto publishing" }).waitFor();
      await see("Auto publishing is locked");
      await page.getByRole("link", { name: /All deploys of dash/ }).click();
      // The older deploy (second in the list) is the published one now.
      await page.locator("li.deploy-row.is-published").waitFor();
      assert.equal(
        await deployRows()
          .nth(1)
          .evaluate((el) => el.classList.contains("is-published")),
        true,
      );
    });

    it("shows why a failing build failed", async () => {
      await repo.commit({ "build.sh": "echo about to fail\nexit 3\n" }, "Break the build");
      await repo.push("main");
      const failed = page.locator("li.deploy-row", { hasText: "Break the build" });
      await failed.waitFor({ timeout: LONG });
      await page.locator('li.deploy-row[data-state="error"]').waitFor({ timeout: LONG });
      await failed.locator(".deploy-title").click();
      const diagnosis = page.getByTestId("diagnosis");
      await diagnosis.waitFor({ timeout: LONG });
      const text = await diagnosis.innerText();
      assert.match(text, /Why it failed/);
      assert.match(text, /3/, text);
      await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: LONG });
      await see("about to fail", 5000, ".log");
      assert.ok(
        (await page.locator(".log-row.log-error").count()) >= 1,
        "the failure is marked in the log",
      );
      await shot(page, "deploy-failed");
    });

    it("saves build settings and an environment variable that the next build uses", async () => {
      await page.getByRole("link", { name: "Settings", exact: true }).click();
      await page
        .getByLabel("Build command", { exact: true })
        .fill(
          'printf "%s\\n" "<h1>$GREETING</h1>" > index.html && mkdir -p out && cp index.html out/',
        );
      await page.getByLabel("Publish directory").fill("out");
      const previews = page.getByRole("checkbox", { name: /Deploy previews/ });
      assert.equal(await previews.isChecked(), true, "deploy previews are on by default");
      await previews.uncheck();
      await page.getByRole("button", { name: "Save build settings" }).click();
      await see("Saved. The next build uses them.");
      const saved = await platform.api<{ build_settings: { deploy_previews: boolean } }>(
        "GET",
        "/sites/dash",
      );
      assert.equal(saved.body.build_settings.deploy_previews, false);

      await page.getByLabel("Key").fill("GREETING");
      await page.getByLabel("Value").fill("hello from the dashboard");
      await page.getByRole("button", { name: "Add variable" }).click();
      const row = page.locator('tr[data-env="GREETING"]');
      await row.waitFor();
      assert.ok(!(await row.innerText()).includes("hello from the dashboard"), "values are masked");
      await row.getByRole("button", { name: "show" }).click();
      await row.getByText("hello from the dashboard").waitFor();
      await shot(page, "settings");

      // Unlock auto publishing (locked after the rollback), then build.
      await page.getByRole("link", { name: "Deploys", exact: true }).click();
      await page.getByRole("button", { name: "Unlock" }).click();
      await page.getByText("Auto publishing is locked").waitFor({ state: "hidden" });
      await page.getByRole("button", { name: "Trigger deploy" }).click();
      await page.waitForURL(/\/deploys\/[0-9a-f]{24}$/);
      await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: LONG });
      await see("published", LONG, ".deploy-heading");
      const live = await waitForPage(
        platform.url,
        "dash.localhost",
        (p) => p.body.includes("hello from the dashboard"),
        "the variable used by the build",
      );
      assert.equal(live.body, "<h1>hello from the dashboard</h1>\n");
    });

    it("lists webhook deliveries with their outcome and reason, filterable", async () => {
      await page.getByRole("link", { name: "Webhook deliveries" }).click();
      await page.locator("tr[data-outcome=built]").first().waitFor({ timeout: 15_000 });
      assert.ok((await page.locator("tbody tr").count()) >= 2);
      await shot(page, "deliveries");
      await page.getByLabel("Outcome").selectOption("rejected");
      await see("No delivery matches these filters.");
      assert.match(page.url(), /outcome=rejected/);
      await page.getByLabel("Outcome").selectOption("");
      await page.getByLabel("Search deliveries").fill("zzz-nothing");
      await see("No delivery matches these filters.");
      await page.getByLabel("Search deliveries").fill("");
    });

    it("shows what is wrong with the link, and Repair puts it back", async () => {
      const keys = await forge.api<Array<{ id: number }>>(
        "GET",
        `/projects/${project.id}/deploy_keys`,
        {
          token: owner.token,
        },
      );
      assert.equal(keys.body.length, 1);
      const removed = await forge.api(
        "DELETE",
        `/projects/${project.id}/deploy_keys/${keys.body[0]?.id}`,
        {
          token: owner.token,
        },
      );
      assert.equal(removed.status, 204);

      await page.getByRole("link", { name: "Link", exact: true }).click();
      await page.getByRole("button", { name: "Check now" }).click();
      await page.locator('[data-health="Deploy key"] .badge-bad').waitFor({ timeout: 30_000 });
      await see("Builds are stopped:");
      await page.locator("#link-health").scrollIntoViewIfNeeded();
      await shot(page, "link-broken");
      await page.getByRole("button", { name: "Repair" }).click();
      await see(/What Repair did/, 30_000);
      await page.locator('[data-health="Deploy key"] .badge-ok').waitFor({ timeout: 30_000 });
      await page.locator(".repair-result").scrollIntoViewIfNeeded();
      const after = await forge.api<unknown[]>("GET", `/projects/${project.id}/deploy_keys`, {
        token: owner.token,
      });
      assert.equal(after.body.length, 1, "the key is back at the forge");
      await shot(page, "link");
    });

    it("links a repository by hand: the key to copy, where it goes, the diagnosis without it", async () => {
      const manual = await createPushedProject(forge, "erin", "by-hand", {
        "index.html": "<h1>by hand</h1>\n",
        "build.sh": SLOW_BUILD_SH,
      });
      story.repos.push(manual.repo);
      await page.getByRole("link", { name: "New site", exact: true }).click();
      await page.getByRole("tab", { name: /By hand/ }).click();
      await page.getByRole("button", { name: "Make a deploy key" }).click();
      const publicKey = (await page.locator('[data-testid="copy-Public key"]').innerText()).trim();
      assert.match(publicKey, /^ssh-ed25519 /);
      await page.getByLabel("Repository URL (SSH)").fill(manual.project.ssh_url_to_repo);
      await page.getByLabel("Site name").fill("by-hand");
      await page.getByLabel("Build command").fill("sh build.sh");
      await page.getByLabel("Publish directory").fill("dist");
      await page.getByRole("button", { name: "Create site" }).click();
      await see("3. At the provider", 15_000);
      await see(/Settings → Repository → Deploy keys/);
      await page
        .getByText(/not in your user's SSH keys/)
        .first()
        .waitFor();
      await page.locator('[data-testid="copy-Secret token"]').waitFor();
      await shot(page, "new-site-by-hand");

      // The key is not at the forge yet: the first build says which key and where it goes.
      await page.getByRole("link", { name: "open by-hand" }).click();
      await page.locator('li.deploy-row[data-state="error"]').waitFor({ timeout: LONG });
      await page.locator("li.deploy-row .deploy-title").first().click();
      const diagnosis = await page.getByTestId("diagnosis").innerText();
      assert.match(diagnosis, /SHA256:/, diagnosis);
      assert.match(diagnosis, /deploy key/i, diagnosis);

      await addForgeDeployKey(forge, manual.project, manual.owner, publicKey);
      await page.getByRole("button", { name: "Retry build" }).click();
      await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: LONG });
      await see("published", LONG, ".deploy-heading");
    });

    it("resumes the live log after a dropped connection, without losing or repeating a line", async () => {
      await page.getByRole("link", { name: /All deploys of by-hand/ }).click();
      await page.getByRole("button", { name: "Trigger deploy" }).click();
      await page.waitForURL(/\/deploys\/[0-9a-f]{24}$/);
      const lines = async () =>
        Number(await page.locator(".log-scroll").getAttribute("data-lines"));
      await poll(async () => (await lines()) > 12, "the first lines of the log", LONG);
      // Every connection to the platform drops (a proxy restart, a network blip).
      const atDrop = await lines();
      platform.platform.app.server.closeAllConnections();
      await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: LONG });
      const deployId = page.url().split("/").pop() ?? "";
      const deploy = await platform.api<{ build_id: string }>("GET", `/deploys/${deployId}`);
      const log = await platform.api<Array<{ seq: number; message: string }>>(
        "GET",
        `/builds/${deploy.body.build_id}/log`,
      );
      assert.ok(atDrop < log.body.length, "the connection dropped while the build printed");
      assert.equal(await lines(), log.body.length, "every line once");
      assert.ok(log.body.some((l) => l.message === "step 40"));
      await page.getByRole("button", { name: "Follow the end" }).waitFor({ state: "hidden" });
      await see("step 40", 5000, ".log");
    });

    it("creates a personal access token shown once, which signs in another browser", async () => {
      await page.getByRole("link", { name: "Access tokens" }).click();
      await page.getByLabel("Name").fill("laptop");
      await page.getByRole("button", { name: "Create token" }).click();
      await see("Copy the token now");
      const token = (await page.locator(".new-token code").innerText()).trim();
      assert.match(token, /^slp_/);
      await page.locator('tr[data-token="laptop"]').waitFor();
      await shot(page, "tokens");

      const other = await browser.newContext();
      const tab = await other.newPage();
      await tab.goto(`${platform.url}/`);
      await tab.getByLabel("Access token").fill(token);
      await tab.getByRole("button", { name: "Sign in with token" }).click();
      await tab.locator("li.site-row[data-site=dash]").waitFor({ timeout: 15_000 });
      await other.close();
    });

    it("invites a second user, who cannot see the first user's site", async () => {
      await page.getByRole("link", { name: "Users" }).click();
      await page.getByLabel("E-mail").fill("bob@example.test");
      await page.getByRole("button", { name: "Create and invite" }).click();
      await see("Send this link to bob@example.test");
      const invite = (await page.locator('[data-testid="copy-Invite link"]').innerText()).trim();
      assert.match(invite, new RegExp(`^${platform.url}/invite/sli_`));

      const bobContext = await browser.newContext({ phone: true });
      const bob = await bobContext.newPage();
      await bob.goto(invite);
      await bob.getByText("Choose your password").waitFor();
      await bob.getByLabel("New password").fill("bobs-own-password");
      await bob.getByLabel("The same password again").fill("bobs-own-password");
      await bob.getByRole("button", { name: "Set password and sign in" }).click();
      await bob.getByText("You have no sites yet").waitFor({ timeout: 15_000 });
      await shot(bob, "phone-sites-empty");
      await bob.goto(`${platform.url}/sites/dash`);
      await bob.getByText("Site not found").waitFor();
      // The invite link worked once.
      await bob.goto(invite);
      await bob.getByText("expired or was already used").waitFor();
      await bobContext.close();
    });

    it("works at phone width and in dark mode", async () => {
      const phone = await browser.newContext({ phone: true, dark: true });
      await phone.addCookies(await context.cookies());
      const tab = await phone.newPage();
      await tab.goto(`${platform.url}/`);
      await tab.locator("li.site-row[data-site=dash]").waitFor();
      const overflow = await tab.evaluate(
        "document.documentElement.scrollWidth > window.innerWidth",
      );
      assert.equal(overflow, false, "nothing wider than the phone");
      await shot(tab, "phone-dark-sites");
      await tab.goto(`${platform.url}/sites/dash`);
      await tab.locator("li.deploy-row").first().waitFor();
      await shot(tab, "phone-dark-deploys");
      await phone.close();
      // A site without a repository beside it (deployed from a folder, or not yet).
      const blog = await platform.api("POST", "/sites", { body: { name: "blog" } });
      assert.equal(blog.status, 201, blog.text);
      await page.goto(`${platform.url}/`);
      await page.locator("li.site-row[data-site=blog]").waitFor();
      await page
        .locator("li.site-row[data-site=dash] .badge-ok", { hasText: "link healthy" })
        .waitFor();
      await shot(page, "sites");
    });

    it("signs out: the session ends", async () => {
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL(/\/sign-in/);
      await page.goto(`${platform.url}/sites/dash`);
      await page.waitForURL(/\/sign-in\?redirect=/);
      const status = (await edgeGet(platform.url, "127.0.0.1")).status;
      assert.equal(status, 200, "the dashboard's own host serves the app");
      assert.deepEqual(story.errors, [], "no uncaught errors in the page");
    });
  },
);
