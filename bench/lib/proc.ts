import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, closeSync, constants, openSync, readFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Process helpers for benchmarks. Every child gets an argument vector (never a shell string),
 * and servers run in their own process group so that stopping one also stops its workers.
 */

export type Env = Record<string, string | undefined>;

/**
 * The environment for children: ours without `NODE_EXTRA_CA_CERTS` (it costs every Node child
 * about 37 ms at start-up on the project machine), plus `extra` (`undefined` removes a variable).
 */
export function childEnv(extra: Env = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** The absolute path of an executable on PATH (or in the sbin directories), or undefined. */
export function findExecutable(name: string): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Killed (whole process group) after this long; default 120 s. */
  timeoutMs?: number;
  input?: string;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  ms: number;
}

const MAX_OUTPUT = 4 * 1024 * 1024;

/** Runs a command to completion and collects its output (bounded) and its wall-clock time. */
export function exec(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const { cwd, env = childEnv(), timeoutMs = 120_000, input } = options;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let ended = started;
    const child = spawn(command, args, {
      cwd,
      env,
      shell: false,
      detached: true,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outSize = 0;
    let errSize = 0;
    child.stdout?.on("data", (chunk: Buffer) => {
      if ((outSize += chunk.length) <= MAX_OUTPUT) out.push(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      if ((errSize += chunk.length) <= MAX_OUTPUT) err.push(chunk);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, "SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", () => {
      ended = process.hrtime.bigint();
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString("utf8");
      if (timedOut) {
        reject(
          new Error(
            `${command} ${args.join(" ")}: timed out after ${timeoutMs} ms\n${stderr.trim()}`,
          ),
        );
        return;
      }
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr,
        ms: Number(ended - started) / 1e6,
      });
    });
    if (child.stdin) child.stdin.end(input);
  });
}

/** Like `exec`, but a non-zero exit is an error carrying the command and its stderr. */
export async function execChecked(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const result = await exec(command, args, options);
  if (result.code !== 0) {
    const shown = [command, ...args].join(" ");
    throw new Error(
      `\`${shown}\` failed (${result.code ?? result.signal}): ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/**
 * A long-running server started in its own process group, with stdout and stderr appended to
 * a log file (a file, not a pipe: a chatty server can never block on a full pipe).
 */
export class Daemon {
  private readonly child: ChildProcess;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitedPromise: Promise<void>;

  private constructor(
    readonly name: string,
    readonly logFile: string,
    command: string,
    args: readonly string[],
    options: { cwd?: string; env?: NodeJS.ProcessEnv },
  ) {
    const fd = openSync(logFile, "a");
    try {
      this.child = spawn(command, args, {
        cwd: options.cwd,
        env: options.env ?? childEnv(),
        shell: false,
        detached: true,
        stdio: ["ignore", fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.exitedPromise = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      });
      this.child.on("error", (error) => {
        this.exitInfo = { code: null, signal: null };
        this.spawnError = error;
        resolve();
      });
    });
  }

  private spawnError: Error | undefined;

  static start(
    name: string,
    logFile: string,
    command: string,
    args: readonly string[],
    options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ): Daemon {
    return new Daemon(name, logFile, command, args, options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Why it is not running, with the end of its log. */
  describeExit(): string {
    if (this.spawnError) return `${this.name} could not start: ${this.spawnError.message}`;
    const how = this.exitInfo?.signal ?? `code ${this.exitInfo?.code}`;
    return `${this.name} exited (${how}); last lines of ${this.logFile}:\n${this.logTail()}`;
  }

  logTail(lines = 15): string {
    try {
      const text = readFileSync(this.logFile, "utf8").trimEnd();
      return text
        .split("\n")
        .slice(-lines)
        .map((line) => `    ${line}`)
        .join("\n");
    } catch {
      return "    (no log)";
    }
  }

  /** SIGTERM to the whole process group, then SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    killGroup(this.child, "SIGTERM");
    const stopped = await Promise.race([
      this.exitedPromise.then(() => true),
      sleep(graceMs).then(() => false),
    ]);
    if (!stopped) {
      killGroup(this.child, "SIGKILL");
      await Promise.race([this.exitedPromise, sleep(2_000)]);
    }
    // Workers (nginx's, fcgiwrap's) share the group; make sure none outlives the leader.
    killGroup(this.child, "SIGKILL");
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setTimeout(1_000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Polls `check` until it returns true; fails clearly when `daemon` exits or `timeoutMs` passes.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; daemon?: Daemon; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.daemon && !options.daemon.running) {
      throw new Error(`waiting for ${what}: ${options.daemon.describeExit()}`);
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      const log = options.daemon ? `\n${options.daemon.logTail()}` : "";
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${log}`);
    }
    await sleep(options.intervalMs ?? 50);
  }
}

/** Waits until something accepts TCP connections on 127.0.0.1:`port`. */
export function waitForPort(
  port: number,
  options: { timeoutMs: number; daemon?: Daemon; what?: string },
): Promise<void> {
  return waitUntil(
    options.what ?? `127.0.0.1:${port} to accept connections`,
    () => canConnect(port),
    options,
  );
}
