import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { run, type RunResult } from "../../lib/run.ts";
import { edgeGet } from "../../../test/helpers/e2e.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../test/helpers/platform.ts";

/**
 * `bin/slipway.js deploy` as a child process against a real platform: what it uploads, what
 * the edge then serves, what it prints, and how it fails.
 */

const BIN = join(import.meta.dirname, "..", "..", "..", "bin", "slipway.js");

let platform: TestPlatform;
let tenant: Tenant;
const scratch = mkdtempSync(join(tmpdir(), "slipway-cli-deploy-"));

before(async () => {
  platform = await startTestPlatform({ platform: { buildWorkers: false } });
  tenant = await platform.createTenant("deployer");
});

after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** A directory holding `files` (path → content). */
function site(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** `slipway deploy ARGS` with the tenant's token in the environment (not on the command line). */
function deploy(args: string[], token = tenant.token): Promise<RunResult> {
  return run(process.execPath, [BIN, "deploy", ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: scratch,
      SLIPWAY_API_URL: platform.url,
      SLIPWAY_AUTH_TOKEN: token,
    },
  });
}

interface JsonResult {
  deploy_id: string;
  site_id: string;
  site_name: string;
  state: string;
  draft: boolean;
  deploy_url: string;
  url: string | null;
  uploaded: number;
  files: number;
}

/** Runs a deploy that must succeed with --json; returns the parsed result. */
async function deployJson(args: string[]): Promise<JsonResult> {
  const result = await deploy([...args, "--json"]);
  assert.equal(result.code, 0, `slipway deploy failed:\n${result.stderr}`);
  const lines = result.stdout.trim().split("\n");
  assert.equal(lines.length, 1, `stdout holds one JSON object and nothing else:\n${result.stdout}`);
  return JSON.parse(lines[0]!) as JsonResult;
}

async function createSite(name: string): Promise<{ id: string; name: string }> {
  const created = await platform.api<{ id: string; name: string }>("POST", "/sites", {
    token: tenant.token,
    body: { name },
  });
  assert.equal(created.status, 201, created.text);
  return created.body;
}

const host = (name: string): string => `${name}.localhost`;

