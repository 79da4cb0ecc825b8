import { constants } from "node:fs";
import { open, realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import { hasControlCharacters } from "../../lib/text.ts";
import type { PlatformContext } from "../context.ts";
import type { Build, Site } from "../db/schema.ts";
import { deployContext } from "../deploys/context.ts";
import { PlatformError } from "../errors.ts";
import { detectFramework, type ReadRepoFile } from "../frameworks/detect.ts";
import {
  NetlifyTomlError,
  parseNetlifyToml,
  type NetlifyToml,
} from "../frameworks/netlify-toml.ts";
import {
  describeSource,
  resolveBase,
  resolveBuildSettings,
  type ResolvedBuildSettings,
  type Setting,
} from "../frameworks/settings.ts";
import { checkCheckoutDir } from "../sites/repo-settings.ts";
import type { BuildLog } from "./build-log.ts";
import { StageFailure } from "./stage.ts";

/**
 * What a build runs, settled once the checkout is there: the site's settings, framework
 * detection where they leave the command or publish directory unset, `netlify.toml` and its
 * context overrides on top (`frameworks/settings.ts` has the precedence). The log says what was
 * detected and where each setting came from. The rest of the build reads the site's
 * `build_cmd`, `publish_dir` and `base_dir`, so the effective values are set on this build's copy
 * of the site row (the database keeps the site's own); the file's environment variables are
 * kept for the build stage (`fileEnvironment`).
 */

/** How much of a file is read (detection needs package.json, and that lockfiles exist). */
const DETECTION_FILE_MAX_BYTES = 1024 * 1024;

const environments = new WeakMap<Build, Record<string, string>>();

const ignoreCommands = new WeakMap<Build, string>();

/** netlify.toml's `ignore` command for `build`, if any (`ignore.ts` runs it). */
export function ignoreCommand(build: Build): string | null {
  return ignoreCommands.get(build) ?? null;
}

/** The variables netlify.toml sets for `build` (laid over the site's own). */
export function fileEnvironment(build: Build): Record<string, string> {
  return environments.get(build) ?? {};
}

export async function applyBuildSettings(
  site: Site,
  build: Build,
  context: string,
  workDir: string,
  log: Pick<BuildLog, "write">,
): Promise<ResolvedBuildSettings> {
  const say = (message: string): void => log.write("preparing_repo", message);
  const read = checkoutReader(workDir);
  const { toml, path: tomlPath } = await readNetlifyToml(read, site.base_dir);
  const siteSettings = { command: site.build_cmd, publish: site.publish_dir, base: site.base_dir };
  const base = checkedDir("base", resolveBase(siteSettings, toml, context, build.branch));
  const detected = await detectFramework(read, base.value);
  const settings = resolveBuildSettings({
    site: { ...siteSettings, base: base.value },
    toml,
    detected,
    context,
    branch: build.branch,
  });
  settings.base = base;
  settings.publish = checkedDir("publish", settings.publish);

  say(tomlPath === null ? "No netlify.toml found" : `Using the build settings of ${tomlPath}`);
  say(
    detected === null
      ? "No framework detected"
      : `Framework detected: ${detected.framework.name} (build command ${shown(detected.cmd)}, publish directory ${shown(detected.dir)})`,
  );
  if (settings.base.value !== null)
    say(`Base directory ${shown(settings.base.value)} ${from(base)}`);
  const command = settings.command.value?.trim() === "" ? null : settings.command.value;
  say(
    command === null
      ? `No build command ${settings.command.source === null ? "set" : from(settings.command)}`
      : `Build command ${shown(command)} ${from(settings.command)}`,
  );
  say(
    settings.publish.value === null
      ? `Publish directory: the base directory ${settings.publish.source === null ? "(none set)" : from(settings.publish)}`
      : `Publish directory ${shown(settings.publish.value)} ${from(settings.publish)}`,
  );
  const names = Object.keys(settings.environment);
  if (names.length > 0) {
    // Names only: values may be secrets.
    say(
      `Environment variables from netlify.toml: ${names.map((name) => `${name} (${settings.environment[name]!.section})`).join(", ")}`,
    );
  }
  if (settings.ignore.value !== null && settings.ignore.value.trim() !== "") {
    say(`Ignore command ${shown(settings.ignore.value)} ${from(settings.ignore)}`);
    ignoreCommands.set(build, settings.ignore.value);
  }

  site.build_cmd = command;
  site.publish_dir = settings.publish.value;
  site.base_dir = settings.base.value;
  environments.set(
    build,
    Object.fromEntries(names.map((name) => [name, settings.environment[name]!.value])),
  );
  return settings;
}

const from = (setting: Setting): string => `(${describeSource(setting.source)})`;

/** A value in a log line; one with line breaks (a multi-line command) escaped, on one line. */
const shown = (value: string): string =>
  hasControlCharacters(value) ? JSON.stringify(value) : `\`${value}\``;

/** netlify.toml in the site's base directory, else at the repository's root (as Netlify looks). */
async function readNetlifyToml(
  read: ReadRepoFile,
  base: string | null,
): Promise<{ toml: NetlifyToml | null; path: string | null }> {
  const candidates = base === null ? ["netlify.toml"] : [`${base}/netlify.toml`, "netlify.toml"];
  for (const path of candidates) {
    const text = await read(path);
    if (text === null) continue;
    try {
      return { toml: parseNetlifyToml(text), path };
    } catch (error) {
      if (error instanceof NetlifyTomlError) {
        throw new StageFailure(
          "preparing repo",
          `${error.message.replace(/^netlify\.toml/, path)}. Fix the file and push again.`,
        );
      }
      throw error;
    }
  }
  return { toml: null, path: null };
}

/** A directory setting checked as the site's own are (relative, inside the checkout). */
function checkedDir(name: "base" | "publish", setting: Setting): Setting {
  if (setting.value === null) return setting;
  try {
    return { value: checkCheckoutDir(name, setting.value), source: setting.source };
  } catch (error) {
    if (error instanceof PlatformError) {
      throw new StageFailure(
        "preparing repo",
        `The ${name} directory ${from(setting)} is not allowed: ${error.message}`,
      );
    }
    throw error;
  }
}

/**
 * Reads files of the checkout, which the repository's author controls: only regular files whose
 * real path stays inside the checkout (a symlink to `/etc/…` reads as absent; a FIFO is never
 * waited on), and only their first `DETECTION_FILE_MAX_BYTES` (a lockfile only needs to exist;
 * a netlify.toml that large is refused by its parser).
 */
export function checkoutReader(workDir: string): ReadRepoFile {
  const root = realpath(workDir);
  return async (path) => {
    let real: string;
    try {
      real = await realpath(join(workDir, path));
    } catch {
      return null;
    }
    if (!real.startsWith((await root) + sep)) return null;
    const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => null);
    if (handle === null) return null;
    try {
      if (!(await handle.stat()).isFile()) return null;
      const buffer = Buffer.alloc(DETECTION_FILE_MAX_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return buffer.subarray(0, bytesRead).toString("utf8");
    } finally {
      await handle.close();
    }
  };
}

/** The deploy context of `build` (`production`, `deploy-preview`, `branch-deploy`), as its deploy says. */
export async function buildContext(
  ctx: PlatformContext,
  site: Site,
  build: Build,
): Promise<string> {
  const deploy =
    build.deploy_id === null
      ? undefined
      : await ctx.db
          .selectFrom("deploys")
          .select("context")
          .where("id", "=", build.deploy_id)
          .executeTakeFirst();
  return deploy?.context ?? deployContext(site, build.branch);
}
