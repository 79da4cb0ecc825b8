import { parse, TomlError } from "smol-toml";
import { isRecord } from "../../lib/json.ts";
import { hasControlCharacters } from "../../lib/text.ts";

/**
 * The build settings of a `netlify.toml`: `[build]` (`command`, `publish`, `base`,
 * `environment`, `ignore`) and the `[context.<name>]` overrides (a deploy context —
 * `production`, `deploy-preview`, `branch-deploy` — or a branch name), with the same keys. The
 * rest of the file (redirects, headers, plugins, functions) is not about building and is left
 * alone here (the edge reads redirects and headers from the deploy). A file Slipway cannot read
 * is a `NetlifyTomlError` naming the line, so the build fails saying what to fix.
 */

export interface TomlBuildSettings {
  command?: string;
  publish?: string;
  base?: string;
  ignore?: string;
  environment?: Record<string, string>;
}

export interface NetlifyToml {
  build: TomlBuildSettings;
  /** `[context.<name>]`, by name. */
  contexts: Record<string, TomlBuildSettings>;
}

export class NetlifyTomlError extends Error {
  override name = "NetlifyTomlError";
  constructor(
    message: string,
    /** The line (from 1) the problem is on, when the parser says. */
    readonly line?: number,
  ) {
    super(message);
  }
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STRING_KEYS = ["command", "publish", "base", "ignore"] as const;
/** A `netlify.toml` larger than this is refused (Netlify's own files are a few KB). */
export const NETLIFY_TOML_MAX_BYTES = 256 * 1024;

export function parseNetlifyToml(text: string): NetlifyToml {
  if (Buffer.byteLength(text) > NETLIFY_TOML_MAX_BYTES) {
    throw new NetlifyTomlError(
      `netlify.toml is larger than ${NETLIFY_TOML_MAX_BYTES / 1024} KB; Slipway does not read it`,
    );
  }
  let document: Record<string, unknown>;
  try {
    document = parse(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      throw new NetlifyTomlError(
        `netlify.toml is not valid TOML: ${reason} (line ${error.line}, column ${error.column})`,
        error.line,
      );
    }
    throw error;
  }
  const build = document.build === undefined ? {} : settings(document.build, "[build]");
  const contexts: Record<string, TomlBuildSettings> = {};
  if (document.context !== undefined) {
    if (!isRecord(document.context)) {
      throw new NetlifyTomlError("netlify.toml: context must be a table ([context.production])");
    }
    for (const [name, value] of Object.entries(document.context)) {
      if (hasControlCharacters(name) || name.length > 255) {
        throw new NetlifyTomlError(
          `netlify.toml: a context name must be a deploy context or a branch name (${JSON.stringify(name.slice(0, 100))})`,
        );
      }
      contexts[name] = settings(value, `[context.${name}]`);
    }
  }
  return { build, contexts };
}

function settings(value: unknown, section: string): TomlBuildSettings {
  if (!isRecord(value)) throw new NetlifyTomlError(`netlify.toml: ${section} must be a table`);
  const result: TomlBuildSettings = {};
  for (const key of STRING_KEYS) {
    const field = value[key];
    if (field === undefined) continue;
    if (typeof field !== "string") {
      throw new NetlifyTomlError(`netlify.toml: ${key} in ${section} must be a string`);
    }
    result[key] = field;
  }
  if (value.environment !== undefined) {
    result.environment = environment(value.environment, section);
  }
  return result;
}

/** Values as strings: `NODE_VERSION = 20` is as common as `NODE_VERSION = "20"`. */
function environment(value: unknown, section: string): Record<string, string> {
  if (!isRecord(value)) {
    throw new NetlifyTomlError(`netlify.toml: environment in ${section} must be a table`);
  }
  const env: Record<string, string> = {};
  for (const [key, raw] of Object.entries(value)) {
    if (!ENV_KEY.test(key)) {
      throw new NetlifyTomlError(
        `netlify.toml: "${key.slice(0, 100)}" in ${section}.environment is not a variable name (letters, digits and _, not starting with a digit)`,
      );
    }
    if (typeof raw === "string" && raw.includes("\0")) {
      throw new NetlifyTomlError(
        `netlify.toml: ${key} in ${section}.environment contains a NUL character`,
      );
    } else if (typeof raw === "string") env[key] = raw;
    else if (typeof raw === "number" || typeof raw === "boolean") env[key] = String(raw);
    else {
      throw new NetlifyTomlError(
        `netlify.toml: ${key} in ${section}.environment must be a string, a number or a boolean`,
      );
    }
  }
  return env;
}