/** A loopback port nothing listens on (it was free a moment ago). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

describe("slipway deploy", () => {
  it("uploads everything once, nothing when unchanged, and only a changed file", async () => {
    const target = await createSite("cli-prod");
    const dir = site("prod", {
      "index.html": "<h1>v1</h1>",
      "about/index.html": "<h1>about</h1>",
      "css/site.css": "body { color: red }",
      "copy.css": "body { color: red }", // same content as css/site.css: one upload
      _redirects: "/old /about/ 301",
      ".env": "SECRET=do-not-ship",
    });

    const first = await deployJson(["--dir", dir, "--site", target.id, "--prod"]);
    assert.deepEqual(Object.keys(first).sort(), [
      "deploy_id",
      "deploy_url",
      "draft",
      "files",
      "site_id",
      "site_name",
      "state",
      "uploaded",
      "url",
    ]);
    assert.equal(first.site_id, target.id);
    assert.equal(first.site_name, "cli-prod");
    assert.equal(first.state, "ready");
    assert.equal(first.draft, false);
    assert.equal(first.files, 5, "the dotfile is not deployed");
    assert.equal(first.uploaded, 4, "two files share one content");
    assert.match(first.url ?? "", /^http:\/\/cli-prod\.localhost:\d+$/);
    assert.match(first.deploy_url, new RegExp(`^http://${first.deploy_id}--cli-prod\\.localhost:`));

    const served = await edgeGet(platform.url, host("cli-prod"), "/");
    assert.equal(served.status, 200);
    assert.equal(served.body, "<h1>v1</h1>");
    assert.equal(
      (await edgeGet(platform.url, host("cli-prod"), "/copy.css")).body,
      "body { color: red }",
    );
    const redirect = await edgeGet(platform.url, host("cli-prod"), "/old");
    assert.equal(redirect.status, 301, "_redirects is deployed and honoured");
    assert.match(String(redirect.headers.location), /\/about\/$/);
    assert.equal((await edgeGet(platform.url, host("cli-prod"), "/.env")).status, 404);

    // By name this time; nothing changed, so nothing is uploaded.
    const second = await deployJson(["--dir", dir, "--site", "cli-prod", "--prod"]);
    assert.equal(second.uploaded, 0);
    assert.equal(second.files, 5);
    assert.notEqual(second.deploy_id, first.deploy_id);

    writeFileSync(join(dir, "index.html"), "<h1>v2</h1>");
    const third = await deployJson(["--dir", dir, "--site", "cli-prod", "--prod"]);
    assert.equal(third.uploaded, 1);
    assert.equal((await edgeGet(platform.url, host("cli-prod"), "/")).body, "<h1>v2</h1>");
  });

  it("deploys a draft served only at its permalink; --prod publishes it at the site", async () => {
    await createSite("cli-draft");
    const live = site("draft-live", { "index.html": "live" });
    await deployJson(["--dir", live, "--site", "cli-draft", "--prod"]);

    const next = site("draft-next", { "index.html": "draft" });
    const result = await deploy(["--dir", next, "--site", "cli-draft", "--title", "preview"]);
    assert.equal(result.code, 0, result.stderr);
    const deployUrl = /^Deploy URL: (\S+)$/m.exec(result.stdout)?.[1];
    assert.ok(deployUrl, `the deploy URL is printed:\n${result.stdout}`);
    assert.doesNotMatch(result.stdout, /Site URL/, "a draft is not at the site's URL");
    assert.match(result.stderr, /Draft deploy is ready/);

    const permalink = new URL(deployUrl).hostname;
    assert.match(permalink, /^[0-9a-f]+--cli-draft\.localhost$/);
    assert.equal((await edgeGet(platform.url, permalink, "/")).body, "draft");
    assert.equal((await edgeGet(platform.url, host("cli-draft"), "/")).body, "live");

    const prod = await deploy(["--dir", next, "--site", "cli-draft", "--prod"]);
    assert.equal(prod.code, 0, prod.stderr);
    assert.match(prod.stdout, /^Site URL: {3}http:\/\/cli-draft\.localhost:\d+$/m);
    assert.equal((await edgeGet(platform.url, host("cli-draft"), "/")).body, "draft");
  });

  it("creates a site when none is named, and says how to deploy to it again", async () => {
    const dir = site("new-site", { "index.html": "fresh" });
    const result = await deploy(["--dir", dir, "--prod"]);
    assert.equal(result.code, 0, result.stderr);
    const created =
      /Created site "([^"]+)" \(([0-9a-f-]+)\); deploy to it again with --site \2/.exec(
        result.stderr,
      );
    assert.ok(created, result.stderr);
    assert.equal((await edgeGet(platform.url, host(created[1]!), "/")).body, "fresh");
  });

  it("exits non-zero with the server's reason for a bad token, naming where the token comes from", async () => {
    const dir = site("bad-token", { "index.html": "x" });
    const result = await deploy(["--dir", dir, "--site", "cli-prod"], "slp_not-a-real-token");
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /refused the access token/);
    assert.match(result.stderr, /SLIPWAY_AUTH_TOKEN/);
    assert.match(result.stderr, /HTTP 401/);
    assert.doesNotMatch(result.stderr, /slp_not-a-real-token/, "the token is never printed");
  });

  it("exits non-zero for an unknown site, and for another tenant's site alike", async () => {
    const dir = site("unknown-site", { "index.html": "x" });
    const byName = await deploy(["--dir", dir, "--site", "no-such-site", "--json"]);
    assert.equal(byName.code, 1);
    assert.equal(byName.stdout, "", "--json prints nothing on stdout when the deploy fails");
    assert.match(byName.stderr, /site "no-such-site" not found/);

    const other = await platform.createTenant("someone-else");
    const theirs = await platform.api<{ id: string }>("POST", "/sites", {
      token: other.token,
      body: { name: "not-yours" },
    });
    const byId = await deploy(["--dir", dir, "--site", theirs.body.id]);
    assert.equal(byId.code, 1);
    assert.match(byId.stderr, /not found/);
    assert.match(byId.stderr, /HTTP 404/);
  });

  it("exits non-zero with the server's reason for a path it refuses, and leaves no deploy behind", async () => {
    const target = await createSite("cli-refused");
    const live = site("refused-live", { "index.html": "ok" });
    const published = await deployJson(["--dir", live, "--site", "cli-refused", "--prod"]);
    const dir = site("refused", { "index.html": "new", "bad\\name.html": "backslash" });
    const result = await deploy(["--dir", dir, "--site", "cli-refused", "--prod"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /creating the deploy: .*backslash.*\(HTTP 422\)/);
    assert.equal((await edgeGet(platform.url, host("cli-refused"), "/")).body, "ok");

    // The list of files came with the create call, so the refusal created no deploy at all.
    const deploys = await platform.api<{ id: string; state: string }[]>(
      "GET",
      `/sites/${target.id}/deploys`,
      { token: tenant.token },
    );
    assert.deepEqual(
      deploys.body.map((d) => d.id),
      [published.deploy_id],
    );
  });

  it("exits non-zero for a symlink leaving the directory, before contacting the platform", async () => {
    const dir = site("escape", { "index.html": "x" });
    symlinkSync("/etc/passwd", join(dir, "passwd"));
    const result = await deploy(["--dir", dir, "--site", "cli-prod"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /"passwd" is a symlink to "\/etc\/passwd", outside the directory/);
  });

  it("exits 2 with usage for a missing --dir, and 1 when the platform cannot be reached", async () => {
    const usage = await deploy([]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--dir DIR is required/);

    const dir = site("unreachable", { "index.html": "x" });
    const closed = await closedPort();
    const down = await run(process.execPath, [BIN, "deploy", "--dir", dir, "--site", "s"], {
      env: {
        PATH: process.env.PATH,
        SLIPWAY_API_URL: `http://127.0.0.1:${closed}`,
        SLIPWAY_AUTH_TOKEN: "t",
      },
    });
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      new RegExp(`cannot reach http://127\\.0\\.0\\.1:${closed}.*ECONNREFUSED`),
    );
    assert.match(down.stderr, /SLIPWAY_API_URL/);
  });
});
