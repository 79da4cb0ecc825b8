import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import ssh2 from "ssh2";
import type { ParsedKey } from "ssh2";
import { runChecked } from "../../lib/run.ts";
import { generateEd25519KeyPair } from "../../lib/ssh-keys.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../test/helpers/forge.ts";
import type { PushEvent } from "../context.ts";
import { GitAccessMessages } from "./access.ts";
import { formatRemoteError, parseGitCommand } from "./ssh-server.ts";
import {
  addDeployKey,
  addUserKey,
  createGitWorkspace,
  recordPushes,
  serverRefs,
  type GitWorkspace,
  type KeyPair,
} from "../../../test/helpers/forge-git.ts";

const ZERO = "0".repeat(40);
const FATAL = "fatal: Could not read from remote repository.";

describe("git over SSH", () => {
  let t: TestForge;
  let w: GitWorkspace;
  let pushes: PushEvent[];
  let alice: TestUser;
  let bob: TestUser;
  let aliceKey: KeyPair;
  let aliceKeyId: number;
  let bobKey: KeyPair;
  let site: TestProject;
  let local: string;
  let mainSha: string;

  before(async () => {
    t = await startTestForge();
    w = await createGitWorkspace(t);
    pushes = recordPushes(t);
    alice = await t.createUser("alice");
    bob = await t.createUser("bob");
    aliceKey = await w.keygen("alice");
    bobKey = await w.keygen("bob");
    aliceKeyId = await addUserKey(t, alice, aliceKey);
    await addUserKey(t, bob, bobKey);
    site = await t.createProject(alice, "site");
    local = await w.initRepo("site-local");
    mainSha = (await runChecked("git", ["rev-parse", "HEAD"], { cwd: local })).trim();
    const pushed = await w.git(["push", w.sshUrl(site), "main"], { cwd: local, key: aliceKey });
    assert.equal(pushed.code, 0, pushed.stderr);
  });
  after(async () => {
    await w.cleanup();
    await t.stop();
  });

  describe("with a user key", () => {
    it("pushes, and reports the push to the hook dispatcher with the ref updates", async () => {
      assert.deepEqual(await serverRefs(t, site.id), new Map([["refs/heads/main", mainSha]]));
      assert.deepEqual(pushes[0], {
        projectId: site.id,
        userId: alice.id,
        updates: [{ before: ZERO, after: mainSha, ref: "refs/heads/main" }],
      });
      const key = await t.forge.ctx.db
        .selectFrom("keys")
        .select("last_used_at")
        .where("id", "=", aliceKeyId)
        .executeTakeFirstOrThrow();
      assert.notEqual(key.last_used_at, null);
    });

    it("clones and fetches", async () => {
      const clone = await w.git(["clone", "-q", w.sshUrl(site), "alice-clone"], { key: aliceKey });
      assert.equal(clone.code, 0, clone.stderr);
      const cloneDir = join(w.dir, "alice-clone");
      assert.equal(
        (await runChecked("git", ["rev-parse", "HEAD"], { cwd: cloneDir })).trim(),
        mainSha,
      );

      const newer = await w.commit(local, "fetched.txt", "fetch me\n");
      const push = await w.git(["push", "-q", w.sshUrl(site), "main"], {
        cwd: local,
        key: aliceKey,
      });
      assert.equal(push.code, 0, push.stderr);
      const fetch = await w.git(["fetch", "-q", "origin"], { cwd: cloneDir, key: aliceKey });
      assert.equal(fetch.code, 0, fetch.stderr);
      assert.equal(
        (await runChecked("git", ["rev-parse", "origin/main"], { cwd: cloneDir })).trim(),
        newer,
      );
      mainSha = newer;
    });

    it("accepts the scp-style path and the `git upload-pack` spelling", async () => {
      const scp = await w.git(["ls-remote", "git@127.0.0.1:alice/site"], { key: aliceKey });
      assert.equal(scp.code, 0, scp.stderr);
      assert.match(scp.stdout, /\trefs\/heads\/main$/m);
      // Straight over ssh: the advertisement arrives, then upload-pack meets EOF on stdin.
      const spelled = await w.ssh(aliceKey, ["git@127.0.0.1", `git upload-pack 'alice/site'`]);
      assert.match(spelled.stdout, /refs\/heads\/main/);
    });

    it("serves git archive --remote (upload-archive)", async () => {
      const result = await w.git(
        ["archive", `--remote=${w.sshUrl(site)}`, "--format=tar", "main", "README.md"],
        { key: aliceKey },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.stdout.includes("README.md"));
      assert.ok(result.stdout.includes("hello\n"));
      const denied = await w.git(
        ["archive", `--remote=${w.sshUrl(site)}`, "--format=tar", "main"],
        { key: bobKey },
      );
      assert.notEqual(denied.code, 0);
      assert.ok(denied.stderr.includes(formatRemoteError(GitAccessMessages.projectNotFound)));
    });

    it("uses protocol v2 when git asks for it through GIT_PROTOCOL", async () => {
      const result = await w.git(["-c", "protocol.version=2", "ls-remote", w.sshUrl(site)], {
        key: aliceKey,
        env: { GIT_TRACE_PACKET: "1" },
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /< version 2$/m);
      assert.match(result.stdout, new RegExp(`^${mainSha}\\s+refs/heads/main$`, "m"));
    });

    it("waits for the push to be recorded before the push returns", async () => {
      const hooks = t.forge.ctx.hooks;
      const wrapped = hooks.recordPush;
      let recorded = false;
      hooks.recordPush = async (event) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        await wrapped(event);
        recorded = true;
      };
      try {
        const sha = await w.commit(local, "slow.txt", "slow\n");
        const push = await w.git(["push", "-q", w.sshUrl(site), "main"], {
          cwd: local,
          key: aliceKey,
        });
        assert.equal(push.code, 0, push.stderr);
        assert.equal(recorded, true);
        assert.deepEqual(pushes.at(-1)?.updates, [
          { before: mainSha, after: sha, ref: "refs/heads/main" },
        ]);
        mainSha = sha;
      } finally {
        hooks.recordPush = wrapped;
      }
      const project = await t.forge.ctx.db
        .selectFrom("projects")
        .select(["last_activity_at", "created_at"])
        .where("id", "=", site.id)
        .executeTakeFirstOrThrow();
      assert.ok(project.last_activity_at > project.created_at);
    });

    it("hides a private project from a user who is not a member", async () => {
      const clone = await w.git(["clone", w.sshUrl(site), "bob-clone"], { key: bobKey });
      assert.notEqual(clone.code, 0);
      assert.ok(clone.stderr.includes(formatRemoteError(GitAccessMessages.projectNotFound)));
      assert.ok(clone.stderr.includes(FATAL));
    });

    it("lets a non-member clone a public project but not push to it", async () => {
      const open = await t.createProject(alice, "open-site", "public");
      const seed = await w.git(["push", "-q", w.sshUrl(open), "main"], {
        cwd: local,
        key: aliceKey,
      });
      assert.equal(seed.code, 0, seed.stderr);
      const clone = await w.git(["clone", "-q", w.sshUrl(open), "bob-open"], { key: bobKey });
      assert.equal(clone.code, 0, clone.stderr);
      const before = await serverRefs(t, open.id);
      const push = await w.git(["push", w.sshUrl(open), "main:refs/heads/bob"], {
        cwd: local,
        key: bobKey,
      });
      assert.notEqual(push.code, 0);
      assert.ok(push.stderr.includes(formatRemoteError(GitAccessMessages.pushCode)));
      assert.deepEqual(await serverRefs(t, open.id), before);
    });

    it("refuses a push from a Reporter with GitLab's message", async () => {
      const added = await t.api("POST", `/projects/${site.id}/members`, {
        token: alice.token,
        body: { user_id: bob.id, access_level: 20 },
      });
      assert.equal(added.status, 201, added.text);
      try {
        const clone = await w.git(["clone", "-q", w.sshUrl(site), "bob-reporter"], {
          key: bobKey,
        });
        assert.equal(clone.code, 0, clone.stderr);
        const push = await w.git(["push", w.sshUrl(site), "main:refs/heads/reporter"], {
          cwd: local,
          key: bobKey,
        });
        assert.notEqual(push.code, 0);
        assert.ok(push.stderr.includes(formatRemoteError(GitAccessMessages.pushCode)));
        assert.equal((await serverRefs(t, site.id)).has("refs/heads/reporter"), false);
      } finally {
        await t.api("DELETE", `/projects/${site.id}/members/${bob.id}`, { token: alice.token });
      }
    });

    it("refuses an expired key with GitLab's message", async () => {
      const carol = await t.createUser("carol");
      const carolKey = await w.keygen("carol");
      const keyId = await addUserKey(t, carol, carolKey);
      const project = await t.createProject(carol, "carol-site");
      await t.forge.ctx.db
        .updateTable("keys")
        .set({ expires_at: "2020-01-01T00:00:00.000Z" })
        .where("id", "=", keyId)
        .execute();
      const clone = await w.git(["clone", w.sshUrl(project), "carol-clone"], { key: carolKey });
      assert.notEqual(clone.code, 0);
      assert.ok(clone.stderr.includes(formatRemoteError(GitAccessMessages.keyExpired)));
    });

    it("no longer lets a deleted key in", async () => {
      const dave = await t.createUser("dave");
      const daveKey = await w.keygen("dave");
      const keyId = await addUserKey(t, dave, daveKey);
      const project = await t.createProject(dave, "dave-site", "public");
      const ok = await w.git(["ls-remote", w.sshUrl(project)], { key: daveKey });
      assert.equal(ok.code, 0, ok.stderr);
      const removed = await t.api("DELETE", `/user/keys/${keyId}`, { token: dave.token });
      assert.equal(removed.status, 204, removed.text);
      const denied = await w.git(["ls-remote", w.sshUrl(project)], { key: daveKey });
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /Permission denied \(publickey\)/);
    });
  });

  describe("with deploy keys", () => {
    let readOnly: KeyPair;
    let writer: KeyPair;
    let writerId: number;

    before(async () => {
      readOnly = await w.keygen("deploy-ro");
      writer = await w.keygen("deploy-rw");
      await addDeployKey(t, alice, site.id, readOnly, false);
      writerId = await addDeployKey(t, alice, site.id, writer, true);
    });

    it("clones with a read-only deploy key, and refuses its push without writing anything", async () => {
      const clone = await w.git(["clone", "-q", w.sshUrl(site), "ro-clone"], { key: readOnly });
      assert.equal(clone.code, 0, clone.stderr);
      const cloneDir = join(w.dir, "ro-clone");
      await w.commit(cloneDir, "ro.txt", "should not land\n");
      const before = await serverRefs(t, site.id);
      const objectsBefore = await countObjects(t, site.id);
      const eventsBefore = pushes.length;

      const push = await w.git(["push", "origin", "HEAD:main", "HEAD:refs/heads/ro"], {
        cwd: cloneDir,
        key: readOnly,
      });
      assert.notEqual(push.code, 0);
      assert.ok(
        push.stderr.includes(
          "remote: \nremote: ========================================================================\n" +
            "remote: \nremote: ERROR: This deploy key does not have write access to this project.\n" +
            "remote: \nremote: ========================================================================\n" +
            "remote: \n",
        ),
        push.stderr,
      );
      assert.ok(push.stderr.includes(FATAL));
      assert.deepEqual(await serverRefs(t, site.id), before);
      assert.equal(await countObjects(t, site.id), objectsBefore);
      assert.equal(pushes.length, eventsBefore);
    });

    it("pushes with a can_push deploy key, attributed to the key's owner", async () => {
      const owner = await t.forge.ctx.db
        .selectFrom("keys")
        .select("user_id")
        .where("id", "=", writerId)
        .executeTakeFirstOrThrow();
      const sha = await w.commit(local, "deploy.txt", "from the deploy key\n");
      const push = await w.git(["push", "-q", w.sshUrl(site), "main:refs/heads/deployed"], {
        cwd: local,
        key: writer,
      });
      assert.equal(push.code, 0, push.stderr);
      assert.equal((await serverRefs(t, site.id)).get("refs/heads/deployed"), sha);
      assert.deepEqual(pushes.at(-1), {
        projectId: site.id,
        userId: owner.user_id,
        updates: [{ before: ZERO, after: sha, ref: "refs/heads/deployed" }],
      });
    });

    it("says project-not-found for a private project the key is not attached to", async () => {
      const other = await t.createProject(alice, "other-private");
      const clone = await w.git(["clone", w.sshUrl(other), "not-attached"], { key: writer });
      assert.notEqual(clone.code, 0);
      assert.ok(clone.stderr.includes(formatRemoteError(GitAccessMessages.projectNotFound)));
      const push = await w.git(["push", w.sshUrl(other), "main"], { cwd: local, key: writer });
      assert.ok(push.stderr.includes(formatRemoteError(GitAccessMessages.projectNotFound)));
      assert.equal((await serverRefs(t, other.id)).size, 0);
    });

    it("reads an unattached public project but may not push to it", async () => {
      const open = await t.createProject(alice, "open-for-keys", "public");
      const seed = await w.git(["push", "-q", w.sshUrl(open), "main"], {
        cwd: local,
        key: aliceKey,
      });
      assert.equal(seed.code, 0, seed.stderr);
      const ls = await w.git(["ls-remote", w.sshUrl(open)], { key: writer });
      assert.equal(ls.code, 0, ls.stderr);
      const push = await w.git(["push", w.sshUrl(open), "main:refs/heads/x"], {
        cwd: local,
        key: writer,
      });
      assert.ok(push.stderr.includes(formatRemoteError(GitAccessMessages.deployKeyUpload)));
    });

    it("greets the deploy key's owner on ssh -T", async () => {
      const result = await w.ssh(writer, ["-T", "git@127.0.0.1"]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "Welcome to Slipway, @alice!\n");
    });
  });

  describe("refusals", () => {
    it("greets the user on ssh -T and exits 0", async () => {
      const result = await w.ssh(aliceKey, ["-T", "git@127.0.0.1"]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "Welcome to Slipway, @alice!\n");
    });

    it("fails authentication for an unknown key", async () => {
      const stranger = await w.keygen("stranger");
      const result = await w.ssh(stranger, ["-T", "git@127.0.0.1"]);
      assert.equal(result.code, 255);
      assert.match(result.stderr, /Permission denied \(publickey\)/);
      const clone = await w.git(["clone", w.sshUrl(site), "stranger"], { key: stranger });
      assert.notEqual(clone.code, 0);
      assert.ok(clone.stderr.includes(FATAL));
    });

    it("accepts only the login name git", async () => {
      const result = await w.ssh(aliceKey, ["-T", "root@127.0.0.1"]);
      assert.equal(result.code, 255);
      assert.match(result.stderr, /Permission denied \(publickey\)/);
    });

    it("refuses any other command", async () => {
      for (const command of [
        "id",
        "sh -c id",
        "git-upload-pack 'alice/site.git'; id",
        "git-shell",
      ]) {
        const result = await w.ssh(aliceKey, ["git@127.0.0.1", command]);
        assert.equal(result.code, 1, command);
        assert.ok(result.stderr.includes(formatRemoteError(GitAccessMessages.commandNotAllowed)));
      }
    });

    it("refuses a pty", async () => {
      const result = await w.ssh(aliceKey, ["-tt", "git@127.0.0.1"]);
      assert.equal(result.code, 255);
      assert.match(result.stderr, /PTY allocation request failed/);
      assert.equal(result.stdout, "");
    });

    it("refuses subsystems, and port forwarding in both directions", async () => {
      const sftp = await w.ssh(aliceKey, ["-s", "git@127.0.0.1", "sftp"]);
      assert.equal(sftp.code, 255);
      assert.match(sftp.stderr, /subsystem request failed/);

      const httpPort = new URL(t.url).port;
      const local = await w.ssh(aliceKey, ["-W", `127.0.0.1:${httpPort}`, "git@127.0.0.1"]);
      assert.equal(local.code, 255);
      assert.match(local.stderr, /stdio forwarding failed/);

      const remote = await w.ssh(aliceKey, [
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-R",
        "0:127.0.0.1:9",
        "git@127.0.0.1",
      ]);
      assert.equal(remote.code, 255);
      assert.match(remote.stderr, /remote port forwarding failed/);
    });

    it("treats path tricks as not found and never reaches another directory", async () => {
      // A real repository just outside the repositories root, and one at an absolute path.
      const outside = join(t.dataDir, "victim.git");
      await runChecked("git", ["init", "-q", "--bare", "--", outside]);
      const absolute = join(w.dir, "abs", "victim.git");
      await mkdir(join(w.dir, "abs"));
      await runChecked("git", ["init", "-q", "--bare", "--", absolute]);
      const paths = [
        "../victim.git",
        "/../victim.git",
        `../../${site.id}.git`,
        "alice/../alice/site.git",
        "alice/%2e%2e/site.git",
        "%2e%2e/%2e%2e/victim.git",
        "/etc/passwd",
        "/etc",
        absolute,
        `${site.id}.git`,
        "alice//site.git",
        "~alice/site.git",
        "--help",
        "-alice/site.git",
      ];
      for (const path of paths) {
        for (const service of ["git-upload-pack", "git-receive-pack", "git-upload-archive"]) {
          const result = await w.ssh(aliceKey, ["git@127.0.0.1", `${service} '${path}'`]);
          assert.equal(result.code, 1, `${service} ${path}`);
          assert.equal(result.stdout, "", `${service} ${path}`);
          assert.ok(
            result.stderr.includes(formatRemoteError(GitAccessMessages.projectNotFound)),
            `${service} ${path}: ${result.stderr}`,
          );
        }
      }
    });

    it("survives garbage and clients that hang up mid-command", async () => {
      for (const payload of [
        Buffer.from("not ssh at all\r\n"),
        Buffer.concat([Buffer.from("SSH-2.0-fuzz\r\n"), randomBytes(4096)]),
      ]) {
        await new Promise<void>((resolve) => {
          const socket = createConnection(t.sshPort, "127.0.0.1", () => socket.end(payload));
          socket.on("error", () => resolve());
          socket.on("close", () => resolve());
          socket.resume();
        });
      }
      const privateKey = await readFile(aliceKey.privatePath, "utf8");
      const client = new ssh2.Client();
      await new Promise<void>((resolve, reject) => {
        client.once("ready", resolve).once("error", reject);
        client.connect({ host: "127.0.0.1", port: t.sshPort, username: "git", privateKey });
      });
      client.on("error", () => {});
      await new Promise<void>((resolve, reject) => {
        client.exec("git-upload-pack 'alice/site.git'", (error, channel) => {
          if (error) return reject(error);
          channel.once("data", () => {
            client.destroy();
            resolve();
          });
        });
      });
      const after = await w.ssh(aliceKey, ["-T", "git@127.0.0.1"]);
      assert.equal(after.code, 0, after.stderr);
      assert.equal(after.stdout, "Welcome to Slipway, @alice!\n");
    });

    it("refuses refs whose name starts with '-' and refs outside heads and tags", async () => {
      const before = await serverRefs(t, site.id);
      for (const ref of ["refs/heads/-evil", "refs/tags/--upload-pack=x", "refs/notes/evil"]) {
        const push = await w.git(["push", w.sshUrl(site), `main:${ref}`], {
          cwd: local,
          key: aliceKey,
        });
        assert.notEqual(push.code, 0, ref);
        assert.match(push.stderr, new RegExp(`remote: Slipway: refusing ${escape(ref)}`));
        assert.match(push.stderr, /pre-receive hook declined/);
      }
      assert.deepEqual(await serverRefs(t, site.id), before);
    });
  });

  describe("the ssh2 layer", () => {
    it("does not log in with a registered public key signed by a different private key", async () => {
      const registered = generateEd25519KeyPair();
      const impostor = generateEd25519KeyPair();
      const erin = await t.createUser("erin");
      const added = await t.api("POST", "/user/keys", {
        token: erin.token,
        body: { title: "erin", key: registered.public },
      });
      assert.equal(added.status, 201, added.text);
      const publicKey = parse(registered.private);

      const forged = await connect(t, new SigningAgent(publicKey, parse(impostor.private)));
      assert.equal(forged.ok, false);
      assert.match(String(forged.error), /All configured authentication methods failed/);

      const genuine = await connect(t, new SigningAgent(publicKey, publicKey));
      assert.equal(genuine.ok, true, String(genuine.error));
    });

    it("passes only a valid GIT_PROTOCOL to git, and no other environment", async () => {
      const v2 = await execOverSsh2(t, aliceKey, "git-upload-pack 'alice/site.git'", {
        GIT_PROTOCOL: "version=2",
        GIT_TRACE: "1",
        GIT_CONFIG_PARAMETERS: "'core.hookspath'='/tmp'",
      });
      assert.ok(v2.stdout.startsWith("000eversion 2\n"), v2.stdout.slice(0, 40));
      assert.doesNotMatch(v2.stderr, /trace/);

      const bogus = await execOverSsh2(t, aliceKey, "git-upload-pack 'alice/site.git'", {
        GIT_PROTOCOL: "version=2:--split-string=x",
      });
      assert.ok(!bogus.stdout.includes("version 2"), bogus.stdout.slice(0, 80));
      assert.match(bogus.stdout, /refs\/heads\/main/);
    });
  });
});

