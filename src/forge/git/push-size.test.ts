import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../lib/run.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../test/helpers/forge.ts";
import {
  addUserKey,
  createGitWorkspace,
  serverRefs,
  type GitWorkspace,
  type KeyPair,
} from "../../../test/helpers/forge-git.ts";

/**
 * The push size cap (`SLIPWAY_FORGE_MAX_PUSH_SIZE`) with the real git client over smart HTTP and
 * SSH: a pack over the cap is refused on git's own error channel and nothing is written; a push
 * under it goes through.
 */

const CAP = 1024 * 1024;

describe("the forge's push size cap", () => {
  let t: TestForge;
  let w: GitWorkspace;
  let alice: TestUser;
  let key: KeyPair;
  let project: TestProject;
  let local: string;

  before(async () => {
    t = await startTestForge();
    t.forge.ctx.config.maxPushBytes = CAP;
    w = await createGitWorkspace(t);
    alice = await t.createUser("alice");
    key = await w.keygen("alice");
    await addUserKey(t, alice, key);
    project = await t.createProject(alice, "capped");
    local = await w.initRepo("capped-local");
    // Random bytes do not compress: the pack is about as large as the file.
    await writeFile(join(local, "big.bin"), randomBytes(2 * CAP));
    await runChecked("git", ["add", "big.bin"], { cwd: local });
    await runChecked(
      "git",
      ["-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-qm", "big"],
      { cwd: local },
    );
  });
  after(async () => {
    await w.cleanup();
    await t.stop();
  });

  for (const transport of ["http", "ssh"] as const) {
    it(`refuses a push over the cap over ${transport}, saying so through git`, async () => {
      const url = transport === "http" ? w.httpUrl(project, alice.token) : w.sshUrl(project);
      const push = await w.git(["push", url, "HEAD:refs/heads/big"], { cwd: local, key });
      assert.notEqual(push.code, 0);
      assert.match(push.stderr, /remote: fatal: pack exceeds maximum allowed size/);
      assert.equal((await serverRefs(t, project.id)).has("refs/heads/big"), false);
    });
  }

  it("accepts pushes under the cap", async () => {
    const small = await w.initRepo("small-local");
    const push = await w.git(["push", w.httpUrl(project, alice.token), "main"], { cwd: small });
    assert.equal(push.code, 0, push.stderr);
    const viaSsh = await w.git(["push", w.sshUrl(project), "main:refs/heads/other"], {
      cwd: small,
      key,
    });
    assert.equal(viaSsh.code, 0, viaSsh.stderr);
  });
});
