import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../src/lib/run.ts";
import { startForgeProcess, type ForgeProcess } from "../helpers/forge-process.ts";
import { startHookReceiver, type HookReceiver } from "../helpers/forge.ts";

/**
 * One forge user's hooks cannot stop the forge: a push hook with the wildcard branch filter
 * `*a*a*a*a*a*a*a*a*a*a*a*a*b` (which GitLab's RefMatcher, and this forge once, turned into a
 * RegExp of `.*?`s that backtracks without end), one with the regex filter `^(a+)+b$` (which a
 * backtracking engine takes exponential time over; RE2 does not), and a push of a 200-character
 * branch. While the push is processed, the forge's API and SSH server must keep answering, and
 * the filters must still work: a branch that matches gets its deliveries, the long one none. The
 * forge runs in a child process so that, if its event loop does hang, the test fails on its own
 * timeouts.
 */

const FILTER = "*a*a*a*a*a*a*a*a*a*a*a*a*b";
const REGEX_FILTER = "^(a+)+b$";
const EVIL = "a".repeat(200);
const MATCHING = "a".repeat(199) + "b";
/** How long one answer may take: generous for a loaded machine, far below "never". */
const ANSWER_MS = 10_000;

/** The SSH server's identification line (`SSH-2.0-…`), which it sends on connect. */
function sshBanner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no SSH banner in ${ANSWER_MS} ms`));
    }, ANSWER_MS);
    socket.once("data", (chunk: Buffer) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(chunk.toString("utf8"));
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

describe("a hook's branch filter cannot stop the forge (ReDoS)", () => {
  let forge: ForgeProcess | undefined;
  let receiver: HookReceiver | undefined;
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "slipway-filter-redos-"));
    receiver = await startHookReceiver();
    forge = await startForgeProcess();
  });

  after(async () => {
    await forge?.kill();
    await receiver?.close();
    await rm(work, { recursive: true, force: true });
  });

  it("processes a push of a long branch while the API and SSH keep answering", async (t) => {
    const { api, url, sshPort } = forge!;
    const user = await api<{ id: number }>("POST", "/users", {
      body: { username: "mallory", name: "mallory", email: "mallory@example.test" },
    });
    assert.equal(user.status, 201, user.text);
    const pat = await api<{ token: string }>(
      "POST",
      `/users/${user.body.id}/personal_access_tokens`,
      {
        body: { name: "t", scopes: ["api"] },
      },
    );
    assert.equal(pat.status, 201, pat.text);
    const token = pat.body.token;
    const project = await api<{ id: number; path_with_namespace: string }>("POST", "/projects", {
      token,
      body: { name: "pages", path: "pages", visibility: "private" },
    });
    assert.equal(project.status, 201, project.text);
    const hook = await api("POST", `/projects/${project.body.id}/hooks`, {
      token,
      body: {
        url: `${receiver!.url}/hook`,
        push_events: true,
        push_events_branch_filter: FILTER,
        branch_filter_strategy: "wildcard",
      },
    });
    assert.equal(hook.status, 201, hook.text);
    const regexHook = await api("POST", `/projects/${project.body.id}/hooks`, {
      token,
      body: {
        url: `${receiver!.url}/regex-hook`,
        push_events: true,
        push_events_branch_filter: REGEX_FILTER,
        branch_filter_strategy: "regex",
      },
    });
    assert.equal(regexHook.status, 201, regexHook.text);

    // A working copy pushing over smart HTTP with the token.
    const repo = join(work, "repo");
    await mkdir(join(work, "home"));
    await mkdir(repo);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: join(work, "home"),
      LC_ALL: "C",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: "Test",
      GIT_AUTHOR_EMAIL: "test@example.test",
      GIT_COMMITTER_NAME: "Test",
      GIT_COMMITTER_EMAIL: "test@example.test",
    };
    const git = (args: string[]): Promise<string> => runChecked("git", args, { cwd: repo, env });
    const remote = new URL(`${url}/${project.body.path_with_namespace}.git`);
    remote.username = "oauth2";
    remote.password = token;
    const push = (branch: string): Promise<string> =>
      git(["push", "-q", "--end-of-options", remote.toString(), `main:refs/heads/${branch}`]);
    await git(["init", "-q", "-b", "main"]);
    await writeFile(join(repo, "index.html"), "<h1>pages</h1>\n");
    await git(["add", "-A"]);
    await git(["commit", "-q", "-m", "first"]);
    await push("main");

    // The long branch; until its push is done (and a few times more), the API and the SSH
    // server, one request after another, must answer.
    let done = false;
    const pushed = push(EVIL)
      .catch((error: Error) => error)
      .finally(() => (done = true));
    const deadline = Date.now() + 6 * ANSWER_MS;
    const rounds: number[] = [];
    while (!done || rounds.length < 5) {
      assert.ok(Date.now() < deadline, "the push of the long branch did not finish");
      const started = performance.now();
      const answer = await fetch(`${url}/api/v4/projects/${project.body.id}`, {
        headers: { "private-token": token },
        signal: AbortSignal.timeout(ANSWER_MS),
      }).catch((error: Error) => {
        throw new Error(`the forge's API did not answer in ${ANSWER_MS} ms`, { cause: error });
      });
      assert.equal(answer.status, 200);
      await answer.arrayBuffer();
      assert.match(await sshBanner(sshPort), /^SSH-2\.0-/);
      rounds.push(performance.now() - started);
    }
    const evilPush = await pushed;
    if (evilPush instanceof Error) throw evilPush;
    t.diagnostic(
      `${rounds.length} API + SSH rounds, the slowest ${Math.max(...rounds).toFixed(1)} ms`,
    );

    // The filters still work: the matching branch is delivered to both hooks, the long one was
    // not delivered at all.
    await push(MATCHING);
    await receiver!.waitForRequests(2, ANSWER_MS);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(
      receiver!.requests
        .map((r) => `${r.path} ${(JSON.parse(r.body) as { ref: string }).ref}`)
        .sort(),
      [`/hook refs/heads/${MATCHING}`, `/regex-hook refs/heads/${MATCHING}`],
    );
  });
});
