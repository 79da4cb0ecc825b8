import { isRecord } from "../../lib/json.ts";
import { invalidField } from "../errors.ts";
import { isSha1 } from "./blob-store.ts";
import { ManifestPathError, validateManifestPath } from "./manifest.ts";
import { DEFAULT_PUBLISH_LIMITS } from "./publish.ts";

/**
 * A digest deploy's declaration as the client sends it, read into maps: every refusal names the
 * field and the entry, and counts are checked before any other work.
 */

export const MAX_DEPLOY_FILES = DEFAULT_PUBLISH_LIMITS.maxFiles;
export const MAX_FUNCTIONS = 1000;

const SHA256 = /^[0-9a-f]{64}$/;
const FUNCTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Netlify's `files` (path → SHA-1) as a map of canonical paths; every path goes through
 * `validateManifestPath`, and each refusal names the path. The count is checked first, so a
 * huge map is refused before any work.
 */
export function parseFilesMap(value: unknown): Map<string, string> {
  if (!isRecord(value)) throw invalidField("files", "must be an object of path → SHA-1");
  const keys = Object.keys(value);
  if (keys.length > MAX_DEPLOY_FILES) {
    throw invalidField(
      "files",
      `has ${keys.length} entries; a deploy holds at most ${MAX_DEPLOY_FILES} files`,
    );
  }
  const files = new Map<string, string>();
  for (const raw of keys) {
    let path: string;
    try {
      path = validateManifestPath(raw);
    } catch (error) {
      if (error instanceof ManifestPathError) {
        throw invalidField(`files`, `the path ${JSON.stringify(raw)} ${error.reason}`);
      }
      throw error;
    }
    const digest = value[raw];
    const sha1 = typeof digest === "string" ? digest.toLowerCase() : "";
    if (!isSha1(sha1)) {
      throw invalidField(
        "files",
        `the digest of ${JSON.stringify(raw)} must be a SHA-1 (40 hexadecimal characters)`,
      );
    }
    if (files.has(path)) {
      throw invalidField("files", `the path ${JSON.stringify(path)} appears twice`);
    }
    files.set(path, sha1);
  }
  return files;
}

/** Netlify's `functions` (name → SHA-256). */
export function parseFunctionsMap(value: unknown): Map<string, string> {
  if (!isRecord(value)) throw invalidField("functions", "must be an object of name → SHA-256");
  const names = Object.keys(value);
  if (names.length > MAX_FUNCTIONS) {
    throw invalidField("functions", `has ${names.length} entries; at most ${MAX_FUNCTIONS}`);
  }
  const out = new Map<string, string>();
  for (const name of names) {
    if (!FUNCTION_NAME.test(name)) {
      throw invalidField(
        "functions",
        `the function name ${JSON.stringify(name.slice(0, 200))} is not allowed (letters, digits, _ . -; at most 128)`,
      );
    }
    const digest = value[name];
    const sha256 = typeof digest === "string" ? digest.toLowerCase() : "";
    if (!SHA256.test(sha256)) {
      throw invalidField(
        "functions",
        `the digest of ${JSON.stringify(name)} must be a SHA-256 (64 hexadecimal characters)`,
      );
    }
    out.set(name, sha256);
  }
  return out;
}
