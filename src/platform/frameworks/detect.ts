import { isRecord } from "../../lib/json.ts";
import {
  FRAMEWORKS,
  PACKAGE_MANAGERS,
  type FrameworkCategory,
  type FrameworkDefinition,
  type PackageManagerName,
} from "./table.ts";

/**
 * Framework detection as Netlify does it (`@netlify/build-info`), over files read through
 * `read` — a checkout at build time, a provider's API when a repository is linked — so that
 * both give the same answer. Nothing here does I/O of its own; it reads only what it needs,
 * in order (package.json first: a framework found among the dependencies makes the config
 * files moot), at most `MAX_DETECTION_READS` files.
 *
 * - A framework is detected by an npm dependency (most certain), by a config file when it has
 *   no npm package (Hugo, Jekyll), or by a config file alone (least certain); among equally
 *   certain ones a static site generator wins over a build tool (Astro over the Vite it uses).
 * - The build command is the package.json build script (`"build": "vite build"` → `npm run
 *   build`), else the framework's command itself; run with the package manager of
 *   `packageManager` or of the lockfile (`pnpm run build`). Unlike Netlify, a dev script that
 *   happens to run the command (`"start": "eleventy --serve"`) is never taken for the build.
 */

/**
 * Reads a file of the repository (`path` relative to its root, `/`-separated): its text, or
 * null when there is none. A file too large to read may come back as "" (it exists).
 */
export type ReadRepoFile = (path: string) => Promise<string | null>;

export interface DetectedFramework {
  framework: { id: string; name: string };
  /** The build command, run in the base directory. */
  cmd: string;
  /** The publish directory, relative to the base directory. */
  dir: string;
  packageManager: PackageManagerName | null;
}

/** How many files one detection reads at most (a provider's API is called once for each). */
export const MAX_DETECTION_READS = 64;

/** Netlify's accuracy levels, most certain first. */
const BY_NPM = 4;
const BY_CONFIG_ONLY = 3;
const BY_CONFIG = 2;

/** Among equally certain detections: a generator over a build tool over a UI framework. */
const CATEGORY_RANK: Record<FrameworkCategory, number> = {
  static_site_generator: 3,
  build_tool: 2,
  frontend_framework: 1,
};

interface PackageJson {
  dependencies: Set<string>;
  scripts: Record<string, string>;
  packageManager: string | undefined;
}

export async function detectFramework(
  read: ReadRepoFile,
  base: string | null,
): Promise<DetectedFramework | null> {
  const reader = cappedReader(read);
  const at = (name: string): string => (base === null ? name : `${base}/${name}`);
  const pkg = packageJson(await reader(at("package.json")));

  let best: { framework: FrameworkDefinition; accuracy: number } | undefined;
  const consider = (framework: FrameworkDefinition, accuracy: number): void => {
    if (
      best === undefined ||
      accuracy > best.accuracy ||
      (accuracy === best.accuracy &&
        CATEGORY_RANK[framework.category] > CATEGORY_RANK[best.framework.category])
    ) {
      best = { framework, accuracy };
    }
  };
  if (pkg !== null) {
    for (const framework of FRAMEWORKS) {
      const uses = framework.npmDependencies.some((name) => pkg.dependencies.has(name));
      const excluded = (framework.excludedNpmDependencies ?? []).some((name) =>
        pkg.dependencies.has(name),
      );
      if (uses && !excluded) consider(framework, BY_NPM);
    }
  }
  if (best === undefined) {
    // No dependency says it: the config files (read together; each is one API call).
    const candidates = FRAMEWORKS.filter((f) => f.configFiles.length > 0);
    const found = await Promise.all(
      candidates.map(async (framework) => {
        for (const name of framework.configFiles) {
          if ((await reader(at(name))) !== null) return true;
        }
        return false;
      }),
    );
    candidates.forEach((framework, i) => {
      if (found[i]) {
        consider(framework, framework.npmDependencies.length === 0 ? BY_CONFIG_ONLY : BY_CONFIG);
      }
    });
  }
  if (best === undefined) return null;

  const { framework, accuracy } = best;
  const packageManager = pkg === null ? null : await detectPackageManager(reader, base, pkg);
  // Netlify reads the scripts only when the dependency detected the framework.
  const script = accuracy === BY_NPM && pkg !== null ? buildScript(framework, pkg.scripts) : null;
  const run = PACKAGE_MANAGERS.find((m) => m.name === (packageManager ?? "npm"))!.run;
  return {
    framework: { id: framework.id, name: framework.name },
    cmd: script === null ? framework.build.command : `${run} ${script}`,
    dir: framework.build.directory,
    packageManager,
  };
}

