/**
 * Git transfer: the forge's git over SSH and smart HTTP against plain OpenSSH (git-shell user)
 * and `git http-backend` behind nginx+fcgiwrap, all measured in the same run with the order
 * rotated every round, servers pinned to CPU 1 and clients to CPU 0 (the method of
 * shared/reference/perf-anchors.md, section 2).
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";
import {
  choosePinning,
  pinned,
  SkipError,
  startHttpBackend,
  startOpenSsh,
  type Pinning,
} from "./lib/baselines.ts";
import { Cleanup } from "./lib/cleanup.ts";
import { backgroundBusy, waitForIdle, WAIT_IDLE_FLAG } from "./lib/idle.ts";
import { CpuMeter, type CpuGroup } from "./lib/cpu.ts";
import {
  forgeSshListening,
  setUpProject,
  startForgeChild,
  type ForgeProject,
} from "./lib/forge.ts";
import { FULL_SHAPE, GeneratedRepo, QUICK_SHAPE, type RepoShape } from "./lib/git-repo.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { childEnv, exec, execChecked, findExecutable } from "./lib/proc.ts";
import {
  formatBytes,
  formatRatio,
  formatSummary,
  ratio,
  renderTable,
  summarize,
} from "./lib/stats.ts";

const OPS = [
  { id: "clone", label: "clone (full)" },
  { id: "clone-n", label: "clone -n" },
  { id: "fetch", label: "fetch 1 commit" },
  { id: "ls-remote", label: "ls-remote" },
] as const;
type OpId = (typeof OPS)[number]["id"];

type TransportId = "forge-ssh" | "openssh" | "forge-http" | "http-backend";

interface Transport {
  id: TransportId;
  label: string;
  kind: "ssh" | "http";
  url: string;
  env: NodeJS.ProcessEnv;
  /** Wall-clock ms per operation. */
  samples: Record<OpId, number[]>;
  /** CPU ms the server (all processes in its cgroup) used per operation. */
  serverCpu: Record<OpId, number[]>;
  /** The server's cgroup, for its CPU time (undefined: not measured). */
  cpu: CpuGroup | undefined;
  /** A clone kept across rounds for the fetch measurement. */
  fetchDir: string;
  /** Protocol version, SSH algorithms and server software, from the probe. */
  details: string;
  failure?: string;
}

/** The target from the issue: forge SSH clone within 1.5× of OpenSSH. */
const SSH_CLONE_TARGET = 1.5;

export const gitTransfer: Benchmark = {
  name: "git",
  aliases: ["git-transfer"],
  description: "git clone/fetch/ls-remote: forge SSH and HTTP against OpenSSH and http-backend",
  flags: [
    { flag: "rounds", value: "N", env: "BENCH_ROUNDS", help: "rounds (default 5; 3 with --quick)" },
    {
      flag: "quick",
      env: "BENCH_QUICK=1",
      help: "small repository (200 files, 10 commits) and 3 rounds",
    },
    {
      flag: "files",
      value: "N",
      env: "BENCH_GIT_FILES",
      help: "files in the generated repository (2000)",
    },
    {
      flag: "commits",
      value: "N",
      env: "BENCH_GIT_COMMITS",
      help: "commits in the generated repository (50)",
    },
    WAIT_IDLE_FLAG,
    { flag: "no-pin", env: "BENCH_NO_PIN=1", help: "do not pin servers/clients to CPUs" },
    {
      flag: "forge-log-level",
      value: "LEVEL",
      env: "BENCH_FORGE_LOG_LEVEL",
      help: "the forge child's SLIPWAY_LOG_LEVEL (default info, as deployed)",
    },
  ],
  run: runGitTransfer,
};

