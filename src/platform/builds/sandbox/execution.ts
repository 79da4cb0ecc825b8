import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { killAllOfUid, killProcessGroup, processesOfUid } from "../../../lib/process.ts";
import { SANDBOX_DEFAULTS } from "./limits.ts";
import type { AllowedAddresses } from "./allow-hosts.ts";
import { startNetwork, type BuildNetwork } from "./network.ts";
import { refusalLines, type Refusal } from "./refusals.ts";
import { OutputCapture } from "./output.ts";
import type { SandboxOptions, SandboxResult } from "./run.ts";
import type { NetworkTools } from "./tools.ts";
import { sweepBuildUid } from "./uids.ts";
import type { Confinement } from "./confinement.ts";
import type { LimitHit } from "./watch.ts";

/**
 * One run of a prepared command, from spawn to a result. Whatever way it ends (exit, time limit,
 * output cap, a limit of its confinement, cancel, a failed network setup), every process of the
 * build is killed before the result is given, and slirp4netns is stopped. The command runs in a
 * process group of its own.
 */

export interface RunPlan {
  options: SandboxOptions;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Written to fds 3, 4, … of the child, in order. */
  fdData: Buffer[];
  buildUid: number | undefined;
  sandboxed: boolean;
  /** A wrapper (prlimit) to put in front of the command in unsafe mode. */
  prefix: string[];
  /** Set when the build has network: bwrap then has --info-fd and --block-fd after fdData. */
  network?: NetworkTools | undefined;
  /** What the operator's allowlist stands for at this build's start (`allow-hosts.ts`). */
  allowed?: AllowedAddresses | undefined;
  /** The build's cgroup and the limits it is watched against. */
  confinement?: Confinement | undefined;
}

/** How often a running build's limits are read (cgroup counters, free space; `du` is rarer). */
const WATCH_INTERVAL_MS = 250;

export function execute(plan: RunPlan): Promise<SandboxResult> {
  return new Promise((resolve, reject) => new SandboxRun(plan, resolve, reject).start());
}

class SandboxRun {
  private readonly options: SandboxOptions;
  private readonly output: OutputCapture;
  private readonly startedAt = performance.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private child!: ChildProcess;
  private pid: number | undefined;
  private drained: Promise<unknown> = Promise.resolve();
  private network: BuildNetwork | undefined;
  private networkError: Error | undefined;
  private networkReady: Promise<void> = Promise.resolve();
  private timedOut = false;
  private cancelled = false;
  private stopping = false;
  private exited = false;
  private limit: LimitHit | undefined;
  private watching: Promise<void> = Promise.resolve();

  constructor(
    private readonly plan: RunPlan,
    private readonly resolve: (result: SandboxResult) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.options = plan.options;
    this.output = new OutputCapture({
      maxBytes: this.options.maxOutputBytes ?? SANDBOX_DEFAULTS.maxOutputBytes,
      lastLines: this.options.lastLinesCount ?? SANDBOX_DEFAULTS.lastLines,
      onLine: this.options.onLine,
      onLimit: () => this.stop("output"),
    });
  }

  start(): void {
    const { plan, options } = this;
    const [command, ...args] = plan.prefix.length
      ? [...plan.prefix, plan.command, ...plan.args]
      : [plan.command, ...plan.args];
    const stdio: StdioOptions = [
      "ignore",
      "pipe",
      "pipe",
      ...plan.fdData.map(() => "pipe" as const),
      ...(plan.network !== undefined ? (["pipe", "pipe"] as const) : []),
    ];
    const child = spawn(command!, args, {
      cwd: plan.cwd,
      env: plan.env,
      stdio,
      detached: true,
      shell: false,
    });
    this.child = child;
    this.pid = child.pid;
    plan.fdData.forEach((data, i) => {
      const stream = child.stdio[3 + i] as Writable;
      stream.on("error", () => {
        /* bwrap exited before reading it: its own error explains why */
      });
      stream.end(data);
    });
    if (plan.network !== undefined) this.connectNetwork(plan.network);

    child.stdout!.on("data", (chunk: Buffer) => this.output.write("stdout", chunk));
    child.stderr!.on("data", (chunk: Buffer) => this.output.write("stderr", chunk));
    this.drained = Promise.all([
      new Promise((r) => child.stdout!.once("close", r)),
      new Promise((r) => child.stderr!.once("close", r)),
    ]);

    const timeoutMs = options.timeoutMs ?? SANDBOX_DEFAULTS.timeoutMs;
    this.timers.push(
      setTimeout(() => {
        this.timedOut = true;
        this.output.note(
          `Build exceeded the time limit of ${Math.round(timeoutMs / 1000)} s: stopping it.`,
        );
        this.stop("timeout");
      }, timeoutMs),
    );
    if (options.signal?.aborted) this.onAbort();
    else options.signal?.addEventListener("abort", this.onAbort, { once: true });
    this.scheduleWatch();

    child.on("error", (error) => {
      this.clearTimers();
      this.reject(error);
    });
    child.on("exit", (code, signal) => {
      this.exited = true;
      this.clearTimers();
      void this.finish(code, signal);
    });
  }

  /** The network is set up beside the starting sandbox; only then may the command start. */
  private connectNetwork(tools: NetworkTools): void {
    const infoFd = this.child.stdio[3 + this.plan.fdData.length] as Readable;
    const blockFd = this.child.stdio[4 + this.plan.fdData.length] as Writable;
    blockFd.on("error", () => {
      /* bwrap ended first */
    });
    this.networkReady = startNetwork(
      tools,
      infoFd,
      (started) => (this.network = started),
      this.plan.allowed,
    )
      .then(() => {
        blockFd.end("1");
      })
      .catch((error: unknown) => {
        this.networkError = error instanceof Error ? error : new Error(String(error));
        void this.killEverything();
      });
  }

