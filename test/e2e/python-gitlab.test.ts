import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { run } from "../../src/lib/run.ts";
import { createWorkingCopy, type WorkingCopy } from "../helpers/e2e.ts";
import {
  startHookReceiver,
  startTestForge,
  type HookReceiver,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../helpers/forge.ts";
import { freshEd25519 } from "../helpers/ssh-test-keys.ts";

// GitLab's most used Python client, python-gitlab (Debian's python3-gitlab 3.12, installed by
// scripts/setup.sh), against a running forge. Each script under test/python-gitlab/ drives one
// resource as python-gitlab's documentation shows it and prints one JSON line per step.

/** Debian's module is installed for the system python, not for a pyenv one earlier on PATH. */
const PYTHON = "/usr/bin/python3";
const SCRIPTS = join(import.meta.dirname, "..", "python-gitlab");

function pythonGitlabMissing(): string | false {
  const probe = spawnSync(PYTHON, ["-c", "import gitlab; print(gitlab.__version__)"], {
    encoding: "utf8",
  });
  if (probe.status === 0) return false;
  const why = probe.error ? probe.error.message : probe.stderr.trim().split("\n").at(-1);
  return `python-gitlab cannot be imported by ${PYTHON} (${why ?? "unknown"}); scripts/setup.sh installs python3-gitlab`;
}

interface StepLine {
  step: string;
  result?: unknown;
  error?: string;
  response?: unknown;
  trace?: string;
}

/**
 * Runs `test/python-gitlab/<script>` with the forge's URL, a token and the fixtures (argument
 * vector, no shell), and returns each step's result by name. A failing step fails the test with
 * its name, python-gitlab's error and what the forge answered.
 */
async function runScript(
  t: TestForge,
  script: string,
  token: string,
  fixtures: Record<string, unknown>,
): Promise<Map<string, unknown>> {
  const result = await run(
    PYTHON,
    [join(SCRIPTS, script), t.url, token, JSON.stringify(fixtures)],
    {
      // No proxy settings, no user site, no bytecode files beside the scripts.
      env: {
        PATH: "/usr/bin:/bin",
        LC_ALL: "C.UTF-8",
        HOME: "/nonexistent",
        PYTHONDONTWRITEBYTECODE: "1",
        PYTHONNOUSERSITE: "1",
      },
      cwd: SCRIPTS,
    },
  );
  const lines: StepLine[] = result.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as StepLine);
  const failed = lines.find((line) => line.error !== undefined);
  if (failed) {
    assert.fail(
      `${script}: step "${failed.step}" failed: ${failed.error}\n` +
        `forge answered: ${JSON.stringify(failed.response)}\n${failed.trace ?? ""}`,
    );
  }
  assert.equal(result.code, 0, `${script} exited with ${result.code}: ${result.stderr}`);
  return new Map(lines.map((line) => [line.step, line.result]));
}

type Json = Record<string, unknown>;

const missing = pythonGitlabMissing();

