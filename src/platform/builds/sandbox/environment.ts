import { SANDBOX_HOME } from "./bwrap-args.ts";
import { SandboxConfigError } from "./errors.ts";

/**
 * The build's whole environment: a fixed base, Netlify's build variables and the site's own.
 * Nothing is inherited from the platform's environment, and names and values are checked here
 * because they travel to bwrap as NUL-separated options (`--setenv NAME VALUE`).
 */

/** Netlify's build environment variables (https://docs.netlify.com/configure-builds/environment-variables/). */
export interface NetlifyBuildEnv {
  /** `production`, `deploy-preview`, `branch-deploy` or `dev`. */
  context?: string;
  branch?: string;
  commitRef?: string;
  cachedCommitRef?: string;
  deployId?: string;
  buildId?: string;
  siteId?: string;
  siteName?: string;
  url?: string;
  deployUrl?: string;
  deployPrimeUrl?: string;
  repositoryUrl?: string;
  pullRequest?: boolean;
}

/** What the operator configured for package installs (`SLIPWAY_BUILD_*`, docs/production.md). */
export interface PackageSettings {
  npmRegistry?: string | undefined;
  httpProxy?: string | undefined;
  httpsProxy?: string | undefined;
  noProxy?: string | undefined;
  /** Extra CA certificates (PEM), bound read-only at the same path. */
  caFile?: string | undefined;
  /** corepack's keys for npm's signatures; `0` for a mirror that strips them. */
  corepackIntegrityKeys?: string | undefined;
}

/** The Node a build runs with: `<dir>/bin` first on PATH, `dir` bound read-only. */
export interface Toolchain {
  /** Undefined: the platform's own Node, already in the sandbox. */
  dir?: string | undefined;
  /** corepack's shims, when package.json names a package manager. */
  corepack?: boolean | undefined;
}

/** Where `corepack enable` puts its shims (HOME is the build's own tmpfs). */
export const COREPACK_SHIMS = `${SANDBOX_HOME}/.slipway/corepack-bin`;

const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The operator's package settings as the variables npm, yarn, pnpm and corepack read. */
function packageVariables(packages: PackageSettings): Record<string, string | undefined> {
  const { npmRegistry, httpProxy, httpsProxy, noProxy, caFile, corepackIntegrityKeys } = packages;
  return {
    npm_config_registry: npmRegistry,
    // corepack joins paths to it with a slash of its own
    COREPACK_NPM_REGISTRY: npmRegistry?.replace(/\/+$/, ""),
    YARN_NPM_REGISTRY_SERVER: npmRegistry,
    HTTP_PROXY: httpProxy,
    http_proxy: httpProxy,
    HTTPS_PROXY: httpsProxy,
    https_proxy: httpsProxy,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    NODE_EXTRA_CA_CERTS: caFile,
    npm_config_cafile: caFile,
    COREPACK_INTEGRITY_KEYS: corepackIntegrityKeys,
  };
}

export function buildEnvironment(options: {
  /** The site's own environment variables. */
  env?: Readonly<Record<string, string>> | undefined;
  netlify?: NetlifyBuildEnv | undefined;
  packages?: PackageSettings | undefined;
  toolchain?: Toolchain | undefined;
}): Record<string, string> {
  const { toolchain } = options;
  const path = [
    ...(toolchain?.corepack === true ? [COREPACK_SHIMS] : []),
    ...(toolchain?.dir !== undefined ? [`${toolchain.dir}/bin`] : []),
    SYSTEM_PATH,
  ].join(":");
  const env: Record<string, string> = {
    PATH: path,
    HOME: SANDBOX_HOME,
    LANG: "C.UTF-8",
    USER: "build",
    TMPDIR: "/tmp",
    CI: "true",
    NETLIFY: "true",
  };
  // The operator's settings first: a site may still point at a registry of its own.
  for (const [name, value] of Object.entries(packageVariables(options.packages ?? {}))) {
    if (value === undefined) continue;
    if (value.includes("\0")) throw new SandboxConfigError(`${name} must not contain NUL`);
    env[name] = value;
  }
  if (toolchain?.corepack === true) env.COREPACK_ENABLE_DOWNLOAD_PROMPT = "0";
  const n = options.netlify ?? {};
  const netlifyVars: Record<string, string | undefined> = {
    CONTEXT: n.context,
    BRANCH: n.branch,
    HEAD: n.branch,
    COMMIT_REF: n.commitRef,
    CACHED_COMMIT_REF: n.cachedCommitRef,
    DEPLOY_ID: n.deployId,
    BUILD_ID: n.buildId,
    SITE_ID: n.siteId,
    SITE_NAME: n.siteName,
    URL: n.url,
    DEPLOY_URL: n.deployUrl,
    DEPLOY_PRIME_URL: n.deployPrimeUrl,
    REPOSITORY_URL: n.repositoryUrl,
    PULL_REQUEST: n.pullRequest === undefined ? undefined : String(n.pullRequest),
  };
  for (const [name, value] of Object.entries(netlifyVars)) {
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!ENV_NAME.test(name)) {
      throw new SandboxConfigError(
        `environment variable name ${JSON.stringify(name)} is invalid (letters, digits and _; not starting with a digit)`,
      );
    }
    if (typeof value !== "string" || value.includes("\0")) {
      throw new SandboxConfigError(`environment variable ${name} must be a string without NUL`);
    }
    env[name] = value;
  }
  return env;
}
