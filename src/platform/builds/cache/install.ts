import { createHash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { open, realpath } from "node:fs/promises";
import { dirname, join, posix, sep } from "node:path";
import { PACKAGE_MANAGERS } from "../../frameworks/table.ts";

/**
 * The dependency install Slipway runs before a site's command, as Netlify does when the base
 * directory has a `package.json`: the package manager named by `packageManager` or by the
 * lockfile (in the base directory, else the nearest one above it, as workspaces keep theirs),
 * with the command that installs exactly the lockfile.
 */

export type InstallManager = "npm" | "pnpm" | "yarn";

export interface InstallPlan {
  manager: InstallManager;
  /** The argument vector, run in the base directory (fixed words: safe to join for the shell). */
  command: readonly string[];
  /** The lockfile, relative to the checkout (posix); undefined: none, so no snapshot. */
  lockfile: string | undefined;
  /** `packageManager` of package.json (`pnpm@9.1.0`), when it names one. */
  declared: string | undefined;
  /** The `node_modules` directories the install fills, relative to the checkout. */
  nodeModules: string[];
}

/** Where the install's package store lives inside the checkout (moved out before publishing). */
export const STORE_DIR = ".slipway-cache";

/** The variables that point each package manager's store at `STORE_DIR`. */
export function storeEnvironment(sandboxCheckout: string): Record<string, string> {
  const store = posix.join(sandboxCheckout, STORE_DIR);
  return {
    npm_config_cache: `${store}/npm`,
    npm_config_store_dir: `${store}/pnpm`,
    pnpm_config_store_dir: `${store}/pnpm`,
    YARN_CACHE_FOLDER: `${store}/yarn`,
    YARN_ENABLE_GLOBAL_CACHE: "false",
    // Hugo's module and resource cache: with NETLIFY=true it defaults to Netlify's
    // /opt/build/cache, which the sandbox cannot create, and Hugo then refuses to build.
    HUGO_CACHEDIR: `${store}/hugo`,
  };
}

/** The install of the checkout at `workDir` with base `base`, or undefined without package.json. */
export async function planInstall(
  workDir: string,
  base: string | null,
): Promise<InstallPlan | undefined> {
  const baseDir = base ?? "";
  const pkg = await readSmallFile(workDir, posix.join(baseDir, "package.json"));
  if (pkg === null) return undefined;
  let declared: string | undefined;
  try {
    const field = (JSON.parse(pkg) as { packageManager?: unknown }).packageManager;
    if (typeof field === "string") declared = field;
  } catch {
    /* the site's command will say what is wrong with its package.json */
  }
  let lockfile: string | undefined;
  let manager: InstallManager | undefined;
  search: for (const dir of ancestors(baseDir)) {
    for (const candidate of PACKAGE_MANAGERS) {
      if (candidate.name === "bun") continue;
      for (const name of candidate.lockFiles) {
        const path = dir === "" ? name : `${dir}/${name}`;
        if ((await safeRealPath(workDir, path)) !== undefined) {
          lockfile = path;
          manager = candidate.name;
          break search;
        }
      }
    }
  }
  const named = declared?.split("@")[0];
  if (named === "npm" || named === "pnpm" || named === "yarn") manager = named;
  manager ??= "npm";
  const nodeModules = [posix.join(baseDir, "node_modules")];
  const lockDir = lockfile === undefined ? baseDir : posix.dirname(lockfile);
  const lockModules = posix.join(lockDir === "." ? "" : lockDir, "node_modules");
  if (!nodeModules.includes(lockModules)) nodeModules.push(lockModules);
  return {
    manager,
    command: await installCommand(workDir, manager, lockfile, declared),
    lockfile,
    declared,
    nodeModules,
  };
}

async function installCommand(
  workDir: string,
  manager: InstallManager,
  lockfile: string | undefined,
  declared: string | undefined,
): Promise<string[]> {
  if (manager === "pnpm") {
    return lockfile === undefined ? ["pnpm", "install"] : ["pnpm", "install", "--frozen-lockfile"];
  }
  if (manager === "yarn") {
    const berry =
      (declared !== undefined && !declared.startsWith("yarn@1")) ||
      (await safeRealPath(workDir, ".yarnrc.yml")) !== undefined;
    if (lockfile === undefined) return ["yarn", "install"];
    return berry ? ["yarn", "install", "--immutable"] : ["yarn", "install", "--frozen-lockfile"];
  }
  // Audits and funding messages would only ask the registry for what no install needs.
  return lockfile?.endsWith("package-lock.json") === true ||
    lockfile?.endsWith("npm-shrinkwrap.json") === true
    ? ["npm", "ci", "--no-audit", "--no-fund"]
    : ["npm", "install", "--no-audit", "--no-fund"];
}

/** SHA-256 (hex) of a file of the checkout; never follows a link out of it. */
export async function hashCheckoutFile(workDir: string, path: string): Promise<string> {
  const real = await safeRealPath(workDir, path);
  if (real === undefined) throw new Error(`${path} is not a file of the checkout`);
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(real)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The real path of `path` in the checkout when it is a regular file inside it. */
async function safeRealPath(workDir: string, path: string): Promise<string | undefined> {
  try {
    const [root, real] = await Promise.all([realpath(workDir), realpath(join(workDir, path))]);
    if (!real.startsWith(root + sep)) return undefined;
    const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      return (await handle.stat()).isFile() ? real : undefined;
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

async function readSmallFile(workDir: string, path: string): Promise<string | null> {
  const real = await safeRealPath(workDir, path);
  if (real === undefined) return null;
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buffer = Buffer.alloc(1024 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await handle.close();
  }
}

/** `a/b` → `a/b`, `a`, `` (the root). */
function ancestors(dir: string): string[] {
  const out: string[] = [];
  let current = dir;
  for (;;) {
    out.push(current);
    if (current === "") return out;
    const parent = dirname(current);
    current = parent === "." ? "" : parent;
  }
}