/** `read`, refusing (as absent) what goes beyond the read budget, each path read once. */
function cappedReader(read: ReadRepoFile): ReadRepoFile {
  const seen = new Map<string, Promise<string | null>>();
  return (path) => {
    const known = seen.get(path);
    if (known !== undefined) return known;
    const result = seen.size < MAX_DETECTION_READS ? read(path) : Promise.resolve(null);
    seen.set(path, result);
    return result;
  };
}

function packageJson(text: string | null): PackageJson | null {
  if (text === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(parsed)) return null;
  const names = (value: unknown): string[] => (isRecord(value) ? Object.keys(value) : []);
  const scripts: Record<string, string> = {};
  if (isRecord(parsed.scripts)) {
    for (const [name, value] of Object.entries(parsed.scripts)) {
      if (typeof value === "string") scripts[name] = value;
    }
  }
  return {
    dependencies: new Set([...names(parsed.dependencies), ...names(parsed.devDependencies)]),
    scripts,
    packageManager: typeof parsed.packageManager === "string" ? parsed.packageManager : undefined,
  };
}

/** `build` or `<x>:build` (Netlify's `isNpmBuildScript`), never one that runs `netlify build`. */
const isBuildScript = (name: string, value: string): boolean =>
  (name === "build" || name.endsWith(":build")) && !value.includes("netlify build");
/** Netlify's dev script names: `"start": "eleventy --serve"` runs the command but is no build. */
const DEV_SCRIPTS = ["dev", "serve", "develop", "start", "run", "web"];
const isDevScript = (name: string): boolean =>
  DEV_SCRIPTS.some((dev) => name === dev || name.endsWith(`:${dev}`));

/**
 * A build script running the framework's command, else any build script (Netlify's choice,
 * in the file's order), else another script running the command that is not a dev script.
 */
function buildScript(
  framework: FrameworkDefinition,
  scripts: Record<string, string>,
): string | null {
  // Only names a shell reads as one plain word become `npm run <name>`.
  const entries = Object.entries(scripts).filter(([name]) => /^[\w:.@/-]+$/.test(name));
  const runs = (value: string): boolean => value.includes(framework.build.command);
  return (
    entries.find(([name, value]) => isBuildScript(name, value) && runs(value))?.[0] ??
    entries.find(([name, value]) => isBuildScript(name, value))?.[0] ??
    entries.find(([name, value]) => runs(value) && !isDevScript(name))?.[0] ??
    null
  );
}

/**
 * `packageManager` (corepack's `pnpm@9.1.0`) of the base's or the root's package.json, else the
 * first lockfile found from the base directory up to the root (workspaces keep theirs at the
 * root), else none.
 */
async function detectPackageManager(
  read: ReadRepoFile,
  base: string | null,
  pkg: PackageJson,
): Promise<PackageManagerName | null> {
  const dirs = base === null ? [""] : ancestors(base);
  const declared = async (): Promise<string | undefined> => {
    if (pkg.packageManager !== undefined) return pkg.packageManager;
    if (base === null) return undefined;
    return packageJson(await read("package.json"))?.packageManager;
  };
  const named = (await declared())?.split("@")[0];
  const byName = PACKAGE_MANAGERS.find((m) => m.name === named);
  if (byName !== undefined) return byName.name;
  for (const dir of dirs) {
    for (const manager of PACKAGE_MANAGERS) {
      for (const lockFile of manager.lockFiles) {
        if ((await read(dir === "" ? lockFile : `${dir}/${lockFile}`)) !== null) {
          return manager.name;
        }
      }
    }
  }
  return null;
}

/** `a/b` → `a/b`, `a`, `` (the root). */
function ancestors(base: string): string[] {
  const parts = base.split("/").filter((part) => part !== "" && part !== ".");
  const dirs: string[] = [];
  for (let i = parts.length; i > 0; i--) dirs.push(parts.slice(0, i).join("/"));
  dirs.push("");
  return dirs;
}
