import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { run, type RunResult } from "../../src/lib/run.ts";
import { edgeGet } from "../helpers/e2e.ts";
import { assertSpecResponse } from "../helpers/open-api.ts";
import { startTestPlatform, type Tenant, type TestPlatform } from "../helpers/platform.ts";
import { logMark, requestsSince, type LoggedRequest } from "../helpers/request-log.ts";
import { poll } from "../helpers/wait.ts";

/**
 * The unmodified `netlify` command line (netlify-cli, pinned in package.json) against a running
 * Slipway, as a user would point it there: `NETLIFY_API_URL` (no trailing slash: the CLI would
 * then send `//sites`), `NETLIFY_AUTH_TOKEN`, a fresh HOME, CI=1 (non-interactive) and telemetry
 * off. Create a site, deploy a draft (served only at its permalink), deploy to production with
 * `_redirects` and `_headers` (which the CLI folds into an uploaded `netlify.toml`), list the
 * deploys and roll back with `netlify api`, and redeploy without uploading anything again.
 * Then a deploy that runs its build locally (`@netlify/build`), which asks the host root for the
 * site's extensions and reads the account env API for the build's variables.
 *
 * Every CLI command first resolves its config with an extensions lookup at api.netlifysdk.com,
 * which cannot be redirected; without internet that fails and the CLI goes on "offline" (no
 * account data), so commands such as `netlify env:set` cannot work against any self-hosted API.
 */

const NETLIFY = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "netlify");

interface DeployJson {
  site_id: string;
  site_name: string;
  deploy_id: string;
  deploy_url: string;
  url?: string;
}
interface Deploy {
  id: string;
  state: string;
  draft: boolean;
  context: string;
}

