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

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function buildEnvironment(options: {
  /** The site's own environment variables. */
  env?: Readonly<Record<string, string>> | undefined;
  netlify?: NetlifyBuildEnv | undefined;
}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: SANDBOX_HOME,
    LANG: "C.UTF-8",
    USER: "build",
    TMPDIR: "/tmp",
    CI: "true",
    NETLIFY: "true",
  };
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
