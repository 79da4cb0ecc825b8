import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../src/lib/run.ts";
import { edgeGet } from "../helpers/e2e.ts";
import {
  answeredOnce,
  netlifyCliVersion,
  printedJson,
  startNetlifyCli,
  uploadsOf,
  type NetlifyCli,
  type NetlifyCliSession,
} from "../helpers/netlify-cli.ts";
import { assertSpecResponse } from "../helpers/open-api.ts";
import { startTestPlatform, type Tenant, type TestPlatform } from "../helpers/platform.ts";
import { logMark, requestsSince } from "../helpers/request-log.ts";

/**
 * What a user does with the unmodified `netlify` command line against Slipway, told once for
 * every netlify-cli the tests run (test/e2e/netlify-cli*.test.ts). Create a site, deploy a draft
 * (served only at its permalink), deploy to production with `_redirects` and `_headers` (which
 * the CLI folds into an uploaded `netlify.toml`), list the deploys and roll back with
 * `netlify api`, and redeploy without uploading anything again. Then a deploy that runs its
 * build locally (`@netlify/build`), which asks the host root for the site's extensions and reads
 * the account env API for the build's variables; `netlify status`; and the ways to name a site.
 *
 * Every CLI command first resolves its config with an extensions lookup at api.netlifysdk.com,
 * which cannot be redirected; without internet that fails and the CLI goes on "offline" (no
 * account data, the site known by the id it was given only), so commands such as
 * `netlify env:set` cannot work against any self-hosted API, and `--site` / `NETLIFY_SITE_ID`
 * find a site only by its name (the CLI then looks it up with `GET /sites?name=`).
 */

interface DeployJson {
  site_id: string;
  site_name: string;
  deploy_id: string;
  deploy_url: string;
  url?: string;
  logs?: string;
}
interface Deploy {
  id: string;
  state: string;
  draft: boolean;
  context: string;
}
interface StatusJson {
  account: { Name: string; Email: string };
  siteData: Record<string, string>;
}