describe("netlify-cli against Slipway", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let dir: string;
  let project: string;
  let host: string;

  before(async () => {
    t = await startTestPlatform();
    alice = await t.createTenant("alice");
    dir = await mkdtemp(join(tmpdir(), "slipway-netlify-cli-"));
    // What `netlify --telemetry-disable` writes, written directly (that command only does this).
    await mkdir(join(dir, "home", ".config", "netlify"), { recursive: true });
    await writeFile(
      join(dir, "home", ".config", "netlify", "config.json"),
      JSON.stringify({ telemetryDisabled: true }),
    );
    project = join(dir, "project");
    await mkdir(join(project, "public"), { recursive: true });
    await writePublic({
      "index.html": "<h1>version one</h1>\n",
      "style.css": "h1 { color: teal }\n",
      "sub/a b.txt": "spaces in the name\n",
      _redirects: "/old /new 301\n",
      _headers: "/*\n  X-Frame-Options: DENY\n",
    });
    host = `cli-site.localhost`;
    other = join(dir, "other");
  });
  after(async () => {
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function writePublic(files: Record<string, string>): Promise<void> {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(project, "public", path, ".."), { recursive: true });
      await writeFile(join(project, "public", path), content);
    }
  }

  /** Runs `netlify <args>` in `cwd` (argument vector, no shell); fails with its output. */
  async function netlify(args: string[], cwd = project): Promise<RunResult> {
    const home = join(dir, "home");
    const result = await run(NETLIFY, args, {
      cwd,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        XDG_CONFIG_HOME: join(home, ".config"),
        CI: "1",
        NETLIFY_TELEMETRY_DISABLED: "1",
        NETLIFY_API_URL: t.url,
        NETLIFY_AUTH_TOKEN: alice.token,
      },
    });
    assert.equal(
      result.code,
      0,
      `netlify ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`,
    );
    return result;
  }

  /** The JSON document a `--json` command printed last (after any progress or build lines). */
  function printedJson<T>(stdout: string): T {
    for (const match of stdout.matchAll(/^[[{]/gm)) {
      try {
        return JSON.parse(stdout.slice(match.index)) as T;
      } catch {
        // a log line that merely starts like JSON: try the next one
      }
    }
    assert.fail(`no JSON document at the end of the output:\n${stdout}`);
  }

  /** The platform's answer to the one request matching `method` and `path` since `mark`. */
  async function answered(mark: number, method: string, path: string): Promise<LoggedRequest> {
    return poll(async () => {
      const matching = requestsSince(t, mark).filter(
        (r) => r.method === method && r.url.split("?")[0] === path,
      );
      assert.ok(matching.length <= 1, `${matching.length} × ${method} ${path}`);
      return matching[0]?.status !== undefined ? matching[0] : undefined;
    }, `${method} ${path} in the request log`);
  }

  const uploadsOf = (mark: number, deployId: string): string[] =>
    requestsSince(t, mark)
      .filter((r) => r.method === "PUT" && r.url.startsWith(`/api/v1/deploys/${deployId}/files/`))
      .map((r) => decodeURI(r.url.slice(`/api/v1/deploys/${deployId}/files/`.length)));

  let siteId: string;
  let other: string;
  let otherName: string;
  let draft: DeployJson;
  let first: DeployJson;
  let second: DeployJson;

  it("netlify sites:create --name --account-slug creates the site and links the folder", async () => {
    const mark = logMark(t);
    const result = await netlify([
      "sites:create",
      "--name",
      "cli-site",
      "--account-slug",
      alice.accountSlug,
    ]);
    assert.match(result.stdout, /Project Created/);
    const state = JSON.parse(await readFile(join(project, ".netlify", "state.json"), "utf8")) as {
      siteId: string;
    };
    siteId = state.siteId;
    assert.match(siteId, /^[0-9a-f-]{36}$/);
    const created = await answered(mark, "POST", `/api/v1/${alice.accountSlug}/sites`);
    assert.equal(created.status, 201);
    const site = await t.api<{ name: string; account_id: string }>("GET", `/sites/${siteId}`, {
      token: alice.token,
    });
    assert.equal(site.body.name, "cli-site");
    assert.equal(site.body.account_id, alice.accountId);
  });

  it("netlify sites:create with a taken name retries with a suffix after our 422", async () => {
    await mkdir(other);
    const mark = logMark(t);
    const result = await netlify(
      ["sites:create", "--name", "cli-site", "--account-slug", alice.accountSlug],
      other,
    );
    const attempts = requestsSince(t, mark).filter(
      (r) => r.method === "POST" && r.url === `/api/v1/${alice.accountSlug}/sites`,
    );
    assert.equal(attempts[0]?.status, 422);
    assert.equal(attempts.at(-1)?.status, 201);
    otherName = /(cli-site-\d{3})\.localhost/.exec(result.stdout)?.[1] ?? "";
    assert.notEqual(otherName, "", result.stdout);
  });

  it("netlify deploy --dir public --no-build: a draft, served only at its permalink", async () => {
    const mark = logMark(t);
    const result = await netlify(["deploy", "--dir", "public", "--no-build", "--json"]);
    draft = printedJson<DeployJson>(result.stdout);
    assert.equal(draft.site_id, siteId);
    assert.equal(draft.url, undefined, "a draft has no production URL");
    // Every file but _redirects and _headers, plus the netlify.toml that carries their rules.
    assert.deepEqual(uploadsOf(mark, draft.deploy_id).sort(), [
      "index.html",
      "netlify.toml",
      "style.css",
      "sub/a b.txt",
    ]);
    const permalink = await edgeGet(t.url, `${draft.deploy_id}--${host}`);
    assert.equal(permalink.status, 200);
    assert.equal(permalink.body, "<h1>version one</h1>\n");
    const site = await edgeGet(t.url, host);
    assert.equal(site.status, 404, "nothing is published yet");
    assert.doesNotMatch(site.body, /version one/);
  });

  it("netlify deploy --prod publishes; the rules of _redirects and _headers hold, netlify.toml is not served", async () => {
    const mark = logMark(t);
    const result = await netlify(["deploy", "--dir", "public", "--no-build", "--prod", "--json"]);
    first = printedJson<DeployJson>(result.stdout);
    assert.notEqual(first.deploy_id, draft.deploy_id);
    assert.deepEqual(uploadsOf(mark, first.deploy_id), [], "the draft already uploaded it all");
    const home = await edgeGet(t.url, host);
    assert.equal(home.status, 200);
    assert.equal(home.body, "<h1>version one</h1>\n");
    assert.equal(home.headers["x-frame-options"], "DENY");
    const spaced = await edgeGet(t.url, host, "/sub/a%20b.txt");
    assert.equal(spaced.body, "spaces in the name\n");
    const redirect = await edgeGet(t.url, host, "/old");
    assert.equal(redirect.status, 301);
    assert.match(String(redirect.headers.location), /\/new$/);
    const config = await edgeGet(t.url, host, "/netlify.toml");
    assert.equal(config.status, 404);
    assert.doesNotMatch(config.body, /redirects|publish/);
  });

  it("a changed file uploads that one file", async () => {
    await writePublic({ "index.html": "<h1>version two</h1>\n" });
    const mark = logMark(t);
    const result = await netlify(["deploy", "--dir", "public", "--no-build", "--prod", "--json"]);
    second = printedJson<DeployJson>(result.stdout);
    assert.deepEqual(uploadsOf(mark, second.deploy_id), ["index.html"]);
    assert.equal((await edgeGet(t.url, host)).body, "<h1>version two</h1>\n");
  });

  it("netlify api listSiteDeploys lists them, in the spec's shape", async () => {
    const mark = logMark(t);
    const result = await netlify([
      "api",
      "listSiteDeploys",
      "--data",
      JSON.stringify({ site_id: siteId }),
    ]);
    const deploys = printedJson<Deploy[]>(result.stdout);
    const request = await answered(mark, "GET", `/api/v1/sites/${siteId}/deploys`);
    assertSpecResponse("listSiteDeploys", request.status!, deploys);
    assert.deepEqual(
      deploys.map((d) => [d.id, d.state, d.draft]),
      [
        [second.deploy_id, "ready", false],
        [first.deploy_id, "ready", false],
        [draft.deploy_id, "ready", true],
      ],
    );
  });

  it("netlify api restoreSiteDeploy rolls the site back to the first production deploy", async () => {
    const mark = logMark(t);
    const result = await netlify([
      "api",
      "restoreSiteDeploy",
      "--data",
      JSON.stringify({ site_id: siteId, deploy_id: first.deploy_id }),
    ]);
    const restored = printedJson<Deploy>(result.stdout);
    const request = await answered(
      mark,
      "POST",
      `/api/v1/sites/${siteId}/deploys/${first.deploy_id}/restore`,
    );
    assertSpecResponse("restoreSiteDeploy", request.status!, restored);
    assert.equal(restored.id, first.deploy_id);
    assert.equal((await edgeGet(t.url, host)).body, "<h1>version one</h1>\n");
  });

  it("a second --prod deploy of the unchanged tree uploads nothing and publishes it again", async () => {
    const mark = logMark(t);
    const result = await netlify(["deploy", "--dir", "public", "--no-build", "--prod", "--json"]);
    const again = printedJson<DeployJson>(result.stdout);
    assert.deepEqual(uploadsOf(mark, again.deploy_id), []);
    const update = await answered(
      mark,
      "PUT",
      `/api/v1/sites/${siteId}/deploys/${again.deploy_id}`,
    );
    assert.equal(update.status, 200);
    assert.equal((await edgeGet(t.url, host)).body, "<h1>version two</h1>\n");
  });

  it("netlify deploy --prod with its build: the extensions lookup at the host root, and env API variables in the build", async () => {
    const variable = await t.api("POST", `/accounts/${alice.accountSlug}/env`, {
      token: alice.token,
      body: [
        {
          key: "GREETING",
          values: [
            { context: "production", value: "hello from the env API" },
            { context: "dev", value: "not this one" },
          ],
        },
      ],
    });
    assert.equal(variable.status, 201, variable.text);
    await mkdir(join(other, "public"), { recursive: true });
    await writeFile(join(other, "public", "index.html"), "<h1>built</h1>\n");
    await writeFile(
      join(other, "netlify.toml"),
      '[build]\npublish = "public"\ncommand = "printf %s \\"$GREETING\\" > public/greeting.txt"\n',
    );
    const mark = logMark(t);
    const result = await netlify(["deploy", "--prod", "--json"], other);
    const built = printedJson<DeployJson>(result.stdout);
    const requests = requestsSince(t, mark);
    const extensions = requests.find((r) => r.url.startsWith("/team/"));
    assert.equal(extensions?.status, 200, "@netlify/build asked for the site's extensions");
    const envReads = requests.filter((r) =>
      r.url.startsWith(`/api/v1/accounts/${alice.accountSlug}/env`),
    );
    assert.ok(envReads.length > 0 && envReads.every((r) => r.status === 200));
    const greeting = await edgeGet(t.url, `${otherName}.localhost`, "/greeting.txt");
    assert.equal(greeting.status, 200);
    assert.equal(greeting.body, "hello from the env API");
    assert.equal(built.site_name, otherName);
  });
});
