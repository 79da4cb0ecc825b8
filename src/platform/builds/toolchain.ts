import { constants } from "node:fs";
import { access, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { ReadRepoFile } from "../frameworks/detect.ts";
import type { Toolchain } from "./sandbox/environment.ts";

/**
 * The Node a build runs with, as Netlify selects it: the `NODE_VERSION` variable, else `.nvmrc`
 * or `.node-version` in the base directory (then at the repository's root), chosen among the
 * versions the operator installed (`SLIPWAY_NODE_VERSIONS_DIR`, `<dir>/<version>/bin/node`). A
 * partial version (`20`, `v24`, `lts/*`, `lts/iron`) takes the highest installed match; a
 * version that is not installed fails the build, naming those that are. Without a request the
 * build uses the platform's own Node. `package.json`'s `packageManager` turns corepack on.
 */

type Version = readonly [number, number, number];

export interface InstalledNode {
  version: Version;
  /** `<dir>/<version>`, or undefined for the platform's own Node (already in the sandbox). */
  dir: string | undefined;
}

export interface SelectedToolchain {
  /** For the sandbox; undefined: the platform's Node and no corepack. */
  toolchain: Toolchain | undefined;
  /** The package manager corepack provides (`pnpm@9.1.0`), if package.json names one. */
  packageManager: string | undefined;
  /** For the build's log. */
  lines: string[];
}

export class ToolchainError extends Error {
  override name = "ToolchainError";
}

/** Netlify's (and nvm's) LTS code names, by major version. */
const LTS_NAMES: Record<string, number> = {
  argon: 4,
  boron: 6,
  carbon: 8,
  dubnium: 10,
  erbium: 12,
  fermium: 14,
  gallium: 16,
  hydrogen: 18,
  iron: 20,
  jod: 22,
  krypton: 24,
};

const text = (v: Version): string => v.join(".");

const compare = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

function parseVersion(name: string): Version | null {
  const match = /^v?(\d{1,4})\.(\d{1,4})\.(\d{1,4})$/.exec(name);
  return match === null ? null : [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** The versions under `dir` with an executable `bin/node`, and the platform's own. */
export async function installedNodes(
  dir: string | undefined,
  platformVersion: string = process.versions.node,
): Promise<InstalledNode[]> {
  const found: InstalledNode[] = [];
  for (const name of dir === undefined ? [] : await readdir(dir).catch(() => [] as string[])) {
    const version = parseVersion(name);
    if (version === null) continue;
    const ok = await access(join(dir!, name, "bin", "node"), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (ok) found.push({ version, dir: join(dir!, name) });
  }
  const own = parseVersion(platformVersion);
  if (own !== null && !found.some((n) => compare(n.version, own) === 0)) {
    found.push({ version: own, dir: undefined });
  }
  return found.sort((a, b) => compare(b.version, a.version));
}

/** The installed Node a request names (highest match), or null; throws for an unreadable request. */
export function matchNode(
  request: string,
  installed: readonly InstalledNode[],
): InstalledNode | null {
  const wanted = request.trim().toLowerCase();
  let matches: (v: Version) => boolean;
  if (wanted === "node" || wanted === "latest" || wanted === "current" || wanted === "stable") {
    matches = () => true;
  } else if (wanted === "lts/*" || wanted === "lts") {
    matches = (v) => v[0] % 2 === 0 && v[0] >= 4;
  } else if (wanted.startsWith("lts/")) {
    const major = LTS_NAMES[wanted.slice(4)];
    if (major === undefined) throw new ToolchainError(`${request} is not a Node LTS line`);
    matches = (v) => v[0] === major;
  } else {
    const match = /^v?(\d{1,4})(?:\.(\d{1,4}|x))?(?:\.(\d{1,4}|x))?$/.exec(wanted);
    if (match === null) {
      throw new ToolchainError(
        `${JSON.stringify(request)} is not a Node version Slipway understands (such as 20, 20.11, 20.11.1, v22 or lts/*)`,
      );
    }
    const parts = match.slice(1).map((p) => (p === undefined || p === "x" ? null : Number(p)));
    matches = (v) => parts.every((p, i) => p === null || v[i] === p);
  }
  return installed.find((n) => matches(n.version)) ?? null;
}

/** The first line of a version file, without comments. */
const firstLine = (content: string): string =>
  content
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*/, "").trim())
    .find((l) => l !== "") ?? "";

const PACKAGE_MANAGER = /^(npm|pnpm|yarn)@\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.:-]+)?$/;

