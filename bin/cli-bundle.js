// Which prebuilt bundle `bin/slipway.js` may run (see scripts/build-cli.ts): plain JavaScript,
// no TypeScript loader, so that a short-lived client such as `slipway deploy` starts quickly.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { URL } from "node:url";

export const PROJECT_ROOT = new URL("../", import.meta.url);
export const BUNDLE_DIR = new URL("dist/cli/", PROJECT_ROOT);

/**
 * The URL of `deploy.mjs` in `dir` when every source it was built from (listed with its SHA-1
 * in `deploy.inputs.json`, relative to `root`) is unchanged; otherwise undefined, and the
 * caller runs the sources. Reading and hashing the sources took about 2.5 ms here.
 */
export function currentBundle(dir = BUNDLE_DIR, root = PROJECT_ROOT) {
  let inputs;
  try {
    ({ inputs } = JSON.parse(readFileSync(new URL("deploy.inputs.json", dir), "utf8")));
    for (const [path, digest] of Object.entries(inputs)) {
      const source = readFileSync(new URL(path, root));
      if (createHash("sha1").update(source).digest("hex") !== digest) return undefined;
    }
  } catch {
    return undefined; // not built, or a source was removed
  }
  return Object.keys(inputs).length > 0 ? new URL("deploy.mjs", dir).href : undefined;
}
