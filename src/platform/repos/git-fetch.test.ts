import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { run, runChecked } from "../../lib/run.ts";
import { listRemoteBranches } from "./git-branches.ts";
import { deployKeyFingerprint, gitEnvironment, sshCommand } from "./git-command.ts";
import { fetchRepository, GitFetchError, type FetchOptions } from "./git-fetch.ts";
import { sweepStaleGitTempDirs } from "./git-temp-dirs.ts";
import { hostKeyFingerprint, MemoryHostKeyStore } from "./host-keys.ts";
import {
  generateKeyPair,
  sshdSkipReason,
  testGitEnv,
  TestRepo,
  TestSshd,
  type KeyPair,
} from "../../../test/helpers/sshd.ts";

const skip = sshdSkipReason() ?? false;

let dir: string;
let tempRoot: string;
let deployKey: KeyPair;
let otherKey: KeyPair;
let sshd: TestSshd;
let repo: TestRepo;
let firstSha: string;
let devSha: string;
let counter = 0;

const next = (name: string): string => join(dir, `${name}-${++counter}`);

/** Fetch options for the test server, with a fresh mirror and checkout unless given. */
function options(overrides: Partial<FetchOptions> = {}): FetchOptions {
  return {
    repoUrl: sshd.url("site.git"),
    privateKey: deployKey.privateKey,
    hostKeys: new MemoryHostKeyStore(),
    allowPrivateNetwork: true,
    branch: "main",
    mirrorDir: next("mirror"),
    checkoutDir: next("checkout"),
    tempRoot,
    connectTimeoutSec: 5,
    timeoutMs: 30_000,
    ...overrides,
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<GitFetchError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof GitFetchError, `not a GitFetchError: ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a ${code} failure`);
}

/** `SHA256:…` as ssh-keygen prints it for a public key. */
async function sshKeygenFingerprint(publicKey: string): Promise<string> {
  const path = join(dir, `fp-${++counter}.pub`);
  await writeFile(path, publicKey + "\n");
  const out = await runChecked("ssh-keygen", ["-l", "-E", "sha256", "-f", path]);
  return out.split(" ")[1]!;
}

/** The sha of main in the served repository. */
function listRemoteHead(): Promise<string> {
  return runChecked("git", ["--git-dir", repo.bare, "rev-parse", "refs/heads/main"], {
    env: testGitEnv(),
  });
}

async function objectCount(mirror: string): Promise<number> {
  const out = await runChecked("git", ["--git-dir", mirror, "count-objects", "-v"], {
    env: testGitEnv(),
  });
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, "m").exec(out)?.[1] ?? 0);
  return field("count") + field("in-pack");
}

