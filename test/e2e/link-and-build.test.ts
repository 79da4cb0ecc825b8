import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestForge, TestProject, TestUser } from "../helpers/forge.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import {
  addForgeDeployKey,
  createPushedProject,
  edgeGet,
  publicKeyFingerprint,
  repoWithDeployKey,
  startForgeAndPlatform,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import { createDeployKey, waitForBuild, type BuildBody as Build } from "../helpers/sites.ts";
import { poll } from "../helpers/wait.ts";

/**
 * The seed story on real servers, no mocks: a private project on the forge, a deploy key made by
 * the platform and added with the forge's deploy keys API, a site linked through the API, a
 * build fetched over SSH with that key and run in the sandbox, served by the edge by host name.
 * Then the same with the key never added, and with a branch that does not exist.
 */

interface Deploy {
  id: string;
  state: string;
  branch: string;
  commit_ref: string | null;
  title: string | null;
  committer: string | null;
  context: string;
  deploy_url: string;
  url: string;
  published_at: string | null;
  error_message: string | null;
  locked: boolean;
}
interface LogLine {
  seq: number;
  time: string;
  section: string;
  message: string;
  error: boolean;
}

describe("link a private repository and build it (forge + platform, end to end)", () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let owner: TestUser;
  let project: TestProject;
  let repo: WorkingCopy;

  before(async () => {
    ({ forge, platform } = await startForgeAndPlatform({ buildWorkers: 2 }));
    ({ owner, project, repo } = await createPushedProject(forge, "alice", "web", {
      "index.html": "<h1>version one</h1>\n",
      "build.sh": "mkdir -p dist && cp index.html dist/ && echo built v1\n",
    }));
    await repo.checkout("feature/x", true);
    await repo.commit({ "feature.txt": "x\n" });
    await repo.push("feature/x");
    await repo.checkout("main");
  });

  after(async () => {
    await repo?.cleanup();
    await platform?.stop();
    await forge?.stop();
  });

  const api = <T>(method: string, path: string, body?: unknown) =>
    platform.api<T>(method, path, body === undefined ? {} : { body });

  let siteId = "";
  let firstDeployId = "";
  let keyId = "";

  it("links the site through the API, builds exactly once, and serves it at its host name", async () => {
    const key = await createDeployKey(platform);
    await addForgeDeployKey(forge, project, owner, key.public_key);
    keyId = key.id;

    const created = await api<{ id: string; build_id: string; deploy_id: string }>(
      "POST",
      "/sites",
      { name: "hello", repo: repoWithDeployKey(project, key.id) },
    );
    assert.equal(created.status, 201, created.text);
    assert.match(created.body.build_id, /^[0-9a-f]{24}$/);
    assert.match(created.body.deploy_id, /^[0-9a-f]{24}$/);
    siteId = created.body.id;
    firstDeployId = created.body.deploy_id;

    const build = await waitForBuild(platform, created.body.build_id);
    assert.equal(build.state, "done", build.error ?? "");
    assert.equal(build.deploy_id, created.body.deploy_id);
    assert.match(build.sha ?? "", /^[0-9a-f]{40}$/);
    assert.ok(build.started_at && build.finished_at);

    const builds = await api<Build[]>("GET", `/sites/${siteId}/builds`);
    assert.equal(builds.body.length, 1, "linking starts exactly one build");

    const deploy = await api<Deploy>("GET", `/sites/${siteId}/deploys/${created.body.deploy_id}`);
    assert.equal(deploy.body.state, "ready");
    assert.equal(deploy.body.commit_ref, build.sha);
    // No trigger gave a title: the commit's subject and author, read by the fetch.
    assert.equal(deploy.body.title, "change");
    assert.equal(deploy.body.committer, "Test");
    assert.equal(deploy.body.context, "production");
    assert.ok(deploy.body.published_at);
    assert.equal(deploy.body.locked, false);
    assert.match(
      deploy.body.deploy_url,
      new RegExp(`^http://${created.body.deploy_id}--hello\\.localhost:\\d+$`),
    );

    const page = await edgeGet(platform.url, "hello.localhost");
    assert.equal(page.status, 200);
    assert.equal(page.body, "<h1>version one</h1>\n");
    // The API is not served at a site's name, and an unknown site is a 404, never another site.
    assert.equal((await edgeGet(platform.url, "hello.localhost", "/api/v1/sites")).status, 404);
    assert.equal((await edgeGet(platform.url, "nobody.localhost")).status, 404);

    // The log tells the story in Netlify's stages, with timestamps, in order.
    const log = await api<LogLine[]>("GET", `/builds/${build.id}/log`);
    const sections = [...new Set(log.body.map((l) => l.section))];
    assert.deepEqual(sections, [
      "initializing",
      "preparing_repo",
      "building",
      "deploying",
      "cleanup",
    ]);
    assert.ok(log.body.every((l) => !Number.isNaN(Date.parse(l.time))));
    assert.ok(log.body.some((l) => l.section === "building" && l.message === "built v1"));
    assert.ok(log.body.some((l) => l.message === "Site is live ✨"));
    const ndjson = await platform.api("GET", `/builds/${build.id}/log?format=ndjson`);
    assert.equal(ndjson.text.trim().split("\n").length, log.body.length);

    // The live stream of a finished build replays the log and ends.
    const stream = await fetch(`${platform.url}/api/v1/builds/${build.id}/log/stream`, {
      headers: { authorization: `Bearer ${platform.adminToken}` },
    });
    assert.equal(stream.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const events = await stream.text();
    assert.equal((events.match(/^event: line$/gm) ?? []).length, log.body.length);
    assert.match(events, /event: end\ndata: \{"state":"done","done":true,"error":null\}/);
    // Batched (the dashboard's way): one event per read, its id the last line's seq; resumable.
    const batched = await fetch(`${platform.url}/api/v1/builds/${build.id}/log/stream?batch=true`, {
      headers: { authorization: `Bearer ${platform.adminToken}`, "last-event-id": "2" },
    });
    const batches = [...(await batched.text()).matchAll(/^id: (\d+)\nevent: lines\ndata: (.*)$/gm)];
    assert.equal(batches.length, 1, "a finished build's log in one read");
    const sent = JSON.parse(batches[0]![2]!) as LogLine[];
    assert.deepEqual(sent, log.body.slice(3), "every line after Last-Event-ID, once");
    assert.equal(Number(batches[0]![1]), log.body.at(-1)!.seq);

    // The private key never shows up in a response or a log line.
    const everything = platform.responses.join("\n") + platform.logs.join("\n");
    assert.doesNotMatch(everything, /PRIVATE KEY/);
  });

  it("keeps serving the previous deploy while a new build runs, then switches within a second", async () => {
    await repo.commit({
      "index.html": "<h1>version two</h1>\n",
      "build.sh": "sleep 2; mkdir -p dist && cp index.html dist/\n",
    });
    await repo.push("main");
    const started = await api<Build>("POST", `/sites/${siteId}/builds`);
    assert.equal(started.status, 200, started.text);
    assert.notEqual(started.body.deploy_id, firstDeployId);

    let servedOldWhileBuilding = 0;
    for (;;) {
      const b = await api<Build>("GET", `/builds/${started.body.id}`);
      if (b.body.done) break;
      const page = await edgeGet(platform.url, "hello.localhost");
      assert.equal(page.status, 200);
      assert.equal(
        page.body,
        "<h1>version one</h1>\n",
        "the old deploy until the new one is ready",
      );
      if (b.body.state === "building") servedOldWhileBuilding++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(servedOldWhileBuilding > 3, "requests were served during the build");
    const finished = await api<Build>("GET", `/builds/${started.body.id}`);
    assert.equal(finished.body.state, "done", finished.body.error ?? "");
    const live = await poll(
      async () => {
        const page = await edgeGet(platform.url, "hello.localhost");
        return page.body === "<h1>version two</h1>\n" ? page : undefined;
      },
      "the new deploy at the site's name",
      1000,
      20,
    );
    assert.equal(live.status, 200);

    // Each deploy stays at its permalink; the branch name serves the branch's latest deploy.
    const old = await edgeGet(platform.url, `${firstDeployId}--hello.localhost`);
    assert.equal(old.body, "<h1>version one</h1>\n");
    const branch = await edgeGet(platform.url, "main--hello.localhost");
    assert.equal(branch.body, "<h1>version two</h1>\n");

    const deploys = await api<Deploy[]>("GET", `/sites/${siteId}/deploys`);
    assert.deepEqual(
      deploys.body.map((d) => d.state),
      ["ready", "ready"],
    );
    assert.equal(deploys.body[0]!.id, started.body.deploy_id);
  });

  it("names the refused key and where it must go when the key was never added at the forge", async () => {
    const key = await createDeployKey(platform);
    const created = await api<{ id: string; build_id: string; deploy_id: string }>(
      "POST",
      "/sites",
      { name: "nokey", repo: repoWithDeployKey(project, key.id) },
    );
    assert.equal(created.status, 201, created.text);
    const build = await waitForBuild(platform, created.body.build_id);
    assert.equal(build.state, "error");
    const error = build.error ?? "";
    assert.ok(error.includes(publicKeyFingerprint(key.public_key)), error);
    assert.match(error, /deploy keys/i);
    assert.match(error, /Permission denied \(publickey\)/);
    assert.match(error, /not to a user's SSH keys/);

    const deploy = await api<Deploy>("GET", `/deploys/${created.body.deploy_id}`);
    assert.equal(deploy.body.state, "error");
    assert.equal(deploy.body.error_message, error);
    const log = await api<LogLine[]>("GET", `/builds/${build.id}/log`);
    assert.ok(log.body.some((l) => l.error && l.message === error));
    assert.ok(
      log.body.some((l) => l.message === "Failing build: Failed during stage 'preparing repo'"),
    );
    assert.equal((await edgeGet(platform.url, "nokey.localhost")).status, 404);
  });

  it("lists the branches that exist when the site's branch does not", async () => {
    const key = await createDeployKey(platform);
    await addForgeDeployKey(forge, project, owner, key.public_key);
    const created = await api<{ id: string; build_id: string }>("POST", "/sites", {
      name: "nobranch",
      repo: repoWithDeployKey(project, key.id, { repo_branch: "production" }),
    });
    assert.equal(created.status, 201, created.text);
    const build = await waitForBuild(platform, created.body.build_id);
    assert.equal(build.state, "error");
    assert.match(build.error ?? "", /The branch "production" does not exist/);
    assert.match(build.error ?? "", /Branches that exist: feature\/x, main\./);
  });

  it("shows builds and deploys to their own tenant only", async () => {
    const other = await platform.createTenant("mallory");
    const builds = await api<Build[]>("GET", `/sites/${siteId}/builds`);
    const build = builds.body[0]!;
    for (const [method, path] of [
      ["GET", `/sites/${siteId}/builds`],
      ["POST", `/sites/${siteId}/builds`],
      ["GET", `/builds/${build.id}`],
      ["POST", `/builds/${build.id}/cancel`],
      ["GET", `/builds/${build.id}/log`],
      ["GET", `/builds/${build.id}/log/stream`],
      ["GET", `/sites/${siteId}/deploys`],
      ["GET", `/deploys/${build.deploy_id}`],
      ["GET", `/sites/${siteId}/deploys/${build.deploy_id}`],
    ] as const) {
      const response = await platform.api(method, path, { token: other.token });
      assert.equal(response.status, 404, `${method} ${path}: ${response.text}`);
    }
  });

  it("cancels a running build: the live log ends, the command is killed, the site is unchanged", async () => {
    const created = await api<{ id: string; build_id: string }>("POST", "/sites", {
      name: "slow",
      repo: repoWithDeployKey(project, keyId, {
        cmd: "echo waiting; sleep 60; echo never",
        dir: undefined,
      }),
    });
    assert.equal(created.status, 201, created.text);
    const buildId = created.body.build_id;
    const stream = await fetch(`${platform.url}/api/v1/builds/${buildId}/log/stream`, {
      headers: { authorization: `Bearer ${platform.adminToken}` },
    });
    const events = stream.text();
    await poll(async () => {
      const log = await api<LogLine[]>("GET", `/builds/${buildId}/log`);
      return log.body.some((l) => l.message === "waiting");
    }, "the command to run");
    const started = Date.now();
    const cancelled = await api<Build>("POST", `/builds/${buildId}/cancel`);
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.body.state, "cancelled");
    assert.equal(cancelled.body.done, true);

    const text = await events;
    assert.ok(Date.now() - started < 10_000, "the stream ended soon after the cancel");
    assert.match(text, /"message":"waiting"/);
    assert.doesNotMatch(text, /"message":"never"/);
    assert.match(
      text,
      /event: end\ndata: \{"state":"cancelled","done":true,"error":"Build cancelled by /,
    );
    const log = await poll(async () => {
      const lines = await api<LogLine[]>("GET", `/builds/${buildId}/log`);
      return lines.body.some((l) => /processes were stopped/.test(l.message))
        ? lines.body
        : undefined;
    }, "the runner to note the cancellation");
    assert.ok(log.length > 0);
    const deploy = await api<Deploy>("GET", `/deploys/${cancelled.body.deploy_id}`);
    assert.equal(deploy.body.state, "error");
    assert.match(deploy.body.error_message ?? "", /^Build cancelled by /);
    assert.equal((await edgeGet(platform.url, "slow.localhost")).status, 404);
    const again = await api<Build>("GET", `/builds/${buildId}`);
    assert.equal(again.body.state, "cancelled");
  });

  it("links by PATCH with exactly one build, and reports a failing command's exit code and last lines", async () => {
    const created = await api<{ id: string; build_id: string | null; deploy_id: string | null }>(
      "POST",
      "/sites",
      { name: "later" },
    );
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.build_id, null, "no repository, no build");
    assert.equal(created.body.deploy_id, null);

    const linked = await api<{ build_id: string; deploy_id: string }>(
      "PATCH",
      `/sites/${created.body.id}`,
      {
        repo: repoWithDeployKey(project, keyId, {
          cmd: "echo first line; echo 'something broke' >&2; exit 3",
          dir: undefined,
        }),
      },
    );
    assert.equal(linked.status, 200, linked.text);
    assert.match(linked.body.build_id, /^[0-9a-f]{24}$/);
    assert.match(linked.body.deploy_id, /^[0-9a-f]{24}$/);
    const renamed = await api<{ build_id: string | null }>("PATCH", `/sites/${created.body.id}`, {
      name: "later-renamed",
    });
    assert.equal(renamed.body.build_id, null, "a rename starts no build");
    assert.equal((await api<Build[]>("GET", `/sites/${created.body.id}/builds`)).body.length, 1);

    const build = await waitForBuild(platform, linked.body.build_id);
    assert.equal(build.state, "error");
    assert.match(build.error ?? "", /The build command failed with exit code 3\./);
    assert.match(build.error ?? "", /first line\nsomething broke/);
    const log = await api<LogLine[]>("GET", `/builds/${build.id}/log`);
    assert.ok(
      log.body.some((l) => l.message === "Failing build: Failed during stage 'building site'"),
    );
  });

  it("runs the build with no network when the site turns it off (repo.build_network false)", async () => {
    // /proc is the build's own: it lists the network devices of the build's namespace.
    const cmd = "mkdir -p dist && grep -c : /proc/net/dev > dist/devices.txt";
    const link = (name: string, buildNetwork?: boolean) =>
      api<{
        id: string;
        name: string;
        build_id: string;
        build_settings: { build_network: boolean };
      }>("POST", "/sites", {
        name,
        repo: repoWithDeployKey(project, keyId, { cmd, build_network: buildNetwork }),
      });
    const offline = await link("offline", false);
    const online = await link("online");
    assert.equal(offline.status, 201, offline.text);
    assert.equal(offline.body.build_settings.build_network, false);
    assert.equal(online.body.build_settings.build_network, true, "network is on by default");
    for (const site of [offline.body, online.body]) {
      assert.equal((await waitForBuild(platform, site.build_id)).state, "done");
    }
    const devices = async (name: string) =>
      Number((await edgeGet(platform.url, `${name}.localhost`, "/devices.txt")).body.trim());
    assert.equal(await devices("offline"), 1, "only the loopback device without network");
    assert.ok((await devices("online")) > 1, "the host's devices with network");
  });
});