export function netlifyCliStories(cli: NetlifyCli): void {
  const version = netlifyCliVersion(cli);
  const title = `netlify-cli ${version ?? "(not installed)"} against Slipway`;
  describe(title, cli.skip === undefined ? {} : { skip: cli.skip }, () => {
    let t: TestPlatform;
    let alice: Tenant;
    let netlify: NetlifyCliSession;
    let project: string;
    let other: string;
    const host = "cli-site.localhost";

    before(async () => {
      t = await startTestPlatform();
      alice = await t.createTenant("alice");
      netlify = await startNetlifyCli(cli, t.url, alice.token);
      project = join(netlify.dir, "project");
      other = join(netlify.dir, "other");
      await mkdir(join(project, "public"), { recursive: true });
      await writePublic({
        "index.html": "<h1>version one</h1>\n",
        "style.css": "h1 { color: teal }\n",
        "sub/a b.txt": "spaces in the name\n",
        _redirects: "/old /new 301\n",
        _headers: "/*\n  X-Frame-Options: DENY\n",
      });
    });
    after(async () => {
      await t?.stop();
      await netlify?.remove();
    });

    async function writePublic(files: Record<string, string>): Promise<void> {
      for (const [path, content] of Object.entries(files)) {
        await mkdir(join(project, "public", path, ".."), { recursive: true });
        await writeFile(join(project, "public", path), content);
      }
    }

    /** A new folder with a `public/` to deploy, linked to no site. */
    async function unlinkedFolder(name: string): Promise<string> {
      const folder = join(netlify.dir, name);
      await mkdir(join(folder, "public"), { recursive: true });
      await writeFile(join(folder, "public", "index.html"), `<h1>${name}</h1>\n`);
      return folder;
    }

    let siteId: string;
    let otherName: string;
    let draft: DeployJson;
    let first: DeployJson;
    let second: DeployJson;

    it("netlify --version: this CLI, on its Node", async () => {
      const node = (await runChecked(cli.node, ["--version"])).trim();
      const result = await netlify.ok(["--version"], project);
      const expected = `netlify-cli/${version} ${process.platform}-${process.arch} node-${node}`;
      assert.ok(result.stdout.split("\n").includes(expected), `${expected}:\n${result.stdout}`);
    });

    it("netlify sites:create --name --account-slug creates the site and links the folder", async () => {
      const mark = logMark(t);
      const result = await netlify.ok(
        ["sites:create", "--name", "cli-site", "--account-slug", alice.accountSlug],
        project,
      );
      assert.match(result.stdout, /Project Created/);
      const state = JSON.parse(await readFile(join(project, ".netlify", "state.json"), "utf8")) as {
        siteId: string;
      };
      siteId = state.siteId;
      assert.match(siteId, /^[0-9a-f-]{36}$/);
      const created = await answeredOnce(t, mark, "POST", `/api/v1/${alice.accountSlug}/sites`);
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
      const result = await netlify.ok(
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
      const result = await netlify.ok(
        ["deploy", "--dir", "public", "--no-build", "--json"],
        project,
      );
      draft = printedJson<DeployJson>(result.stdout);
      assert.equal(draft.site_id, siteId);
      assert.equal(draft.url, undefined, "a draft has no production URL");
      // Every file but _redirects and _headers, plus the netlify.toml that carries their rules.
      assert.deepEqual(uploadsOf(t, mark, draft.deploy_id).sort(), [
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
      const result = await netlify.ok(
        ["deploy", "--dir", "public", "--no-build", "--prod", "--json"],
        project,
      );
      first = printedJson<DeployJson>(result.stdout);
      assert.notEqual(first.deploy_id, draft.deploy_id);
      // The build log URL the CLI prints is the dashboard's page of this deploy.
      assert.equal(first.logs, `${t.url}/sites/${first.site_name}/deploys/${first.deploy_id}`);
      assert.deepEqual(uploadsOf(t, mark, first.deploy_id), [], "the draft uploaded it all");
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
      const result = await netlify.ok(
        ["deploy", "--dir", "public", "--no-build", "--prod", "--json"],
        project,
      );
      second = printedJson<DeployJson>(result.stdout);
      assert.deepEqual(uploadsOf(t, mark, second.deploy_id), ["index.html"]);
      assert.equal((await edgeGet(t.url, host)).body, "<h1>version two</h1>\n");
    });

    it("netlify api listSiteDeploys lists them, in the spec's shape", async () => {
      const mark = logMark(t);
      const result = await netlify.ok(
        ["api", "listSiteDeploys", "--data", JSON.stringify({ site_id: siteId })],
        project,
      );
      const deploys = printedJson<Deploy[]>(result.stdout);
      const request = await answeredOnce(t, mark, "GET", `/api/v1/sites/${siteId}/deploys`);
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
      const result = await netlify.ok(
        [
          "api",
          "restoreSiteDeploy",
          "--data",
          JSON.stringify({ site_id: siteId, deploy_id: first.deploy_id }),
        ],
        project,
      );
      const restored = printedJson<Deploy>(result.stdout);
      const request = await answeredOnce(
        t,
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
      const result = await netlify.ok(
        ["deploy", "--dir", "public", "--no-build", "--prod", "--json"],
        project,
      );
      const again = printedJson<DeployJson>(result.stdout);
      assert.deepEqual(uploadsOf(t, mark, again.deploy_id), []);
      const update = await answeredOnce(
        t,
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
      const result = await netlify.ok(["deploy", "--prod", "--json"], other);
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

    it("netlify status in the linked folder: the user, and the site's id (the config is offline)", async () => {
      const result = await netlify.ok(["status", "--json"], project);
      const status = printedJson<StatusJson>(result.stdout);
      assert.deepEqual(status.account, { Name: "alice", Email: alice.email });
      assert.equal(status.siteData["site-id"], siteId);
    });

    it("netlify deploy --site <name> deploys from a folder linked to no site (so does NETLIFY_SITE_ID=<name>)", async () => {
      const folder = await unlinkedFolder("by-name");
      const mark = logMark(t);
      const result = await netlify.ok(
        ["deploy", "--site", "cli-site", "--dir", "public", "--no-build", "--json"],
        folder,
      );
      const deployed = printedJson<DeployJson>(result.stdout);
      assert.equal(deployed.site_id, siteId);
      assert.equal(deployed.site_name, "cli-site");
      const lookup = await answeredOnce(t, mark, "GET", "/api/v1/sites");
      assert.equal(lookup.url, "/api/v1/sites?name=cli-site&filter=all");
      assert.equal(lookup.status, 200);
      const byVariable = await netlify.ok(
        ["deploy", "--dir", "public", "--no-build", "--json"],
        await unlinkedFolder("by-variable"),
        { NETLIFY_SITE_ID: "cli-site" },
      );
      assert.equal(printedJson<DeployJson>(byVariable.stdout).site_id, siteId);
    });

    it("netlify deploy --site <id>: the offline CLI looks for a site *named* so and refuses (README)", async () => {
      // Slipway finds the site by its id (`GET /sites/<id>`) and answers the name search with
      // no site of that name: the CLI's own exact-name check then fails. Link by id instead.
      const folder = await unlinkedFolder("by-id");
      const mark = logMark(t);
      const refused = await netlify.run(
        ["deploy", "--site", siteId, "--dir", "public", "--no-build", "--json"],
        folder,
      );
      assert.notEqual(refused.code, 0, refused.stdout);
      assert.match(refused.stderr, /Project not found/);
      const lookup = await answeredOnce(t, mark, "GET", "/api/v1/sites");
      assert.equal(lookup.url, `/api/v1/sites?name=${siteId}&filter=all`);
      assert.equal(lookup.status, 200);
      const deploys = requestsSince(t, mark).filter((r) => r.method === "POST");
      assert.deepEqual(deploys, [], "nothing was deployed");

      await netlify.ok(["link", "--id", siteId], folder);
      const linked = await netlify.ok(
        ["deploy", "--dir", "public", "--no-build", "--json"],
        folder,
      );
      assert.equal(printedJson<DeployJson>(linked.stdout).site_id, siteId);
    });

    it("netlify api takes the site's name or host as site_id, as Netlify's API does", async () => {
      for (const key of ["cli-site", host]) {
        const result = await netlify.ok(
          ["api", "getSite", "--data", JSON.stringify({ site_id: key })],
          project,
        );
        assert.equal(printedJson<{ id: string }>(result.stdout).id, siteId, key);
      }
    });
  });
}
