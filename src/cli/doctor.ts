import { constants as fsConstants } from "node:fs";
import { access, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { connect, createServer, isIP } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadConfig, type SlipwayConfig } from "../config.ts";
import { runSandboxed } from "../platform/builds/sandbox/run.ts";
import { findExecutable, TOOL_PACKAGES } from "../platform/builds/sandbox/tools.ts";

/**
 * `slipway doctor`: whether this machine can run Slipway as configured. Every check is real (the
 * sandbox check starts a sandbox) and read-only; each failure says exactly how to fix it.
 */

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** For a failure: the command to run or the setting to change. */
  fix?: string;
}

const TOOLS = {
  ...TOOL_PACKAGES,
  git: "git",
  ssh: "openssh-client",
  "ssh-keygen": "openssh-client",
} as const;

export type DoctorTool = keyof typeof TOOLS;

export interface DoctorOptions {
  /** A tool's path instead of looking it up (a path that does not exist: the tool is missing). */
  toolPaths?: Partial<Record<DoctorTool, string>>;
}

/** What each tool is for, and whether Slipway as configured needs it. */
function toolUses(config: SlipwayConfig): Record<DoctorTool, string | undefined> {
  const sandbox = !config.platform.builds.unsafeNoSandbox;
  return {
    bwrap: sandbox ? "runs builds in a sandbox" : undefined,
    slirp4netns: sandbox ? "gives builds their network" : undefined,
    nft: sandbox ? "firewalls builds' network" : undefined,
    prlimit: "limits a build's processes and file sizes",
    setpriv: sandbox ? "runs each build as a user of its own" : undefined,
    nsenter: sandbox ? "installs a build's firewall" : undefined,
    git: "fetches repositories; serves the built-in git host",
    ssh: "fetches repositories over SSH",
    "ssh-keygen": "checks SSH keys",
  };
}

const UNSAFE = "not used: SLIPWAY_UNSAFE_NO_SANDBOX=true runs builds without isolation";

export async function runDoctor(
  config: SlipwayConfig,
  options: DoctorOptions = {},
): Promise<Check[]> {
  const checks: Check[] = [];
  const uses = toolUses(config);
  const found: Partial<Record<DoctorTool, string>> = {};
  for (const [tool, pkg] of Object.entries(TOOLS) as [DoctorTool, string][]) {
    const use = uses[tool];
    if (use === undefined) {
      checks.push({ name: tool, ok: true, detail: UNSAFE });
      continue;
    }
    const path = await findExecutable(tool, options.toolPaths?.[tool]);
    if (path !== null) found[tool] = path;
    checks.push(
      path !== null
        ? { name: tool, ok: true, detail: path }
        : {
            name: tool,
            ok: false,
            detail: `not installed (${use})`,
            fix: `apt-get install ${pkg}`,
          },
    );
  }
  checks.push(await checkSandbox(config, found.bwrap));
  checks.push(checkRoot(config));
  const ports = configuredPorts(config);
  for (const [i, port] of ports.entries()) {
    const same = ports.slice(0, i).find((p) => p.port !== 0 && p.port === port.port);
    checks.push(
      same === undefined
        ? await checkPort(config.host, port)
        : {
            name: port.name,
            ok: false,
            detail: `${port.port} is also the ${same.name}`,
            fix: `set ${port.variable} to another port`,
          },
    );
  }
  checks.push(await checkDataDir(config.dataDir));
  checks.push(await checkKeyFiles(config.dataDir));
  return checks;
}

