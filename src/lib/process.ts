import { spawn, type SpawnOptions } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";

/**
 * Process helpers for build steps: a collected run with a deadline that kills the whole process
 * group (git leaves ssh behind otherwise), and /proc scans to find and kill every process of a
 * dedicated build uid. Argument vectors only, never a shell.
 */

export interface DeadlineRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

export interface DeadlineRunOptions {
  cwd?: string;
  env: NodeJS.ProcessEnv;
  /** Kill the process group (SIGKILL) after this long. */
  timeoutMs: number;
  /** Bytes kept per stream; the rest is dropped. */
  maxOutput?: number;
  input?: string | Buffer;
}

/**
 * Runs `command args` in its own process group and collects its output; at the deadline the
 * whole group is killed, so helpers it started (ssh under git) die with it.
 */
export function runWithDeadline(
  command: string,
  args: readonly string[],
  options: DeadlineRunOptions,
): Promise<DeadlineRunResult> {
  const { maxOutput = 4 * 1024 * 1024 } = options;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = {
      env: options.env,
      detached: true,
      shell: false,
      stdio: ["pipe", "pipe", "pipe"],
    };
    if (options.cwd !== undefined) spawnOptions.cwd = options.cwd;
    const child = spawn(command, args, spawnOptions);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outSize = 0;
    let errSize = 0;
    let timedOut = false;
    let settled = false;
    child.stdout?.on("data", (chunk: Buffer) => {
      if ((outSize += chunk.length) <= maxOutput) out.push(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      if ((errSize += chunk.length) <= maxOutput) err.push(chunk);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killProcessGroup(child.pid, "SIGKILL");
    }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        reject(error);
      }
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      // Anything the child left in its group (it exited, a helper may not have) goes too.
      if (child.pid !== undefined) killProcessGroup(child.pid, "SIGKILL");
      if (settled) return;
      settled = true;
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        timedOut,
        durationMs: Math.round(performance.now() - started),
      });
    });
    child.stdin?.on("error", () => {
      /* the child may exit before reading its input */
    });
    child.stdin?.end(options.input);
  });
}

/** Sends `signal` to the process group `pgid`; a group that is already gone is not an error. */
export function killProcessGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pids of the live processes whose real uid is `uid` (read from /proc). Zombies — already dead,
 * waiting for their parent to reap them — are not counted.
 */
export async function processesOfUid(uid: number): Promise<number[]> {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return pids;
  }
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      try {
        const status = await readFile(`/proc/${entry}/status`, "utf8");
        const match = /^Uid:\s+(\d+)/m.exec(status);
        const state = /^State:\s+(\S)/m.exec(status)?.[1];
        if (match && Number(match[1]) === uid && state !== "Z" && state !== "X") {
          pids.push(Number(entry));
        }
      } catch {
        /* the process ended while we looked */
      }
    }),
  );
  return pids.sort((a, b) => a - b);
}

/**
 * Kills every process of `uid` until none is left (or `timeoutMs` passes) and returns how many
 * it had to kill. Only for a uid dedicated to one build: anything running as it belongs to it.
 */
export async function killAllOfUid(uid: number, timeoutMs = 5000): Promise<number> {
  if (uid === 0 || uid === process.getuid?.()) {
    throw new Error(`refusing to kill every process of uid ${uid}: it is not a build uid`);
  }
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await processesOfUid(uid);
    if (pids.length === 0) return killed.size;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
        killed.add(pid);
      } catch {
        /* gone already */
      }
    }
    if (Date.now() > deadline) return killed.size;
    await new Promise((r) => setTimeout(r, 20));
  }
}
