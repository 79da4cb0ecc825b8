import { createHash } from "node:crypto";
import { access, readFile, realpath, stat } from "node:fs/promises";
import { constants } from "node:fs";
import { dirname, join } from "node:path";
import { run } from "../../../lib/run.ts";
import { hashCheckoutFile, type InstallPlan } from "./install.ts";

/**
 * What a `node_modules` snapshot depends on, all of it: a snapshot is restored only when every
 * input is the same, and a miss names the first input that changed.
 */
export interface InstallInputs {
  /** SHA-256 of the lockfile. */
  lockfile: string;
  node: string;
  /** `npm@10.8.2`: the package manager and its version. */
  manager: string;
  command: string;
  base: string;
  /** SHA-256 of the install-relevant variables (`npm_config_*`, `NODE_ENV`, …), sorted. */
  env: string;
}

const CHANGES: readonly [keyof InstallInputs, string][] = [
  ["lockfile", "lockfile changed"],
  ["node", "Node version changed"],
  ["manager", "package manager or its version changed"],
  ["command", "install command changed"],
  ["base", "base directory changed"],
  ["env", "install environment variables changed"],
];

/** Variables that change what an install writes. */
const INSTALL_ENV = /^(npm_config_|pnpm_config_|yarn_|npm_flags$|node_env$|node_options$)/i;

const SYSTEM_PATH = ["/usr/local/bin", "/usr/bin", "/bin"];

export async function installInputs(
  workDir: string,
  plan: InstallPlan & { lockfile: string },
  base: string | null,
  env: Readonly<Record<string, string>>,
  nodeDir: string | undefined,
): Promise<InstallInputs> {
  const installEnv = Object.entries(env)
    .filter(([name]) => INSTALL_ENV.test(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const node = await nodeBinary(nodeDir);
  return {
    lockfile: await hashCheckoutFile(workDir, plan.lockfile),
    node: node === undefined ? "none" : await nodeVersion(node),
    manager: plan.declared ?? `${plan.manager}@${await managerVersion(plan.manager, node)}`,
    command: plan.command.join(" "),
    base: base ?? "",
    env: createHash("sha256").update(JSON.stringify(installEnv)).digest("hex"),
  };
}

/** The key of the inputs: a snapshot matches only when every one of them is equal. */
export function inputsKey(inputs: InstallInputs): string {
  const fields = CHANGES.map(([name]) => inputs[name]);
  return createHash("sha256").update(JSON.stringify(fields)).digest("hex");
}

/** Why `previous` (the site's latest snapshot for this base) does not fit `current`. */
export function whatChanged(previous: InstallInputs, current: InstallInputs): string {
  for (const [name, reason] of CHANGES) {
    if (previous[name] !== current[name]) {
      return name === "node" ? `${reason} (${previous.node} → ${current.node})` : reason;
    }
  }
  return "the snapshot was evicted";
}

export function parseInputs(json: string | null): InstallInputs | undefined {
  if (json === null) return undefined;
  try {
    return JSON.parse(json) as InstallInputs;
  } catch {
    return undefined;
  }
}

async function nodeBinary(nodeDir: string | undefined): Promise<string | undefined> {
  const dirs = nodeDir === undefined ? SYSTEM_PATH : [join(nodeDir, "bin")];
  for (const dir of dirs) {
    const path = join(dir, "node");
    if (
      await access(path, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return path;
  }
  return undefined;
}

/** By binary and its modification time: a Node upgraded in place is a new version. */
const versions = new Map<string, Promise<string>>();

async function nodeVersion(binary: string): Promise<string> {
  const info = await stat(binary);
  const id = `${await realpath(binary)}:${info.mtimeMs}`;
  let version = versions.get(id);
  if (version === undefined) {
    version = run(binary, ["--version"], { env: {} }).then((r) =>
      r.code === 0 ? r.stdout.trim() : "unknown",
    );
    versions.set(id, version);
  }
  return version;
}

/** The version of the package manager beside `node` (its package.json, without running it). */
async function managerVersion(manager: string, node: string | undefined): Promise<string> {
  const dirs = node === undefined ? SYSTEM_PATH : [dirname(node), ...SYSTEM_PATH];
  for (const dir of dirs) {
    let real: string;
    try {
      real = await realpath(join(dir, manager));
    } catch {
      continue;
    }
    // `…/lib/node_modules/npm/bin/npm-cli.js`: the package.json above the binary.
    for (let current = dirname(real); current !== dirname(current); current = dirname(current)) {
      const text = await readFile(join(current, "package.json"), "utf8").catch(() => undefined);
      if (text === undefined) continue;
      try {
        const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
        if (typeof pkg.version === "string") return pkg.version;
      } catch {
        /* not this one */
      }
      break;
    }
  }
  return "unknown";
}