/** Whether bwrap can really create a sandbox here (unprivileged user namespaces). */
async function checkSandbox(config: SlipwayConfig, bwrap: string | undefined): Promise<Check> {
  const name = "sandbox";
  if (config.platform.builds.unsafeNoSandbox) return { name, ok: true, detail: UNSAFE };
  if (bwrap === undefined) {
    return {
      name,
      ok: false,
      detail: "cannot be tried without bwrap",
      fix: `apt-get install ${TOOLS.bwrap}`,
    };
  }
  const dir = await mkdtemp(join(tmpdir(), "slipway-doctor-"));
  try {
    const result = await runSandboxed({
      command: "true",
      workDir: dir,
      network: false,
      timeoutMs: 30_000,
      bwrapPath: bwrap,
    });
    if (result.exitCode === 0) return { name, ok: true, detail: "bwrap creates a sandbox" };
    return {
      name,
      ok: false,
      detail: `bwrap cannot create a sandbox: ${result.lastLines.join(" ").trim()}`,
      fix: await userNamespaceFix(),
    };
  } catch (error) {
    // The sandbox's own errors say how to fix what they found.
    return { name, ok: false, detail: "could not start a sandbox", fix: (error as Error).message };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The sysctl that keeps unprivileged user namespaces off on this kernel, and how to turn it on. */
async function userNamespaceFix(): Promise<string> {
  const sysctl = (key: string): Promise<string | undefined> =>
    readFile(`/proc/sys/${key.replaceAll(".", "/")}`, "utf8").then(
      (value) => value.trim(),
      () => undefined,
    );
  const keep = " (and the same line in /etc/sysctl.d/90-slipway.conf to keep it)";
  if ((await sysctl("kernel.unprivileged_userns_clone")) === "0") {
    return `sysctl -w kernel.unprivileged_userns_clone=1${keep}`;
  }
  if ((await sysctl("kernel.apparmor_restrict_unprivileged_userns")) === "1") {
    return `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0${keep}`;
  }
  if ((await sysctl("user.max_user_namespaces")) === "0") {
    return `sysctl -w user.max_user_namespaces=15000${keep}`;
  }
  return (
    "allow unprivileged user namespaces: in a container, run it with " +
    "--security-opt seccomp=unconfined --security-opt apparmor=unconfined (or --privileged)"
  );
}

/** Builds with network get a namespace and firewall set up from the host: that needs root. */
function checkRoot(config: SlipwayConfig): Check {
  const name = "root";
  if (config.platform.builds.unsafeNoSandbox) return { name, ok: true, detail: UNSAFE };
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return { name, ok: true, detail: "builds get their own user and network" };
  return {
    name,
    ok: false,
    detail: `running as uid ${uid}: builds with network cannot run`,
    fix: "run Slipway (and slipway doctor) as root",
  };
}

interface Port {
  name: string;
  variable: string;
  port: number;
  protocol: "http" | "ssh";
}

function configuredPorts(config: SlipwayConfig): Port[] {
  return [
    {
      name: "platform port",
      variable: "SLIPWAY_PORT",
      port: config.platform.port,
      protocol: "http",
    },
    {
      name: "forge HTTP port",
      variable: "SLIPWAY_FORGE_HTTP_PORT",
      port: config.forge.httpPort,
      protocol: "http",
    },
    {
      name: "forge SSH port",
      variable: "SLIPWAY_FORGE_SSH_PORT",
      port: config.forge.sshPort,
      protocol: "ssh",
    },
  ];
}

/** Free, or already Slipway's (a running Slipway answers on it). */
async function checkPort(host: string, { name, variable, port, protocol }: Port): Promise<Check> {
  if (port === 0) return { name, ok: true, detail: "0: any free port, picked at start" };
  const where = `${host}:${port}`;
  const error = await tryListen(host, port);
  if (error === undefined) return { name, ok: true, detail: `${where} is free` };
  if (error.code === "EADDRINUSE") {
    if (await answersLikeSlipway(host, port, protocol)) {
      return { name, ok: true, detail: `${where} is Slipway's (it is running)` };
    }
    return {
      name,
      ok: false,
      detail: `${where} is in use by another program`,
      fix: `stop it (\`ss -ltnp 'sport = :${port}'\` shows which), or set ${variable} to a free port`,
    };
  }
  if (error.code === "EACCES") {
    return {
      name,
      ok: false,
      detail: `${where} needs privileges to listen on`,
      fix: `run Slipway as root, or set ${variable} to a port above 1023`,
    };
  }
  return {
    name,
    ok: false,
    detail: `cannot listen on ${where}: ${error.code ?? error.message}`,
    fix: "set SLIPWAY_HOST to an address of this machine (e.g. 127.0.0.1 or 0.0.0.0)",
  };
}

function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) => resolve(error));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

async function answersLikeSlipway(
  host: string,
  port: number,
  protocol: Port["protocol"],
): Promise<boolean> {
  const target = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  if (protocol === "ssh") return (await sshBanner(target, port)).startsWith("SSH-2.0-Slipway");
  try {
    const url = `http://${isIP(target) === 6 ? `[${target}]` : target}:${port}/healthz`;
    const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return ((await response.json()) as { status?: unknown }).status === "ok";
  } catch {
    return false;
  }
}

/** The first line an SSH server sends (its identification), or "". */
function sshBanner(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    const socket = connect({ host, port });
    const done = (): void => {
      socket.destroy();
      resolve(text.split("\r\n")[0] ?? "");
    };
    socket.setTimeout(3000, done);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("\n") || text.length > 255) done();
    });
    socket.on("error", done);
    socket.on("close", done);
  });
}