async function runGitTransfer(options: BenchOptions): Promise<void> {
  const quick = options.has("quick", "BENCH_QUICK");
  const base = quick ? QUICK_SHAPE : FULL_SHAPE;
  const files = options.int("files", "BENCH_GIT_FILES", base.files);
  const shape: RepoShape = {
    ...base,
    files,
    dirs: Math.min(base.dirs, files),
    commits: options.int("commits", "BENCH_GIT_COMMITS", base.commits),
  };
  const rounds = options.int("rounds", "BENCH_ROUNDS", quick ? 3 : 5);
  const waitIdle = options.has("wait-idle", "BENCH_WAIT_IDLE")
    ? options.int("wait-idle", "BENCH_WAIT_IDLE", 120)
    : 0;
  const keep = options.has("keep", "BENCH_KEEP");
  const forgeLogLevel = options.string("forge-log-level", "BENCH_FORGE_LOG_LEVEL", "info");

  for (const [tool, pkg] of [
    ["git", "git"],
    ["ssh", "openssh-client"],
    ["ssh-keygen", "openssh-client"],
  ] as const) {
    if (!findExecutable(tool)) {
      console.log(`git transfer skipped: ${tool} not found (apt-get install ${pkg})`);
      return;
    }
  }
  const pin = choosePinning({ disabled: options.has("no-pin", "BENCH_NO_PIN"), client: "clients" });

  const cleanup = new Cleanup();
  try {
    const root = await mkdtemp(join(tmpdir(), "slipway-bench-git-"));
    cleanup.defer(`remove ${root}`, async () => {
      if (keep) {
        console.log(`\nkept ${root} (--keep)`);
        return;
      }
      const started = Date.now();
      await rm(root, { recursive: true, force: true, maxRetries: 3 });
      console.log(`\nremoved ${root} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    });
    // The git-shell user must be able to reach the served repository.
    chmodSync(root, 0o755);
    console.log(await describeMachine(pin));
    console.log(`temp dir: ${root}`);

    const bench = await prepare(root, shape, pin, forgeLogLevel, cleanup);
    if (bench.transports.length === 0) {
      console.log("\nno transport could be measured");
      return;
    }
    console.log(
      `\nmeasuring ${bench.transports.map((t) => t.label).join(", ")}: ${rounds} rounds, order rotated every round`,
    );
    const busyBefore = await backgroundBusy();
    await measure(bench, rounds, pin, waitIdle);
    const busyAfter = await backgroundBusy();
    report(bench, rounds);
    console.log(
      `\nother CPU load (2 s samples with our servers idle): ${busyBefore} before the rounds, ${busyAfter} after` +
        (parseFloat(busyBefore) > 10 || parseFloat(busyAfter) > 10
          ? ": the machine was busy with other work, so expect noise (rerun when it is idle)"
          : ""),
    );
  } finally {
    await cleanup.run();
  }
}

async function describeMachine(pin: { note: string }): Promise<string> {
  const version = async (command: string, args: string[]): Promise<string> => {
    const path = findExecutable(command);
    if (!path) return `${command} missing`;
    const r = await exec(path, args);
    return (r.stdout + r.stderr).trim().split("\n")[0] ?? "";
  };
  const cpu = cpus();
  const lines = [
    `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "?"}, Linux ${release()}, Node ${process.version}`,
    `tools:   ${await version("git", ["--version"])}; ${await version("ssh", ["-V"])}; ${await version("nginx", ["-v"])}`,
    `pinning: ${pin.note}`,
  ];
  return lines.join("\n");
}

interface Prepared {
  root: string;
  repo: GeneratedRepo;
  transports: Transport[];
  expectedHead: string;
  /** Where each round's new commit goes (the baselines' bare repo, the forge). */
  pushTargets: { label: string; url: string; env: NodeJS.ProcessEnv }[];
  skipped: string[];
  notes: string[];
}

async function prepare(
  root: string,
  shape: RepoShape,
  pin: Pinning,
  forgeLogLevel: string,
  cleanup: Cleanup,
): Promise<Prepared> {
  const skipped: string[] = [];
  const notes: string[] = [];

  // 1. The repository, and the bare copy the baselines serve (one pack with a bitmap).
  let started = Date.now();
  const repo = await GeneratedRepo.create(join(root, "work"), join(root, "home"), shape);
  const expectedHead = await repo.head();
  const srv = join(root, "srv");
  mkdirSync(srv);
  const bare = join(srv, "bench.git");
  await execChecked("git", ["clone", "--quiet", "--bare", "--no-local", repo.dir, bare], {
    env: repo.env(),
  });
  await repackServed(bare, repo);
  const pack = await packStats(bare, repo);
  console.log(
    `repository: ${shape.files} files in ${shape.dirs} dirs, ${shape.commits} commits (seed ${shape.seed.toString(16)}), ` +
      `HEAD ${expectedHead.slice(0, 12)}; served pack ${formatBytes(pack.bytes)}, ${pack.objects} objects, bitmap ` +
      `(made in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );

  // 2. One client key and one ssh config for both SSH servers: identical client settings.
  const clientDir = join(root, "client");
  mkdirSync(clientDir);
  const clientKey = join(clientDir, "id_ed25519");
  await execChecked("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    "bench-client",
    "-f",
    clientKey,
  ]);
  const publicKey = await readFile(`${clientKey}.pub`, "utf8");
  const sshConfig = join(clientDir, "ssh_config");
  writeFileSync(
    sshConfig,
    [
      "Host *",
      `  IdentityFile ${clientKey}`,
      "  IdentitiesOnly yes",
      "  IdentityAgent none",
      "  BatchMode yes",
      "  StrictHostKeyChecking no",
      "  UserKnownHostsFile /dev/null",
      "  GlobalKnownHostsFile /dev/null",
      "  GSSAPIAuthentication no",
      // ssh2 (the forge) has no post-quantum KEX; OpenSSH 9.2 would default to sntrup761x25519,
      // about 60 ms slower here. Same KEX for both, so the comparison is of the servers.
      "  KexAlgorithms curve25519-sha256",
      "  ControlMaster no",
      "  Compression no",
      "  LogLevel ERROR",
      "",
    ].join("\n"),
  );
  const clientHome = join(clientDir, "home");
  mkdirSync(clientHome);
  const clientEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
    childEnv({
      HOME: clientHome,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
      LC_ALL: "C",
      GIT_SSH_COMMAND: `ssh -F ${sshConfig}`,
      GIT_SSH_VARIANT: "ssh",
      GIT_TRACE: undefined,
      GIT_TRACE_PACKET: undefined,
      GIT_DIR: undefined,
      ...extra,
    });

  const transports: Transport[] = [];
  const pushTargets: Prepared["pushTargets"] = [];
  const fetchRoot = join(root, "fetch");
  mkdirSync(fetchRoot);
  const newTransport = (
    id: TransportId,
    label: string,
    kind: "ssh" | "http",
    url: string,
    env: NodeJS.ProcessEnv,
    cpu: CpuGroup | undefined,
  ): Transport => ({
    id,
    label,
    kind,
    url,
    env,
    samples: { clone: [], "clone-n": [], fetch: [], "ls-remote": [] },
    serverCpu: { clone: [], "clone-n": [], fetch: [], "ls-remote": [] },
    cpu,
    fetchDir: join(fetchRoot, id),
    details: "",
  });

  // Server CPU time: one cgroup per server.
  const meter = CpuMeter.create(`slipway-bench-${process.pid}`);
  if (typeof meter === "string") {
    notes.push(`server CPU time not measured: ${meter}`);
  } else {
    cleanup.defer("remove the bench cgroups", () => meter.remove());
  }
  const cpuGroup = (name: string, pids: (number | undefined)[]): CpuGroup | undefined => {
    if (typeof meter === "string") return undefined;
    const group = meter.group(name);
    group.adopt(pids.filter((pid) => pid !== undefined));
    return group;
  };

  // 3. The forge, as a child process, set up through its API.
  const byId = new Map<TransportId, Transport>();
  started = Date.now();
  try {
    const start = (dir: string) =>
      startForgeChild({ dir: join(root, dir), pin, cleanup, logLevel: forgeLogLevel });
    const forge = await start("forge").catch(async (error: Error) => {
      // Worth one retry with a fresh data dir (e.g. a host key that cannot be parsed), but say so.
      const note = `the forge failed to start (retried once with a fresh data dir): ${error.message}`;
      notes.push(note.split("\n").slice(0, 8).join("\n"));
      return start("forge-retry");
    });
    const project = await setUpProject(forge, publicKey, "bench");
    const auth = Buffer.from(`${project.username}:${project.token}`).toString("base64");
    // Credentials sent up front (as CI checkouts do), so no 401 round trip per request: the
    // HTTP comparison is of the servers, not of curl's auth negotiation.
    const httpEnv = clientEnv({
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.extraHeader",
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${auth}`,
    });
    const sshEnv = clientEnv();
    const sshUp = await forgeSshListening(forge);
    const forgeCpu = cpuGroup("forge", [forge.daemon.pid]);
    const forgeHttp = newTransport(
      "forge-http",
      "forge HTTP",
      "http",
      project.httpUrl,
      httpEnv,
      forgeCpu,
    );
    const forgeSsh = newTransport(
      "forge-ssh",
      "forge SSH",
      "ssh",
      project.sshUrl,
      sshEnv,
      forgeCpu,
    );
    const sshProblem = !sshUp
      ? `nothing listens on the forge's SSH port ${forge.sshPort} (src/forge/git/ssh-server.ts not finished?)`
      : !project.sshKey.ok
        ? `could not register the SSH key: ${project.sshKey.reason}`
        : undefined;
    if (project.sshKey.ok) notes.push(`forge SSH key: ${project.sshKey.how}`);

    // Push the repository: over HTTP, else over SSH.
    const pushed = await pushInitial(repo, project, [
      { t: forgeHttp, problem: undefined },
      { t: forgeSsh, problem: sshProblem },
    ]);
    if (pushed.ok) {
      await repackServed(project.repoPath, repo);
      pushTargets.push({ label: "forge", url: pushed.via.url, env: pushed.via.env });
      notes.push(
        `forge: child process \`node bin/slipway.js forge\` (log level ${forgeLogLevel}), project pushed over ${pushed.via.label} ` +
          `and repacked like the baseline (git repack -adb) (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
      if (sshProblem === undefined) byId.set("forge-ssh", forgeSsh);
      else skipped.push(`forge SSH: ${sshProblem}`);
      byId.set("forge-http", forgeHttp);
    } else {
      skipped.push(`forge SSH and HTTP: could not push the repository: ${pushed.reason}`);
    }
  } catch (error) {
    skipped.push(`forge SSH and HTTP: the forge did not start: ${(error as Error).message}`);
  }

  // 4. The baselines.
  try {
    const openssh = await startOpenSsh({
      dir: join(root, "sshd"),
      repoPath: bare,
      clientPublicKey: publicKey,
      pin,
      cleanup,
    });
    const cpu = cpuGroup("openssh", [openssh.daemon.pid]);
    byId.set("openssh", newTransport("openssh", "OpenSSH", "ssh", openssh.url, clientEnv(), cpu));
  } catch (error) {
    skipped.push(skipMessage("OpenSSH baseline", error));
  }
  try {
    const backend = await startHttpBackend({
      dir: join(root, "nginx"),
      projectRoot: srv,
      repoName: "bench.git",
      pin,
      cleanup,
    });
    byId.set(
      "http-backend",
      newTransport(
        "http-backend",
        "http-backend",
        "http",
        backend.url,
        clientEnv(),
        cpuGroup("http-backend", backend.pids),
      ),
    );
  } catch (error) {
    skipped.push(skipMessage("http-backend baseline", error));
  }
  if (byId.has("openssh") || byId.has("http-backend")) {
    pushTargets.unshift({ label: "baseline bare repo", url: bare, env: repo.env() });
  }

  // 5. Probe each transport once (protocol v2, the expected HEAD), then make its fetch clone.
  for (const id of ["forge-ssh", "openssh", "forge-http", "http-backend"] as const) {
    const t = byId.get(id);
    if (!t) continue;
    try {
      t.details = await probe(t, expectedHead, sshConfig);
      const clone = await execGit(pin, t, ["clone", "--quiet", "--no-checkout", t.url, t.fetchDir]);
      if (clone.code !== 0)
        throw new Error(`clone for the fetch test failed: ${clone.stderr.trim()}`);
      transports.push(t);
    } catch (error) {
      skipped.push(`${t.label}: ${(error as Error).message}`);
    }
  }

  for (const line of notes) console.log(line);
  for (const t of transports)
    console.log(`  ${t.label.padEnd(13)} ${t.url}\n  ${"".padEnd(13)} ${t.details}`);
  for (const line of skipped) console.log(`SKIPPED ${line}`);
  return { root, repo, transports, expectedHead, pushTargets, skipped, notes };
}

function skipMessage(what: string, error: unknown): string {
  if (error instanceof SkipError) return error.message;
  return `${what} failed to start: ${(error as Error).message}`;
}

async function pushInitial(
  repo: GeneratedRepo,
  project: ForgeProject,
  candidates: { t: Transport; problem: string | undefined }[],
): Promise<
  | { ok: true; via: { label: string; url: string; env: NodeJS.ProcessEnv } }
  | { ok: false; reason: string }
> {
  const reasons: string[] = [];
  for (const { t, problem } of candidates) {
    if (problem !== undefined) {
      reasons.push(`${t.label}: ${problem}`);
      continue;
    }
    const result = await exec(
      "git",
      ["-C", repo.dir, "push", "--quiet", t.url, `main:refs/heads/${project.defaultBranch}`],
      { env: t.env, timeoutMs: 300_000 },
    );
    if (result.code === 0) return { ok: true, via: { label: t.label, url: t.url, env: t.env } };
    reasons.push(`${t.label}: ${result.stderr.trim().split("\n").slice(-3).join(" / ")}`);
  }
  return { ok: false, reason: reasons.join("; ") };
}

/** Same layout on every server: one pack with a bitmap, packed refs. */
async function repackServed(gitDir: string, repo: GeneratedRepo): Promise<void> {
  const env = repo.env();
  await execChecked("git", ["--git-dir", gitDir, "repack", "-a", "-d", "-b", "-q"], {
    env,
    timeoutMs: 300_000,
  });
  await execChecked("git", ["--git-dir", gitDir, "pack-refs", "--all"], { env });
}

async function packStats(
  gitDir: string,
  repo: GeneratedRepo,
): Promise<{ bytes: number; objects: number }> {
  const out = (
    await execChecked("git", ["--git-dir", gitDir, "count-objects", "-v"], { env: repo.env() })
  ).stdout;
  const field = (name: string): number =>
    Number(new RegExp(`^${name}: (\\d+)`, "m").exec(out)?.[1] ?? 0);
  return { bytes: field("size-pack") * 1024, objects: field("in-pack") };
}

/** ls-remote with packet tracing (and `ssh -v`): checks protocol v2 and the advertised HEAD. */
async function probe(t: Transport, expectedHead: string, sshConfig: string): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...t.env, GIT_TRACE_PACKET: "1" };
  if (t.kind === "ssh") env.GIT_SSH_COMMAND = `ssh -F ${sshConfig} -o LogLevel=DEBUG1`;
  const result = await exec("git", ["ls-remote", t.url], { env, timeoutMs: 60_000 });
  if (result.code !== 0) {
    const tail = result.stderr
      .split("\n")
      .filter(
        (line) => !/^(debug1:|\d\d:\d\d:\d\d\.\d+ pkt-line\.c)/.test(line) && line.trim() !== "",
      )
      .slice(-4)
      .join(" / ");
    throw new Error(`ls-remote failed (${result.code ?? result.signal}): ${tail}`);
  }
  const advertised = new RegExp(`^([0-9a-f]{40})\\trefs/heads/main$`, "m").exec(result.stdout)?.[1];
  if (advertised !== expectedHead) {
    throw new Error(
      `advertises refs/heads/main = ${advertised ?? "nothing"}, expected ${expectedHead}`,
    );
  }
  const v2 = /packet:\s+\S+< version 2$/m.test(result.stderr);
  const parts = [v2 ? "protocol v2" : "NOT protocol v2"];
  if (t.kind === "ssh") {
    const kex = /kex: algorithm: (\S+)/.exec(result.stderr)?.[1] ?? "?";
    const cipher = /kex: server->client cipher: (\S+)/.exec(result.stderr)?.[1] ?? "?";
    const server = /remote software version (\S+)/.exec(result.stderr)?.[1] ?? "?";
    parts.push(`server ${server}`, `kex ${kex}`, `cipher ${cipher}`);
  }
  return parts.join(", ");
}

function execGit(pin: Pinning, t: Transport, args: readonly string[]) {
  const { command, args: argv } = pinned(pin.client, "git", args);
  return exec(command, argv, { env: t.env, timeoutMs: 300_000 });
}

async function measure(
  bench: Prepared,
  rounds: number,
  pin: Pinning,
  waitIdleSeconds: number,
): Promise<void> {
  const clones = join(bench.root, "clones");
  mkdirSync(clones);
  const all = bench.transports;
  const live = (t: Transport): boolean => t.failure === undefined;

  const timed = async (t: Transport, op: OpId, args: string[], check: () => Promise<void>) => {
    if (!live(t)) return;
    try {
      if (op !== "ls-remote") await execChecked("sync", []);
      // Server CPU: the server's process trees before and after, once the processes serving
      // this request have exited (and been reaped into their parent's totals).
      const idleCount = t.cpu?.processCount() ?? 0;
      const cpuBefore = t.cpu?.usageMs() ?? 0;
      const result = await execGit(pin, t, args);
      await t.cpu?.settle(idleCount);
      const cpuAfter = t.cpu?.usageMs() ?? 0;
      if (result.code !== 0) {
        throw new Error(
          `git ${args[0]} exited ${result.code ?? result.signal}: ${result.stderr.trim()}`,
        );
      }
      await check();
      t.samples[op].push(result.ms);
      if (t.cpu) t.serverCpu[op].push(cpuAfter - cpuBefore);
    } catch (error) {
      t.failure = `${op}: ${(error as Error).message}`;
      console.log(`  ${t.label} failed and is dropped from the rest of the run: ${t.failure}`);
    }
  };
  const revParse = async (dir: string, rev: string): Promise<string> =>
    (await execChecked("git", ["-C", dir, "rev-parse", rev])).stdout.trim();
  const expect = async (dir: string, rev: string, sha: string): Promise<void> => {
    const got = await revParse(dir, rev);
    if (got !== sha) throw new Error(`${dir}: ${rev} is ${got}, expected ${sha}`);
  };

  let head = bench.expectedHead;
  for (let r = 0; r < rounds; r++) {
    if (waitIdleSeconds > 0) await waitForIdle(waitIdleSeconds);
    const shift = r % all.length;
    const order = [...all.slice(shift), ...all.slice(0, shift)];
    const started = Date.now();
    for (const t of order) {
      const dir = join(clones, `c-${t.id}-${r}`);
      await timed(t, "clone", ["clone", "--quiet", t.url, dir], () => expect(dir, "HEAD", head));
    }
    for (const t of order) {
      const dir = join(clones, `n-${t.id}-${r}`);
      await timed(t, "clone-n", ["clone", "--quiet", "--no-checkout", t.url, dir], () =>
        expect(dir, "HEAD", head),
      );
    }
    for (const t of order) {
      await timed(t, "ls-remote", ["ls-remote", t.url], async () => {});
    }
    // One new commit (5 files, ~4 KiB appended to each), pushed to every server, then fetched.
    head = await bench.repo.commitChange(5);
    for (const target of bench.pushTargets) {
      await execChecked(
        "git",
        ["-C", bench.repo.dir, "push", "--quiet", target.url, "main:refs/heads/main"],
        {
          env: target.env,
          timeoutMs: 120_000,
        },
      );
    }
    for (const t of order) {
      await timed(t, "fetch", ["-C", t.fetchDir, "fetch", "--quiet", "origin"], () =>
        expect(t.fetchDir, "refs/remotes/origin/main", head),
      );
    }
    const line = order
      .filter(live)
      .map((t) => `${t.label} ${Math.round(t.samples.clone.at(-1) ?? 0)}`)
      .join(", ");
    console.log(
      `  round ${r + 1}/${rounds} (${((Date.now() - started) / 1000).toFixed(1)} s): clone ms ${line}`,
    );
  }
}

function report(bench: Prepared, rounds: number): void {
  const find = (id: TransportId): Transport | undefined =>
    bench.transports.find((t) => t.id === id);
  const stat = (id: TransportId, op: OpId) => {
    const t = find(id);
    return t ? summarize(t.samples[op]) : undefined;
  };

  console.log(`\nms, median (min–max) of ${rounds} rounds; lower is better`);
  const rows = bench.transports.map((t) => [
    t.failure === undefined ? t.label : `${t.label} (failed)`,
    ...OPS.map((op) => formatSummary(summarize(t.samples[op.id]))),
  ]);
  console.log(renderTable(["transport", ...OPS.map((op) => op.label)], rows));

  console.log("\nratios of the medians above (same run)");
  const pairs: [string, TransportId, TransportId][] = [
    ["forge SSH / OpenSSH", "forge-ssh", "openssh"],
    ["forge HTTP / http-backend", "forge-http", "http-backend"],
  ];
  console.log(
    renderTable(
      ["ratio", ...OPS.map((op) => op.label)],
      pairs.map(([label, a, b]) => [
        label,
        ...OPS.map((op) => formatRatio(stat(a, op.id), stat(b, op.id))),
      ]),
    ),
  );

  const cpu = (id: TransportId, op: OpId) => {
    const t = find(id);
    return t ? summarize(t.serverCpu[op]) : undefined;
  };
  console.log(
    "\nserver CPU ms per operation (user+sys of all the server's processes, from its cgroup)," +
      "\nmedian (min–max); steadier than wall time when other work competes for the CPUs",
  );
  console.log(
    renderTable(
      ["transport", ...OPS.map((op) => op.label)],
      [
        ...bench.transports.map((t) => [
          t.label,
          ...OPS.map((op) => formatSummary(summarize(t.serverCpu[op.id]))),
        ]),
        ...pairs.map(([label, a, b]) => [
          label,
          ...OPS.map((op) => formatRatio(cpu(a, op.id), cpu(b, op.id))),
        ]),
      ],
    ),
  );

  const r = ratio(stat("forge-ssh", "clone"), stat("openssh", "clone"));
  const verdict =
    r === undefined
      ? "n/a (not measured: forge SSH or OpenSSH missing above)"
      : `${r.toFixed(2)}× → ${r <= SSH_CLONE_TARGET ? "PASS" : "FAIL"}`;
  console.log(
    `\ntarget (issue): forge SSH clone within ${SSH_CLONE_TARGET}× of OpenSSH: ${verdict}`,
  );

  const problems = [
    ...bench.skipped,
    ...bench.transports
      .filter((t) => t.failure !== undefined)
      .map((t) => `${t.label}: ${t.failure}`),
  ];
  if (problems.length > 0) {
    console.log("\nnot measured / incomplete:");
    for (const p of problems) console.log(`  - ${p}`);
  }
}
