import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { runChecked } from "../../lib/run.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../test/helpers/forge.ts";
import type { PushEvent } from "../context.ts";
import { GitAccessMessages } from "./access.ts";
import { HTTP_ACCESS_DENIED } from "./smart-http.ts";
import {
  createGitWorkspace,
  recordPushes,
  serverRefs,
  type GitWorkspace,
} from "../../../test/helpers/forge-git.ts";

const ZERO = "0".repeat(40);

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** An HTTP request with the path sent exactly as given (no dot-segment normalisation). */
function raw(
  t: TestForge,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: hostname, port, method, path, headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

const basic = (token: string): string =>
  `Basic ${Buffer.from(`oauth2:${token}`).toString("base64")}`;

/** A protocol v0 upload-pack request for one commit, as pkt-lines. */
function wantRequest(sha: string): Buffer {
  const line = (text: string): string => (text.length + 4).toString(16).padStart(4, "0") + text;
  return Buffer.from(`${line(`want ${sha}\n`)}0000${line("done\n")}`);
}

describe("git over smart HTTP", () => {
  let t: TestForge;
  let w: GitWorkspace;
  let pushes: PushEvent[];
  let alice: TestUser;
  let bob: TestUser;
  let reader: TestUser;
  let site: TestProject;
  let open: TestProject;
  let local: string;
  let mainSha: string;

  before(async () => {
    t = await startTestForge();
    w = await createGitWorkspace(t);
    pushes = recordPushes(t);
    alice = await t.createUser("alice");
    bob = await t.createUser("bob");
    site = await t.createProject(alice, "site");
    open = await t.createProject(alice, "open-site", "public");
    // A read_repository token of a Developer on `site`.
    reader = await t.createUser("reader", { scopes: ["read_repository"] });
    const member = await t.api("POST", `/projects/${site.id}/members`, {
      token: alice.token,
      body: { user_id: reader.id, access_level: 30 },
    });
    assert.equal(member.status, 201, member.text);
    local = await w.initRepo("local");
    mainSha = (await runChecked("git", ["rev-parse", "HEAD"], { cwd: local })).trim();
    for (const project of [site, open]) {
      const push = await w.git(["push", "-q", w.httpUrl(project, alice.token), "main"], {
        cwd: local,
      });
      assert.equal(push.code, 0, push.stderr);
    }
  });
  after(async () => {
    await w.cleanup();
    await t.stop();
  });

  it("pushes with a token and reports the push with its ref updates", async () => {
    assert.deepEqual(await serverRefs(t, site.id), new Map([["refs/heads/main", mainSha]]));
    const event = pushes.find((e) => e.projectId === site.id);
    assert.deepEqual(event, {
      projectId: site.id,
      userId: alice.id,
      updates: [{ before: ZERO, after: mainSha, ref: "refs/heads/main" }],
    });
  });

  it("clones and fetches with a token, over protocol v2", async () => {
    const clone = await w.git(["clone", "-q", w.httpUrl(site, alice.token), "clone"]);
    assert.equal(clone.code, 0, clone.stderr);
    const dir = join(w.dir, "clone");
    const sha = await w.commit(local, "second.txt", "second\n");
    const push = await w.git(["push", "-q", w.httpUrl(site, alice.token), "main"], { cwd: local });
    assert.equal(push.code, 0, push.stderr);
    assert.deepEqual(pushes.at(-1)?.updates, [
      { before: mainSha, after: sha, ref: "refs/heads/main" },
    ]);
    mainSha = sha;
    const fetch = await w.git(["-c", "protocol.version=2", "fetch", "origin"], {
      cwd: dir,
      env: { GIT_TRACE_PACKET: "1" },
    });
    assert.equal(fetch.code, 0, fetch.stderr);
    assert.match(fetch.stderr, /< version 2$/m);
    assert.equal((await runChecked("git", ["rev-parse", "origin/main"], { cwd: dir })).trim(), sha);
  });

  it("waits for the push to be recorded before answering", async () => {
    const hooks = t.forge.ctx.hooks;
    const wrapped = hooks.recordPush;
    let recorded = false;
    hooks.recordPush = async (event) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await wrapped(event);
      recorded = true;
    };
    try {
      await w.commit(local, "slow.txt", "slow\n");
      const push = await w.git(["push", "-q", w.httpUrl(site, alice.token), "main"], {
        cwd: local,
      });
      assert.equal(push.code, 0, push.stderr);
      assert.equal(recorded, true);
    } finally {
      hooks.recordPush = wrapped;
    }
    mainSha = (await serverRefs(t, site.id)).get("refs/heads/main")!;
  });

  it("lets a read_repository token clone but not push (403)", async () => {
    const clone = await w.git(["clone", "-q", w.httpUrl(site, reader.token), "reader-clone"]);
    assert.equal(clone.code, 0, clone.stderr);

    const before = await serverRefs(t, site.id);
    const push = await w.git(["push", w.httpUrl(site, reader.token), "main:refs/heads/reader"], {
      cwd: local,
    });
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /You are not allowed to upload code\./);
    assert.deepEqual(await serverRefs(t, site.id), before);

    const res = await raw(t, "GET", "/alice/site.git/info/refs?service=git-receive-pack", {
      headers: { authorization: basic(reader.token) },
    });
    assert.equal(res.status, 403);
    assert.match(String(res.headers["content-type"]), /^text\/plain/);
    assert.equal(res.body.toString(), GitAccessMessages.authUpload);
  });

  it("answers 401 with a Basic challenge without credentials or with a bad token", async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: basic("glpat-wrong") },
      { authorization: "Basic" },
    ]) {
      const res = await raw(t, "GET", "/alice/site.git/info/refs?service=git-upload-pack", {
        headers,
      });
      assert.equal(res.status, 401);
      assert.equal(res.headers["www-authenticate"], 'Basic realm="GitLab"');
      assert.match(String(res.headers["content-type"]), /^text\/plain/);
      assert.equal(res.body.toString(), HTTP_ACCESS_DENIED);
    }
    // The same for a project that does not exist: anonymous callers learn nothing.
    const missing = await raw(t, "GET", "/alice/nothing.git/info/refs?service=git-upload-pack");
    assert.equal(missing.status, 401);
    const clone = await w.git(["clone", w.httpUrl(site), "anonymous-private"]);
    assert.notEqual(clone.code, 0);
    assert.ok(!clone.stderr.includes(mainSha));
  });

  it("hides a private project from a signed-in non-member with 404", async () => {
    const res = await raw(t, "GET", "/alice/site.git/info/refs?service=git-upload-pack", {
      headers: { authorization: basic(bob.token) },
    });
    assert.equal(res.status, 404);
    assert.equal(res.body.toString(), GitAccessMessages.projectNotFound);
    const clone = await w.git(["clone", w.httpUrl(site, bob.token), "bob-clone"]);
    assert.notEqual(clone.code, 0);
    assert.ok(clone.stderr.includes(GitAccessMessages.projectNotFound), clone.stderr);
  });

  it("lets anyone clone a public project, and nobody push to it anonymously", async () => {
    const clone = await w.git(["clone", "-q", w.httpUrl(open), "anonymous-open"]);
    assert.equal(clone.code, 0, clone.stderr);

    const anonymous = await raw(
      t,
      "GET",
      "/alice/open-site.git/info/refs?service=git-receive-pack",
    );
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers["www-authenticate"], 'Basic realm="GitLab"');

    const before = await serverRefs(t, open.id);
    const bobPush = await w.git(["push", w.httpUrl(open, bob.token), "main:refs/heads/bob"], {
      cwd: local,
    });
    assert.notEqual(bobPush.code, 0);
    assert.ok(bobPush.stderr.includes(GitAccessMessages.pushCode), bobPush.stderr);
    assert.deepEqual(await serverRefs(t, open.id), before);
  });

  it("serves only the smart protocol's services", async () => {
    const evil = await raw(t, "GET", "/alice/open-site.git/info/refs?service=git-evil", {
      headers: { authorization: basic(alice.token) },
    });
    assert.equal(evil.status, 403);
    const dumb = await raw(t, "GET", "/alice/open-site.git/info/refs", {
      headers: { authorization: basic(alice.token) },
    });
    assert.equal(dumb.status, 403);
    for (const path of [
      "/alice/open-site.git/HEAD",
      "/alice/open-site.git/config",
      "/alice/open-site.git/objects/info/packs",
    ]) {
      const res = await raw(t, "GET", path);
      assert.equal(res.status, 404, path);
      assert.ok(!res.body.toString().includes("refs/heads"), path);
    }
  });

  it("treats path tricks as not found and never reaches another directory", async () => {
    // A real repository next to the repositories root, reachable only by escaping it.
    await runChecked("git", ["init", "-q", "--bare", "--", join(t.dataDir, "victim.git")]);
    const paths = [
      "/alice/../alice/site.git",
      "/alice/%2e%2e/site.git",
      "/%2e%2e/%2e%2e/victim.git",
      "/alice/..%2fvictim.git",
      "/..%2f..%2fvictim.git/x.git",
      "/etc/passwd",
      "//etc/passwd",
      `/repositories/${site.id}.git`,
      "/alice/site.git/../../victim.git",
      "/alice%2fsite.git/x",
      "/.git/site.git",
      "/-alice/site.git",
    ];
    for (const path of paths) {
      for (const [method, suffix, contentType] of [
        ["GET", "/info/refs?service=git-upload-pack", undefined],
        ["GET", "/info/refs?service=git-receive-pack", undefined],
        ["POST", "/git-upload-pack", "application/x-git-upload-pack-request"],
        ["POST", "/git-receive-pack", "application/x-git-receive-pack-request"],
      ] as const) {
        const headers: Record<string, string> = { authorization: basic(alice.token) };
        if (contentType) headers["content-type"] = contentType;
        const res = await raw(t, method, `${path}${suffix}`, {
          headers,
          body: method === "POST" ? Buffer.from("0000") : undefined,
        });
        assert.equal(res.status, 404, `${method} ${path}${suffix}`);
        assert.ok(!res.body.toString().includes("refs/"), `${method} ${path}${suffix}`);
      }
    }
  });

  it("accepts gzip-compressed upload-pack requests", async () => {
    const res = await raw(t, "POST", "/alice/site.git/git-upload-pack", {
      headers: {
        authorization: basic(alice.token),
        "content-type": "application/x-git-upload-pack-request",
        "content-encoding": "gzip",
      },
      body: gzipSync(wantRequest(mainSha)),
    });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers["content-type"], "application/x-git-upload-pack-result");
    assert.ok(
      res.body.subarray(0, 8).toString() === "0008NAK\n",
      res.body.subarray(0, 40).toString(),
    );
    assert.ok(res.body.includes("PACK"));
  });

  it("survives a client that hangs up in the middle of a push", async () => {
    const before = await serverRefs(t, site.id);
    const { hostname, port } = new URL(t.url);
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: hostname,
        port,
        method: "POST",
        path: "/alice/site.git/git-receive-pack",
        headers: {
          authorization: basic(alice.token),
          "content-type": "application/x-git-receive-pack-request",
          "content-length": "100000",
        },
      });
      req.on("error", () => resolve());
      req.on("close", () => resolve());
      req.write(`${ZERO} ${mainSha} refs/heads/half`, () => setTimeout(() => req.destroy(), 100));
    });
    assert.deepEqual(await serverRefs(t, site.id), before);
    const ls = await w.git(["ls-remote", w.httpUrl(site, alice.token)]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, new RegExp(`^${mainSha}\trefs/heads/main$`, "m"));
  });

  it("refuses a push of refs/heads/-evil", async () => {
    const before = await serverRefs(t, site.id);
    const push = await w.git(["push", w.httpUrl(site, alice.token), "main:refs/heads/-evil"], {
      cwd: local,
    });
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /remote: Slipway: refusing refs\/heads\/-evil/);
    assert.match(push.stderr, /pre-receive hook declined/);
    assert.deepEqual(await serverRefs(t, site.id), before);
  });
});