/** The data dir exists (or can be made at first start), is ours, and no one else may write in it. */
async function checkDataDir(dataDir: string): Promise<Check> {
  const name = "data dir";
  const fixVariable = "or set SLIPWAY_DATA_DIR to another directory";
  const info = await stat(dataDir).catch(() => undefined);
  if (info === undefined) {
    let parent = dirname(dataDir);
    while (!(await stat(parent).catch(() => undefined)) && dirname(parent) !== parent) {
      parent = dirname(parent);
    }
    if (await isAccessible(parent, fsConstants.W_OK | fsConstants.X_OK)) {
      return { name, ok: true, detail: `${dataDir} does not exist yet: made at first start` };
    }
    return {
      name,
      ok: false,
      detail: `${dataDir} does not exist, and ${parent} is not writable to make it`,
      fix: `mkdir -p ${dataDir} as the user Slipway runs as, ${fixVariable}`,
    };
  }
  if (!info.isDirectory()) {
    return {
      name,
      ok: false,
      detail: `${dataDir} is not a directory`,
      fix: `remove it, ${fixVariable}`,
    };
  }
  if (!(await isAccessible(dataDir, fsConstants.R_OK | fsConstants.W_OK | fsConstants.X_OK))) {
    const uid = process.getuid?.() ?? 0;
    return {
      name,
      ok: false,
      detail: `${dataDir} is not writable by uid ${uid}`,
      fix: `chown -R ${uid} ${dataDir}`,
    };
  }
  const open: string[] = [];
  for (const dir of [dataDir, join(dataDir, "platform"), join(dataDir, "forge")]) {
    const mode = (await stat(dir).catch(() => undefined))?.mode;
    if (mode !== undefined && (mode & 0o022) !== 0) open.push(dir);
  }
  if (open.length > 0) {
    return {
      name,
      ok: false,
      detail: `other users may write in ${open.join(", ")}`,
      fix: `chmod go-w ${open.join(" ")}`,
    };
  }
  return { name, ok: true, detail: `${dataDir} (mode ${modeText(info.mode)})` };
}

/** The secret files Slipway makes with mode 0600 (key files, first-start tokens). */
const KEY_FILES = [
  "platform/master.key",
  "platform/admin-token",
  "forge/secret.key",
  "forge/ssh_host_ed25519_key",
  "forge/root-token",
];

async function checkKeyFiles(dataDir: string): Promise<Check> {
  const name = "key files";
  const present: string[] = [];
  const open: { file: string; mode: number }[] = [];
  for (const file of KEY_FILES.map((f) => join(dataDir, f))) {
    const info = await stat(file).catch(() => undefined);
    if (info === undefined) continue;
    present.push(file);
    if ((info.mode & 0o077) !== 0) open.push({ file, mode: info.mode });
  }
  if (open.length > 0) {
    return {
      name,
      ok: false,
      detail: `other users may read ${open.map((o) => `${o.file} (mode ${modeText(o.mode)})`).join(", ")}`,
      fix: `chmod 600 ${open.map((o) => o.file).join(" ")}`,
    };
  }
  return present.length > 0
    ? { name, ok: true, detail: `${present.length} file(s), all mode 0600` }
    : { name, ok: true, detail: "none yet: made at first start, mode 0600" };
}

function modeText(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

async function isAccessible(path: string, mode: number): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}

export function formatChecks(checks: readonly Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines: string[] = [];
  for (const check of checks) {
    lines.push(`${check.ok ? "ok  " : "FAIL"}  ${check.name.padEnd(width)}  ${check.detail}`);
    if (!check.ok && check.fix !== undefined) {
      lines.push(`${" ".repeat(width + 8)}fix: ${check.fix}`);
    }
  }
  const failed = checks.filter((c) => !c.ok).length;
  lines.push(
    failed === 0
      ? "\nEverything Slipway needs is in place."
      : `\n${failed} check(s) failed: fix them, then run \`slipway doctor\` again.`,
  );
  return lines.join("\n");
}

const USAGE = `Usage: slipway doctor

Checks this machine for Slipway as configured by the environment (SLIPWAY_* variables): the
build sandbox's tools and user namespaces, git and ssh, the ports, and the data dir's files.
Exits with 1 when something fails, each failure with how to fix it.`;

/** `slipway doctor`: prints one line per check; the exit code is 1 when one failed. */
export async function doctorCommand(argv: readonly string[]): Promise<number> {
  if (argv.length > 0) {
    const help = argv[0] === "--help" || argv[0] === "-h";
    (help ? console.log : console.error)(USAGE);
    return help ? 0 : 2;
  }
  const config = loadConfig();
  console.log(`Slipway doctor: data dir ${config.dataDir}, host ${config.host}\n`);
  const checks = await runDoctor(config);
  console.log(formatChecks(checks));
  return checks.every((c) => c.ok) ? 0 : 1;
}