/** What the build runs with, and the log lines that say so. */
export async function selectToolchain(options: {
  env: Readonly<Record<string, string>>;
  read: ReadRepoFile;
  base: string | null;
  versionsDir: string | undefined;
  platformVersion?: string;
}): Promise<SelectedToolchain> {
  const { env, read, base, versionsDir } = options;
  const dirs = base === null ? [""] : [`${base}/`, ""];
  let request: { value: string; source: string } | undefined;
  if (env.NODE_VERSION !== undefined && env.NODE_VERSION.trim() !== "") {
    request = { value: env.NODE_VERSION.trim(), source: "NODE_VERSION" };
  } else {
    search: for (const dir of dirs) {
      for (const file of [".nvmrc", ".node-version"]) {
        const content = await read(`${dir}${file}`);
        if (content !== null && firstLine(content) !== "") {
          request = { value: firstLine(content), source: `${dir}${file}` };
          break search;
        }
      }
    }
  }
  const installed = await installedNodes(versionsDir, options.platformVersion);
  const lines: string[] = [];
  let node: InstalledNode | undefined;
  if (request === undefined) {
    lines.push(
      `Node ${options.platformVersion ?? process.versions.node} (the platform's default; set NODE_VERSION, .nvmrc or .node-version to choose another)`,
    );
  } else {
    const match = matchNode(request.value, installed);
    if (match === null) {
      throw new ToolchainError(
        `Node ${request.value} was requested (from ${request.source}), but it is not installed on this platform. ` +
          `Installed: ${installed.map((n) => text(n.version)).join(", ") || "none"}. ` +
          `Request one of those, or ask the platform's operator to install Node ${request.value} in ` +
          (versionsDir === undefined
            ? "a versions directory (SLIPWAY_NODE_VERSIONS_DIR, which is not set)."
            : `${versionsDir} (SLIPWAY_NODE_VERSIONS_DIR).`),
      );
    }
    node = match;
    lines.push(`Node ${text(match.version)} (from ${request.source})`);
  }

  let packageManager: string | undefined;
  for (const dir of dirs) {
    const content = await read(`${dir}package.json`);
    if (content === null) continue;
    let field: unknown;
    try {
      field = (JSON.parse(content) as { packageManager?: unknown }).packageManager;
    } catch {
      break; // the install reports a broken package.json in its own words
    }
    if (field === undefined) break;
    if (typeof field !== "string" || !PACKAGE_MANAGER.test(field)) {
      throw new ToolchainError(
        `${dir}package.json's packageManager ${JSON.stringify(field)} is not of the form name@x.y.z (npm, pnpm or yarn, as corepack takes it)`,
      );
    }
    packageManager = field;
    lines.push(`Package manager ${field} (from ${dir}package.json, through corepack)`);
    break;
  }
  if (packageManager !== undefined && node?.dir !== undefined) {
    const hasCorepack = await access(join(node.dir, "bin", "corepack"), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (!hasCorepack) {
      throw new ToolchainError(
        `package.json names the package manager ${packageManager}, which Slipway provides through corepack, but Node ${text(node.version)} has no corepack (it is not shipped after Node 24): choose a Node version up to 24, or drop packageManager`,
      );
    }
  }
  return {
    toolchain:
      node?.dir === undefined && packageManager === undefined
        ? undefined
        : { dir: node?.dir, corepack: packageManager !== undefined },
    packageManager,
    lines,
  };
}
