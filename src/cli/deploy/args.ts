import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

export const DEFAULT_API_URL = "http://127.0.0.1:8080";

export const DEPLOY_USAGE = `Usage: slipway deploy --dir DIR [options]

Deploys the files in DIR to a Slipway site without git: hashes every file, sends the list of
digests, uploads only the contents the platform does not have yet, and waits until the deploy
is ready. A deploy is a draft, served only at its own URL, unless --prod publishes it.

Options:
  --dir DIR      the directory to deploy (dotfiles are skipped, except .well-known;
                 _redirects and _headers are deployed and honoured)
  --prod         publish the deploy at the site's URL (default: a draft)
  --site SITE    the site's id or name (env SLIPWAY_SITE_ID); without one, a new site is
                 created and its id printed
  --api URL      the platform, e.g. http://127.0.0.1:8080 (env SLIPWAY_API_URL;
                 default ${DEFAULT_API_URL})
  --auth TOKEN   an access token (env SLIPWAY_AUTH_TOKEN, which keeps it out of the
                 process list)
  --title TEXT   a title for the deploy
  --branch NAME  the branch the files come from (recorded with the deploy)
  --json         print one JSON object with the result on stdout, and nothing else there
  --no-cache     read and hash every file; by default a file unchanged since the last
                 deploy of DIR (same inode, size and times) reuses its digest from the
                 cache in $SLIPWAY_CACHE_DIR (default $XDG_CACHE_HOME/slipway or
                 ~/.cache/slipway)
  -h, --help     show this help

Exit status: 0 when the deploy is ready, 1 when it failed (with the server's reason), 2 for
a usage error.`;

export interface DeployOptions {
  dir: string;
  prod: boolean;
  site?: string;
  json: boolean;
  apiUrl: string;
  token: string;
  title?: string;
  branch?: string;
  /** Where the hash cache lives; undefined with --no-cache (or when there is no home). */
  cacheDir?: string;
}

/** The variables `slipway deploy` reads (the servers' configuration is `src/config.ts`'s). */
export interface DeployEnv {
  SLIPWAY_API_URL?: string;
  SLIPWAY_AUTH_TOKEN?: string;
  SLIPWAY_SITE_ID?: string;
  SLIPWAY_CACHE_DIR?: string;
  XDG_CACHE_HOME?: string;
  HOME?: string;
}

/** The one place the deploy command reads the environment. */
export function deployEnv(env: NodeJS.ProcessEnv = process.env): DeployEnv {
  const pick = (value: string | undefined): string | undefined =>
    value === undefined || value.trim() === "" ? undefined : value.trim();
  return {
    SLIPWAY_API_URL: pick(env.SLIPWAY_API_URL),
    SLIPWAY_AUTH_TOKEN: pick(env.SLIPWAY_AUTH_TOKEN),
    SLIPWAY_SITE_ID: pick(env.SLIPWAY_SITE_ID),
    SLIPWAY_CACHE_DIR: pick(env.SLIPWAY_CACHE_DIR),
    XDG_CACHE_HOME: pick(env.XDG_CACHE_HOME),
    HOME: pick(env.HOME),
  };
}

export class UsageError extends Error {
  override name = "UsageError";
}

/** `--help` was asked for: not an error, nothing to deploy. */
export const HELP = Symbol("help");

export function parseDeployArgs(
  argv: readonly string[],
  env: DeployEnv,
): DeployOptions | typeof HELP {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        dir: { type: "string" },
        prod: { type: "boolean", default: false },
        site: { type: "string" },
        json: { type: "boolean", default: false },
        api: { type: "string" },
        auth: { type: "string" },
        title: { type: "string" },
        branch: { type: "string" },
        "no-cache": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) return HELP;
  const dir = values.dir;
  if (dir === undefined || dir === "") throw new UsageError("--dir DIR is required");
  const token = nonEmpty(values.auth) ?? env.SLIPWAY_AUTH_TOKEN;
  if (token === undefined) {
    throw new UsageError(
      "no access token: set SLIPWAY_AUTH_TOKEN or pass --auth TOKEN " +
        "(the administrator's token is in $SLIPWAY_DATA_DIR/platform/admin-token)",
    );
  }
  const site = nonEmpty(values.site) ?? env.SLIPWAY_SITE_ID;
  const title = nonEmpty(values.title);
  const branch = nonEmpty(values.branch);
  const cacheDir = values["no-cache"] ? undefined : defaultCacheDir(env);
  return {
    dir,
    prod: values.prod,
    json: values.json,
    apiUrl: nonEmpty(values.api) ?? env.SLIPWAY_API_URL ?? DEFAULT_API_URL,
    token,
    ...(site === undefined ? {} : { site }),
    ...(title === undefined ? {} : { title }),
    ...(branch === undefined ? {} : { branch }),
    ...(cacheDir === undefined ? {} : { cacheDir }),
  };
}

/** `$SLIPWAY_CACHE_DIR`, else the XDG cache directory's `slipway`. */
function defaultCacheDir(env: DeployEnv): string | undefined {
  if (env.SLIPWAY_CACHE_DIR !== undefined) return resolve(env.SLIPWAY_CACHE_DIR);
  if (env.XDG_CACHE_HOME !== undefined) return join(resolve(env.XDG_CACHE_HOME), "slipway");
  if (env.HOME !== undefined) return join(resolve(env.HOME), ".cache", "slipway");
  return undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