describe("git fetch over a real sshd", { skip }, () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-git-fetch-test-"));
    tempRoot = join(dir, "tmp");
    await mkdir(tempRoot);
    deployKey = await generateKeyPair(dir, "deploy_key");
    otherKey = await generateKeyPair(dir, "other_key");
    sshd = await TestSshd.start([deployKey.publicKey]);
    repo = await TestRepo.create(sshd, "site.git");
    firstSha = await repo.commit({
      "index.html": "<h1>v1</h1>\n",
      "assets/app.js": "console.log(1);\n",
    });
    devSha = await repo.commit({ "dev.txt": "dev\n" }, "dev");
  });

  after(async () => {
    await sshd?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("fetches a branch into a new mirror, checks it out and pins the host key", async () => {
    const logs: string[] = [];
    const opts = options({ onLog: (m) => logs.push(m) });
    const store = opts.hostKeys as MemoryHostKeyStore;
    const result = await fetchRepository(opts);
    assert.equal(result.sha, firstSha);
    assert.equal(result.previousSha, undefined);
    assert.equal(result.hostKeyRecorded, true);
    assert.equal(await readFile(join(opts.checkoutDir, "index.html"), "utf8"), "<h1>v1</h1>\n");
    assert.equal(
      await readFile(join(opts.checkoutDir, "assets/app.js"), "utf8"),
      "console.log(1);\n",
    );
    assert.equal(existsSync(join(opts.checkoutDir, ".git")), false);
    assert.equal(existsSync(join(opts.checkoutDir, "dev.txt")), false);
    // The pinned key is the server's real host key.
    assert.deepEqual(await store.get("127.0.0.1", sshd.port), [sshd.hostPublicKey]);
    const hostFingerprint = hostKeyFingerprint(sshd.hostPublicKey);
    assert.ok(logs.some((l) => l.includes("recorded its host key") && l.includes(hostFingerprint)));
    const keyFingerprint = await sshKeygenFingerprint(deployKey.publicKey);
    assert.ok(
      logs.some((l) => l.includes(`deploy key ED25519 ${keyFingerprint}`)),
      logs.join("\n"),
    );
    // The key file and its directory are gone.
    assert.deepEqual(await readdir(tempRoot), []);
  });

  it("fetches incrementally into an existing mirror", async () => {
    const mirrorDir = next("mirror");
    const hostKeys = new MemoryHostKeyStore();
    const first = await fetchRepository(options({ mirrorDir, hostKeys }));
    assert.equal(first.sha, firstSha);
    const before = await objectCount(mirrorDir);
    const secondSha = await repo.commit({ "index.html": "<h1>v2</h1>\n" }, "main", "v2");
    const second = await fetchRepository(options({ mirrorDir, hostKeys }));
    assert.equal(second.sha, secondSha);
    assert.equal(second.previousSha, firstSha);
    assert.equal(second.hostKeyRecorded, false);
    // Only the new commit, its root tree and the changed blob came over.
    assert.equal((await objectCount(mirrorDir)) - before, 3);
    // An unchanged branch fetches nothing.
    const third = await fetchRepository(options({ mirrorDir, hostKeys }));
    assert.equal(third.previousSha, secondSha);
    assert.equal((await objectCount(mirrorDir)) - before, 3);
  });

  it("rebuilds a damaged mirror and carries on", async () => {
    const mirrorDir = next("mirror");
    const hostKeys = new MemoryHostKeyStore();
    await fetchRepository(options({ mirrorDir, hostKeys }));
    await writeFile(join(mirrorDir, "config"), "[[[ not a config\n");
    const logs: string[] = [];
    const again = await fetchRepository(
      options({ mirrorDir, hostKeys, onLog: (m) => logs.push(m) }),
    );
    assert.equal(again.sha, (await listRemoteHead()).trim());
    assert.ok(logs.some((l) => l.includes("mirror is damaged")));
  });

  it("checks out a given commit of the branch, and refuses one that is not on it", async () => {
    const mirrorDir = next("mirror");
    const hostKeys = new MemoryHostKeyStore();
    const checkoutDir = next("checkout");
    const old = await fetchRepository(
      options({ mirrorDir, hostKeys, checkoutDir, commit: firstSha }),
    );
    assert.equal(old.sha, firstSha);
    assert.equal(await readFile(join(checkoutDir, "index.html"), "utf8"), "<h1>v1</h1>\n");
    const error = await rejectsWith(
      fetchRepository(options({ mirrorDir, hostKeys, commit: devSha })),
      "commit_not_on_branch",
    );
    assert.match(error.message, /is not on the branch main/);
  });

  it("keeps git's own checkout rules: symlinks are written as symlinks", async () => {
    const linkRepo = await TestRepo.create(sshd, "links.git");
    await linkRepo.commit({ "target.txt": "t\n" });
    await runChecked("ln", ["-s", "target.txt", join(linkRepo.work, "link")]);
    await linkRepo.commit({});
    const opts = options({ repoUrl: sshd.url("links.git") });
    await fetchRepository(opts);
    const info = await lstat(join(opts.checkoutDir, "link"));
    assert.ok(info.isSymbolicLink());
    assert.equal(await readlink(join(opts.checkoutDir, "link")), "target.txt");
  });

  it("lists the remote branches", async () => {
    const branches = await listRemoteBranches(options());
    assert.deepEqual(branches, ["dev", "main"]);
  });

  it("says which key was refused and where to add it when the deploy key is wrong", async () => {
    const error = await rejectsWith(
      fetchRepository(options({ privateKey: otherKey.privateKey, provider: "gitlab" })),
      "auth_failed",
    );
    const fingerprint = await sshKeygenFingerprint(otherKey.publicKey);
    assert.ok(error.message.includes(fingerprint), error.message);
    assert.match(error.message, /Permission denied \(publickey\)/);
    assert.match(error.message, /deploy key of the repository/);
    assert.match(error.message, /Settings → Repository → Deploy keys/);
    assert.match(error.message, /not to a user's SSH keys/);
    assert.match(error.detail, /Permission denied \(publickey\)/);
    const shown = error.message + error.detail;
    assert.ok(!shown.includes(tempRoot), "the key's temp path is shown");
    assert.ok(!shown.includes(otherKey.privateKey.split("\n")[1]!), "the key is shown");
    assert.deepEqual(await readdir(tempRoot), []);
  });

  it("names the existing branches when the branch does not exist", async () => {
    const error = await rejectsWith(fetchRepository(options({ branch: "prod" })), "ref_not_found");
    assert.match(error.message, /The branch "prod" does not exist/);
    assert.match(error.message, /Branches that exist: dev, main\./);
  });

  it("says the repository is missing or not readable by the key", async () => {
    const error = await rejectsWith(
      fetchRepository(options({ repoUrl: sshd.url("missing.git"), provider: "github" })),
      "repo_not_found",
    );
    assert.match(error.message, /does not exist or this key may not read it/);
    assert.match(error.message, /Deploy keys/);
  });

  it("treats hostile but valid branch names literally", async () => {
    const marker = join(dir, `pwned-${process.pid}`);
    const branch = `x$(touch${"${IFS}"}${marker})\`id\`;|sh`;
    const sha = await repo.commit({ "hostile.txt": "h\n" }, branch);
    const result = await fetchRepository(options({ branch }));
    assert.equal(result.sha, sha);
    assert.equal(existsSync(marker), false);
  });

  it("refuses option-like branches and URLs before running anything", async () => {
    const marker = join(dir, `pwned-opt-${process.pid}`);
    await rejectsWith(
      fetchRepository(options({ branch: `--upload-pack=touch ${marker}` })),
      "not_allowed",
    );
    await rejectsWith(
      fetchRepository(options({ repoUrl: `--config=core.sshCommand=touch ${marker}` })),
      "not_allowed",
    );
    await rejectsWith(
      fetchRepository(options({ repoUrl: `ext::sh -c touch% ${marker}` })),
      "not_allowed",
    );
    await rejectsWith(
      fetchRepository(options({ repoUrl: "ssh://-oProxyCommand=touch/x" })),
      "not_allowed",
    );
    await rejectsWith(fetchRepository(options({ repoUrl: repo.bare })), "not_allowed");
    await rejectsWith(fetchRepository(options({ repoUrl: `file://${repo.bare}` })), "not_allowed");
    await rejectsWith(fetchRepository(options({ commit: "HEAD~1" })), "not_allowed");
    assert.equal(existsSync(marker), false);
  });

  it("refuses loopback and private hosts unless allowed", async () => {
    const hostKeys = new MemoryHostKeyStore();
    const error = await rejectsWith(
      fetchRepository(options({ hostKeys, allowPrivateNetwork: false })),
      "not_allowed",
    );
    assert.match(error.message, /127\.0\.0\.1.*loopback, private or link-local/);
    assert.equal(await hostKeys.get("127.0.0.1", sshd.port), undefined); // never contacted
    const onlyOthers = (_host: string, address: string) => address === "10.0.0.1";
    await rejectsWith(fetchRepository(options({ allowPrivateNetwork: onlyOthers })), "not_allowed");
  });

  it("reports connection refused and stalled servers as network problems, quickly", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const refused = await rejectsWith(
      fetchRepository(options({ repoUrl: `ssh://git@127.0.0.1:${closedPort}/x.git` })),
      "network",
    );
    assert.match(refused.message, /127\.0\.0\.1:\d+: connection refused/);

    // A server that accepts connections and never says a word.
    const sockets: Socket[] = [];
    const stall: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((r) => stall.listen(0, "127.0.0.1", r));
    const stallPort = (stall.address() as { port: number }).port;
    try {
      const started = Date.now();
      const silent = await rejectsWith(
        fetchRepository(
          options({ repoUrl: `ssh://git@127.0.0.1:${stallPort}/x.git`, connectTimeoutSec: 1 }),
        ),
        "network",
      );
      assert.match(silent.message, /did not present an SSH host key/);
      // With the host key already pinned, ssh itself times out waiting for the server.
      const hostKeys = new MemoryHostKeyStore();
      await hostKeys.save("127.0.0.1", stallPort, [sshd.hostPublicKey]);
      const pinned = await rejectsWith(
        fetchRepository(
          options({
            repoUrl: `ssh://git@127.0.0.1:${stallPort}/x.git`,
            hostKeys,
            connectTimeoutSec: 1,
          }),
        ),
        "network",
      );
      assert.match(pinned.message, /timed out/);
      assert.ok(Date.now() - started < 15_000);
    } finally {
      sockets.forEach((s) => s.destroy());
      stall.close();
    }
  });

  it("stops a fetch that runs past its time limit", async () => {
    const sockets: Socket[] = [];
    // Answers the SSH banner, then nothing: ssh waits for key exchange until the limit.
    const stall: Server = createServer((socket) => {
      sockets.push(socket);
      socket.write("SSH-2.0-Stall\r\n");
    });
    await new Promise<void>((r) => stall.listen(0, "127.0.0.1", r));
    const port = (stall.address() as { port: number }).port;
    const hostKeys = new MemoryHostKeyStore();
    await hostKeys.save("127.0.0.1", port, [sshd.hostPublicKey]);
    try {
      const started = Date.now();
      const error = await rejectsWith(
        fetchRepository(
          options({ repoUrl: `ssh://git@127.0.0.1:${port}/x.git`, hostKeys, timeoutMs: 1500 }),
        ),
        "timeout",
      );
      assert.match(error.message, /did not finish within the time limit \(2 s\)/);
      assert.ok(Date.now() - started < 10_000);
      assert.deepEqual(await readdir(tempRoot), []);
    } finally {
      sockets.forEach((s) => s.destroy());
      stall.close();
    }
  });

  it("never puts the key in a process's arguments or environment", async () => {
    const keyBody = deployKey.privateKey.split("\n")[1]!;
    const seen: string[] = [];
    let sampling = true;
    const sample = async () => {
      while (sampling) {
        // Only this test's own descendants (other programs may use git over ssh), found
        // through the kernel's child lists: a scan of all of /proc is too slow on a busy machine.
        for (const pid of await descendantsOf(process.pid)) {
          for (const file of ["cmdline", "environ"]) {
            const text = await readFile(`/proc/${pid}/${file}`, "latin1").catch(() => "");
            if (text.includes(keyBody)) seen.push(text);
            if (file === "environ" && text.includes("GIT_SSH_COMMAND=")) {
              seen.push(`ssh:${/GIT_SSH_COMMAND=([^\0]*)/.exec(text)?.[1]}`);
            }
          }
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    const sampler = sample();
    try {
      // Fetch until the sampler has seen the fetch's processes at least once (a fetch can be
      // shorter than one sampling round on a loaded machine); every round is checked for keys.
      for (let round = 0; round < 20 && !seen.some((s) => s.startsWith("ssh:")); round++) {
        await fetchRepository(options());
        await fetchRepository(options({ privateKey: otherKey.privateKey })).catch(() => undefined);
      }
    } finally {
      sampling = false;
      await sampler;
    }
    assert.deepEqual(
      seen.filter((s) => !s.startsWith("ssh:")),
      [],
    );
    const commands = seen.filter((s) => s.startsWith("ssh:"));
    assert.ok(commands.length > 0, "the sampler saw the fetch's git processes");
    // What was seen of the ssh command holds a path to the key, never the key.
    for (const command of seen.filter((s) => s.startsWith("ssh:"))) {
      assert.match(command, /-i \S*deploy_key/);
    }
  });

  it("fails closed when the server's host key changes", async () => {
    const hostKeys = new MemoryHostKeyStore();
    await fetchRepository(options({ hostKeys }));
    const pinned = await hostKeys.get("127.0.0.1", sshd.port);
    await sshd.newHostKey();
    await sshd.restart();
    const error = await rejectsWith(fetchRepository(options({ hostKeys })), "host_key_changed");
    assert.match(error.message, /host key of 127\.0\.0\.1:\d+ has changed/);
    assert.ok(error.message.includes(hostKeyFingerprint(pinned![0]!)), error.message);
    assert.ok(error.message.includes(hostKeyFingerprint(sshd.hostPublicKey)), error.message);
    // The pin is not replaced by the new key.
    assert.deepEqual(await hostKeys.get("127.0.0.1", sshd.port), pinned);
    // Without trust on first use, an unknown host is refused before connecting.
    await rejectsWith(fetchRepository(options({ trustOnFirstUse: false })), "host_key_unknown");
  });
});

describe("git hardening", () => {
  it("git refuses local and file:// transports under Slipway's environment", async () => {
    const home = await mkdtemp(join(tmpdir(), "slipway-git-env-"));
    try {
      await runChecked("git", ["init", "--quiet", "--bare", join(home, "victim.git")], {
        env: testGitEnv(),
      });
      for (const url of [join(home, "victim.git"), `file://${join(home, "victim.git")}`]) {
        const result = await run("git", ["ls-remote", "--end-of-options", url], {
          env: gitEnvironment(home),
        });
        assert.notEqual(result.code, 0);
        assert.match(result.stderr, /transport 'file' not allowed/);
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it("fetches https repositories from the checked address, and says when nothing answers", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const root = await mkdtemp(join(tmpdir(), "slipway-https-"));
    try {
      const error = await rejectsWith(
        fetchRepository({
          repoUrl: `https://localhost:${port}/o/site.git`,
          hostKeys: new MemoryHostKeyStore(),
          allowPrivateNetwork: (host, address) => host === "localhost" && address === "127.0.0.1",
          branch: "main",
          mirrorDir: join(root, "mirror"),
          checkoutDir: join(root, "checkout"),
          tempRoot: root,
        }),
        "network",
      );
      assert.match(error.message, /localhost:\d+ cannot be reached/);
      assert.match(error.detail, /Failed to connect to localhost/);
      await rejectsWith(
        listRemoteBranches({
          repoUrl: `https://localhost:${port}/o/site.git`,
          hostKeys: new MemoryHostKeyStore(),
        }),
        "not_allowed",
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("builds an ssh command with pinned, non-interactive, key-only settings", () => {
    const command = sshCommand({
      keyPath: "/tmp/slipway-git-1-ab/deploy_key",
      knownHostsPath: "/tmp/slipway-git-1-ab/known_hosts",
      alias: "[git.example.com]:2222",
      address: "203.0.113.7",
      connectTimeout: 15,
    });
    for (const part of [
      "-F /dev/null",
      "-i /tmp/slipway-git-1-ab/deploy_key",
      "-o IdentitiesOnly=yes",
      "-o BatchMode=yes",
      "-o StrictHostKeyChecking=yes",
      "-o UserKnownHostsFile=/tmp/slipway-git-1-ab/known_hosts",
      "-o 'HostKeyAlias=[git.example.com]:2222'",
      "-o HostName=203.0.113.7",
      "-o ConnectTimeout=15",
    ]) {
      assert.ok(command.includes(part), `${part} missing from ${command}`);
    }
  });

  it(
    "computes the deploy key's fingerprint as ssh-keygen does",
    { skip: !existsSync("/usr/bin/ssh-keygen") },
    async () => {
      const keyDir = await mkdtemp(join(tmpdir(), "slipway-keyfp-"));
      try {
        const pair = await generateKeyPair(keyDir, "k");
        const expected = (
          await runChecked("ssh-keygen", ["-l", "-E", "sha256", "-f", join(keyDir, "k.pub")])
        ).split(" ")[1];
        assert.equal(await deployKeyFingerprint(pair.privateKey), `ED25519 ${expected}`);
      } finally {
        await rm(keyDir, { recursive: true, force: true });
      }
    },
  );

  it("sweeps key dirs left behind by dead processes, and only those", async () => {
    const root = await mkdtemp(join(tmpdir(), "slipway-sweep-"));
    try {
      const dead = spawn("true");
      await new Promise((r) => dead.once("exit", r));
      await mkdir(join(root, `slipway-git-${dead.pid}-0123abcd`));
      await mkdir(join(root, `slipway-git-${process.pid}-4567cdef`));
      await mkdir(join(root, "unrelated"));
      assert.equal(await sweepStaleGitTempDirs(root), 1);
      assert.deepEqual((await readdir(root)).sort(), [
        `slipway-git-${process.pid}-4567cdef`,
        "unrelated",
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

/** Walks the parent chain in /proc; a process that has exited counts as not ours. */
/** Every live descendant of `pid`, from the kernel's per-thread child lists. */
async function descendantsOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift()!;
    const tasks = await readdir(`/proc/${current}/task`).catch(() => [] as string[]);
    for (const task of tasks) {
      const children = await readFile(`/proc/${current}/task/${task}/children`, "latin1").catch(
        () => "",
      );
      for (const child of children.split(" ").filter((c) => c !== "")) {
        found.push(Number(child));
        queue.push(Number(child));
      }
    }
  }
  return found;
}
