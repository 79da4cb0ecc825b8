import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { run, runChecked } from "../../lib/run.ts";
import { branchTip, listBranchHeads } from "./commits.ts";
import { GIT_HOME, gitEnv } from "./env.ts";
import { RepositoryStore } from "./repositories.ts";

/** Variables a parent process could set to redirect or reconfigure every git it starts. */
const PARENT = {
  GIT_DIR: "",
  GIT_CONFIG_PARAMETERS: "'slipway.leak'='parent'",
  GIT_CONFIG_COUNT: "1",
  GIT_CONFIG_KEY_0: "slipway.counted",
  GIT_CONFIG_VALUE_0: "parent",
  GIT_EXEC_PATH: "/nonexistent/libexec",
};

describe("gitEnv", () => {
  let scratch: string;
  let decoy: string;
  let store: RepositoryStore;
  let commit: string;
  const saved = new Map<string, string | undefined>();

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "slipway-git-env-"));
    store = new RepositoryStore(join(scratch, "repositories"));
    await store.create(1, "main");
    await store.create(2, "main");
    decoy = store.pathFor(2);
    // A commit on `main` of repository 1, made with an environment of the test's own.
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      GIT_AUTHOR_NAME: "Ada",
      GIT_AUTHOR_EMAIL: "ada@example.test",
      GIT_COMMITTER_NAME: "Ada",
      GIT_COMMITTER_EMAIL: "ada@example.test",
    };
    const repo = store.pathFor(1);
    const tree = (await runChecked("git", ["--git-dir", repo, "mktree"], { env })).trim();
    commit = (
      await runChecked("git", ["--git-dir", repo, "commit-tree", tree, "-m", "first"], { env })
    ).trim();
    await runChecked("git", ["--git-dir", repo, "update-ref", "refs/heads/main", commit], { env });

    for (const [name, value] of Object.entries({ ...PARENT, GIT_DIR: decoy })) {
      saved.set(name, process.env[name]);
      process.env[name] = value;
    }
  });

  after(async () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await rm(scratch, { recursive: true, force: true });
  });

  it("is built from nothing but the policy, whatever the parent's environment holds", () => {
    const env = gitEnv();
    assert.deepEqual(Object.keys(env).sort(), [
      "GIT_CONFIG_GLOBAL",
      "GIT_CONFIG_NOSYSTEM",
      "HOME",
      "LANG",
      "LC_ALL",
      "PATH",
    ]);
    assert.equal(env.HOME, GIT_HOME);
    assert.equal(env.GIT_CONFIG_GLOBAL, "/dev/null");
    assert.equal(env.GIT_CONFIG_NOSYSTEM, "1");
  });

  it("adds the caller's variables and leaves out undefined ones", () => {
    const env = gitEnv({ GIT_PROTOCOL: "version=2", SLIPWAY_PUSH_LOG: undefined });
    assert.equal(env.GIT_PROTOCOL, "version=2");
    assert.equal("SLIPWAY_PUSH_LOG" in env, false);
  });

  it("keeps the parent's GIT_DIR and GIT_CONFIG_PARAMETERS from reaching git", async () => {
    const cwd = scratch;
    // With the parent's environment, git would read the decoy and the injected settings...
    const inherited = await run("git", ["config", "--get", "slipway.leak"], { cwd });
    assert.equal(inherited.stdout.trim(), "parent", "the test's parent environment is in effect");
    // ...with the forge's, neither reaches it.
    const leak = await run("git", ["config", "--get", "slipway.leak"], { cwd, env: gitEnv() });
    assert.equal(leak.code, 1, leak.stdout);
    const counted = await run("git", ["config", "--get", "slipway.counted"], {
      cwd,
      env: gitEnv(),
    });
    assert.equal(counted.code, 1, counted.stdout);
    const gitDir = await run("git", ["rev-parse", "--absolute-git-dir"], { cwd, env: gitEnv() });
    assert.notEqual(gitDir.code, 0, `git found a repository: ${gitDir.stdout}`);
  });

  it("lets the forge's git reads see only the repository they name", async () => {
    assert.equal(await branchTip(store.pathFor(1), "main"), commit);
    assert.deepEqual(
      (await listBranchHeads(store.pathFor(1))).map((b) => [b.name, b.sha]),
      [["main", commit]],
    );
    assert.equal(await branchTip(decoy, "main"), null);
  });
});