  /** One check at a time, each after the previous one ended. */
  private scheduleWatch(): void {
    const watch = this.plan.confinement?.watch;
    if (watch === undefined) return;
    this.timers.push(
      setTimeout(() => {
        this.watching = watch.check().then(
          (hit) => {
            if (this.exited || this.stopping) return;
            if (hit !== undefined) this.onLimit(hit);
            else this.scheduleWatch();
          },
          () => {
            if (!this.exited) this.scheduleWatch();
          },
        );
      }, WATCH_INTERVAL_MS),
    );
  }

  private onLimit(hit: LimitHit): void {
    if (this.limit !== undefined) return;
    this.limit = hit;
    this.output.note(hit.message);
    this.stop("limit");
  }

  private readonly onAbort = (): void => {
    this.cancelled = true;
    this.output.note("Build cancelled: stopping it.");
    this.stop("cancel");
  };

  private clearTimers(): void {
    this.timers.forEach(clearTimeout);
    this.options.signal?.removeEventListener("abort", this.onAbort);
  }

  private async killEverything(): Promise<void> {
    if (this.pid !== undefined) killProcessGroup(this.pid, "SIGKILL");
    await this.plan.confinement?.cgroup?.killAll();
    if (this.plan.buildUid !== undefined) await killAllOfUid(this.plan.buildUid, 2000);
  }

  private stop(reason: "timeout" | "output" | "cancel" | "limit"): void {
    if (this.stopping) return;
    this.stopping = true;
    if (reason === "output" || reason === "limit") {
      void this.killEverything();
      return;
    }
    void this.terminate();
    const graceMs = this.options.killGraceMs ?? SANDBOX_DEFAULTS.killGraceMs;
    this.timers.push(setTimeout(() => void this.killEverything(), graceMs));
  }

  /** SIGTERM to the build's own processes first (not bwrap: it would take them down at once). */
  private async terminate(): Promise<void> {
    const { pid } = this;
    if (this.plan.buildUid !== undefined) {
      for (const p of await processesOfUid(this.plan.buildUid)) {
        if (p === pid) continue;
        try {
          process.kill(p, "SIGTERM");
        } catch {
          /* gone */
        }
      }
    } else if (pid !== undefined) {
      killProcessGroup(pid, "SIGTERM");
    }
  }

  /** Stops slirp4netns; what the firewall refused meanwhile. */
  private async stopNetwork(): Promise<Refusal[]> {
    const { child, plan } = this;
    if (plan.network === undefined) return [];
    (child.stdio[3 + plan.fdData.length] as Readable).destroy();
    await this.networkReady;
    return (await this.network?.stop()) ?? [];
  }

  /**
   * Kills what is left of the build and waits until it is gone: first by its cgroup (cheap to
   * watch while the kernel tears the pid namespace down), then the build uid's processes
   * anywhere, which are counted (there should be none).
   */
  private async sweepProcesses(): Promise<number> {
    const { plan } = this;
    const cgroup = plan.confinement?.cgroup;
    await cgroup?.killAll();
    const emptied = (await cgroup?.waitEmpty(2000)) === true;
    if (plan.buildUid === undefined) return 0;
    // The pid namespace is gone with the group: one look for the uid's processes is enough.
    return emptied ? killAllOfUid(plan.buildUid, 5000) : sweepBuildUid(plan.buildUid);
  }

  private async finish(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const { child, plan } = this;
    // Whatever is left (nothing, inside a pid namespace) is killed and counted. The network's
    // end and the processes' end do not depend on each other: both are waited for at once.
    if (this.pid !== undefined) killProcessGroup(this.pid, "SIGKILL");
    const [refusals, stray] = await Promise.all([this.stopNetwork(), this.sweepProcesses()]);
    for (const line of refusalLines(refusals)) this.output.note(line);
    if (stray > 0) this.output.note(`Killed ${stray} process(es) left behind by the build.`);
    await this.watching;
    // A limit the last check did not see yet (the OOM killer ended the command, then it exited;
    // the checkout over its budget at the end) still fails the build.
    const watch = plan.confinement?.watch;
    if (this.limit === undefined && watch !== undefined && !this.cancelled && !this.timedOut) {
      const hit = await watch.check(true).catch(() => undefined);
      if (hit !== undefined) {
        this.limit = hit;
        this.output.note(hit.message);
      }
    }
    // Let the pipes drain; a process that escaped the group may hold them open.
    await Promise.race([this.drained, new Promise((r) => setTimeout(r, 1000))]);
    child.stdout!.destroy();
    child.stderr!.destroy();
    this.output.end();
    if (this.networkError !== undefined && !this.cancelled && !this.timedOut) {
      this.reject(this.networkError);
      return;
    }
    this.resolve({
      exitCode: code,
      signal,
      timedOut: this.timedOut,
      outputTruncated: this.output.truncated,
      cancelled: this.cancelled,
      lastLines: this.output.lastLines(),
      durationMs: Math.round(performance.now() - this.startedAt),
      outputBytes: this.output.bytes,
      sandboxed: plan.sandboxed,
      strayProcessesKilled: stray,
      limit: this.limit,
    });
  }
}