describe("python-gitlab against the forge", { skip: missing }, () => {
  let t: TestForge;
  let receiver: HookReceiver;
  let owner: TestUser;
  let site: TestProject;
  let docs: TestProject;
  let work: WorkingCopy;
  let mainSha: string;
  let previewSha: string;

  before(async () => {
    t = await startTestForge();
    receiver = await startHookReceiver();
    owner = await t.createUser("owner");
    site = await t.createProject(owner, "site");
    docs = await t.createProject(owner, "docs");
    work = await createWorkingCopy(t, site, owner.token);
    mainSha = await work.commit({ "index.html": "hi" }, "First page");
    await work.push("main");
    await work.checkout("preview", true);
    previewSha = await work.commit({ "page.html": "page" }, "Add a page");
    await work.push("preview");
  });
  after(async () => {
    await work?.cleanup();
    await receiver?.close();
    await t?.stop();
  });

  it("deploy keys: create, get, list, save(), enable, instance-wide list, add again, delete", async () => {
    const key = freshEd25519("ci@example.test");
    const steps = await runScript(t, "deploy_keys.py", owner.token, {
      project: site.id,
      project2: docs.id,
      key,
      admin_token: t.rootToken,
    });
    const created = steps.get("create") as Json;
    assert.equal(created.key, key);
    assert.equal(created.can_push, true);
    const updated = steps.get("update with save()") as Json;
    assert.deepEqual(
      [updated.id, updated.title, updated.can_push],
      [created.id, "CI (read-only)", false],
    );
    const enabled = steps.get("enable on a second project") as Json;
    assert.deepEqual(
      [enabled.id, enabled.title, "can_push" in enabled],
      [created.id, "CI (read-only)", false],
    );
    const instance = steps.get("instance-wide list as admin") as { as_maintainer: Json };
    assert.deepEqual(instance.as_maintainer, { status: 403, message: "403 Forbidden" });
    assert.equal((steps.get("add an existing key again") as Json).id, created.id);
    assert.deepEqual((steps.get("delete") as { again: Json }).again, {
      status: 404,
      message: "404 Deploy key Not Found",
    });
    // Deleted from both projects, the key is gone from the instance too.
    const all = await t.api<Json[]>("GET", "/deploy_keys");
    assert.ok(!all.body.some((k) => k.id === created.id));
  });

  it("project hooks: create, get, list, save(), test, delete", async () => {
    const steps = await runScript(t, "hooks.py", owner.token, {
      project: site.id,
      receiver: `${receiver.url}/hook`,
      secret: "s3cret",
    });
    assert.equal((steps.get("create") as Json).push_events, true);
    assert.equal((steps.get("update with save()") as Json).tag_push_events, true);
    // The test delivery is a real Push Hook, with the token kept through save() (which sends
    // the unchanged url again).
    const [delivery] = await receiver.waitForRequests(1);
    assert.equal(delivery!.path, "/hook");
    assert.equal(delivery!.headers["x-gitlab-event"], "Push Hook");
    assert.equal(delivery!.headers["x-gitlab-token"], "s3cret");
    assert.equal((JSON.parse(delivery!.body) as Json).checkout_sha, mainSha);
    assert.deepEqual((steps.get("test") as { unknown_trigger: Json }).unknown_trigger, {
      status: 400,
      message: "trigger does not have a valid value",
    });
    assert.deepEqual((steps.get("delete") as { again: Json }).again, {
      status: 404,
      message: "404 Not found",
    });
  });

  it("user keys: create, get, list, a key in use refused, delete; another user's as admin", async () => {
    const taken = freshEd25519("taken@example.test");
    const other = await t.createProject(owner, "other");
    const added = await t.api("POST", `/projects/${other.id}/deploy_keys`, {
      token: owner.token,
      body: { title: "in use", key: taken },
    });
    assert.equal(added.status, 201, added.text);
    const key = freshEd25519("laptop@example.test");
    const steps = await runScript(t, "user_keys.py", owner.token, {
      key,
      admin_key: freshEd25519("given@example.test"),
      taken,
      admin_token: t.rootToken,
      user_id: owner.id,
    });
    assert.equal((steps.get("create") as Json).title, "laptop");
    assert.deepEqual(steps.get("a key already in use is refused"), {
      status: 400,
      message: { fingerprint_sha256: ["has already been taken"] },
    });
    assert.deepEqual((steps.get("delete") as { again: Json }).again, {
      status: 404,
      message: "404 Key Not Found",
    });
    assert.deepEqual(
      (steps.get("another user's keys, as an administrator") as { as_user: Json }).as_user,
      { status: 403, message: "403 Forbidden" },
    );
  });

  it("projects: create, get by id and path, list with owned, search and pages, delete", async () => {
    const user = await t.createUser("pyprojects");
    const shared = await t.createProject(owner, "shared", "public");
    const steps = await runScript(t, "projects.py", user.token, {
      username: user.username,
      public_project: shared.id,
    });
    assert.deepEqual(steps.get("auth"), { id: user.id, username: user.username });
    const created = steps.get("create") as Json[];
    assert.deepEqual(
      created.map((p) => p.path_with_namespace),
      ["pyprojects/py-one", "pyprojects/py-two", "pyprojects/py-three"],
    );
    assert.equal(
      (steps.get("get by id and by path") as Json).path_with_namespace,
      "pyprojects/py-one",
    );
    assert.deepEqual((steps.get("get by id and by path") as { missing: Json }).missing, {
      status: 404,
      message: "404 Project Not Found",
    });
  });

  it("merge requests: create, get, list, save(), close and reopen", async () => {
    const steps = await runScript(t, "merge_requests.py", owner.token, {
      project: site.id,
      source: "preview",
      target: "main",
      source_sha: previewSha,
    });
    const created = steps.get("create") as Json;
    assert.deepEqual(
      [created.iid, created.source_branch, created.target_branch],
      [1, "preview", "main"],
    );
    assert.equal((steps.get("edit with save()") as Json).title, "Preview it");
    assert.deepEqual(steps.get("close and reopen"), { state: "opened" });
  });

  it("commit statuses: the commit, create (pending → running → success), list, refusal", async () => {
    const steps = await runScript(t, "commit_statuses.py", owner.token, {
      project: site.id,
      sha: mainSha,
      ref: "main",
    });
    const commit = (steps.get("get the commit") as { commit: Json }).commit;
    assert.equal(commit.title, "First page");
    assert.deepEqual(commit.parent_ids, []);
    const [pending, done] = steps.get("create") as Json[];
    assert.equal(done!.id, pending!.id);
    assert.equal(done!.description, "Deployed");
    assert.equal((steps.get("an unknown state is refused") as Json).status, 400);
    // What python-gitlab posted is what GitLab's own API reads back.
    const listed = await t.api<Json[]>(
      "GET",
      `/projects/${site.id}/repository/commits/${mainSha}/statuses`,
    );
    assert.deepEqual(listed.body.map((s) => [s.name, s.status]).sort(), [
      ["lint", "failed"],
      ["slipway", "success"],
    ]);
  });
});