describe("the SSH server's lifecycle", () => {
  it("stops listening and ends open connections on close", async () => {
    const t = await startTestForge();
    const user = await t.createUser("frank");
    const pair = generateEd25519KeyPair();
    const added = await t.api("POST", "/user/keys", {
      token: user.token,
      body: { title: "frank", key: pair.public },
    });
    assert.equal(added.status, 201, added.text);
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once("ready", resolve).once("error", reject);
      client.connect({
        host: "127.0.0.1",
        port: t.sshPort,
        username: "git",
        privateKey: pair.private,
      });
    });
    const closed = new Promise<void>((resolve) => client.once("close", resolve));
    client.on("error", () => {});
    await t.stop();
    await closed;
    const again = await connect(t, undefined);
    assert.equal(again.ok, false);
    assert.match(String(again.error), /ECONNREFUSED/);
  });
});

describe("parseGitCommand", () => {
  it("accepts the three services in both spellings with a quoted path", () => {
    assert.deepEqual(parseGitCommand("git-upload-pack '/a/b.git'"), {
      service: "upload-pack",
      path: "/a/b.git",
    });
    assert.deepEqual(parseGitCommand("git receive-pack 'a/b'"), {
      service: "receive-pack",
      path: "a/b",
    });
    assert.deepEqual(parseGitCommand("git-upload-archive 'a/b.git'"), {
      service: "upload-archive",
      path: "a/b.git",
    });
  });

  it("refuses anything else", () => {
    for (const command of [
      "git-upload-pack a/b.git",
      "git-upload-pack 'a/b.git' extra",
      "git-upload-pack 'a'\\''b'",
      "git-upload-pack 'a/b.git'\n",
      'git-upload-pack "a/b.git"',
      "git-cvsserver 'a/b'",
      "git  upload-pack 'a/b'",
      "git-upload-pack 'a\u0000b'",
      "scp -t /tmp",
      "",
    ]) {
      assert.equal(parseGitCommand(command), undefined, JSON.stringify(command));
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function parse(key: string): ParsedKey {
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error) throw parsed;
  return parsed;
}

async function countObjects(t: TestForge, projectId: number): Promise<string> {
  return runChecked("git", [
    "--git-dir",
    t.forge.ctx.repositories.pathFor(projectId),
    "count-objects",
    "-v",
  ]);
}

/** An agent that offers one public key but signs with whatever key it is given. */
class SigningAgent extends ssh2.BaseAgent<ParsedKey> {
  constructor(
    private readonly offered: ParsedKey,
    private readonly signer: ParsedKey,
  ) {
    super();
  }

  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    cb(undefined, [this.offered]);
  }

  sign(
    _pubKey: ParsedKey,
    data: Buffer,
    options: ssh2.SigningRequestOptions | ((err: Error | undefined, signature?: Buffer) => void),
    cb?: (err: Error | undefined, signature?: Buffer) => void,
  ): void {
    const callback = typeof options === "function" ? options : cb;
    const hash = typeof options === "function" ? undefined : options.hash;
    callback?.(undefined, this.signer.sign(data, hash));
  }
}

async function connect(
  t: TestForge,
  agent: ssh2.BaseAgent | undefined,
): Promise<{ ok: boolean; error?: unknown }> {
  const client = new ssh2.Client();
  return new Promise((resolve) => {
    client.once("ready", () => {
      client.end();
      resolve({ ok: true });
    });
    client.once("error", (error) => resolve({ ok: false, error }));
    client.connect({
      host: "127.0.0.1",
      port: t.sshPort,
      username: "git",
      agent,
      readyTimeout: 10_000,
    });
  });
}

/** Runs one command with ssh2's client (which can send any `env` request) and collects output. */
async function execOverSsh2(
  t: TestForge,
  key: KeyPair,
  command: string,
  env: Record<string, string>,
): Promise<{ stdout: string; stderr: string; code: number | undefined }> {
  const privateKey = await readFile(key.privatePath, "utf8");
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once("ready", resolve).once("error", reject);
    client.connect({ host: "127.0.0.1", port: t.sshPort, username: "git", privateKey });
  });
  try {
    return await new Promise((resolve, reject) => {
      client.exec(command, { env }, (error, channel) => {
        if (error) return reject(error);
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let code: number | undefined;
        channel.on("data", (chunk: Buffer) => out.push(chunk));
        channel.stderr.on("data", (chunk: Buffer) => err.push(chunk));
        channel.on("exit", (status: number | null) => (code = status ?? undefined));
        channel.on("close", () =>
          resolve({
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(err).toString("utf8"),
            code,
          }),
        );
        // Read the advertisement, then hang up: upload-pack sees EOF and exits.
        setTimeout(() => channel.end(), 500);
      });
    });
  } finally {
    client.end();
  }
}
