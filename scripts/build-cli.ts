/**
 * `npm run build`: bundles `slipway deploy` (src/cli/deploy, Node built-ins only) into one
 * plain-JavaScript module, `dist/cli/deploy.mjs`, which `bin/slipway.js` runs without tsx: the
 * command then starts in about a fifth of the time. Beside it, `deploy.inputs.json` records the
 * SHA-1 of every source file that went in, so the launcher uses the bundle only while it matches
 * the sources (an edited source falls back to tsx until the next build).
 *
 * Usage: node --import tsx scripts/build-cli.ts [--out DIR]
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const PROJECT_ROOT = resolve(import.meta.dirname, "..");
const ENTRY = "src/cli/deploy/command.ts";

async function buildCli(outDir: string): Promise<{ bundle: string; sources: number }> {
  mkdirSync(outDir, { recursive: true });
  const bundle = join(outDir, "deploy.mjs");
  const result = await build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [ENTRY],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    metafile: true,
    logLevel: "warning",
    outfile: bundle,
    banner: { js: `// Built by scripts/build-cli.ts from ${ENTRY}; do not edit.` },
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error("esbuild wrote nothing");
  const inputs: Record<string, string> = {};
  for (const path of Object.keys(result.metafile.inputs).sort()) {
    inputs[path] = createHash("sha1")
      .update(readFileSync(join(PROJECT_ROOT, path)))
      .digest("hex");
  }
  // The bundle first, then the list: a launcher reading between the two sees a list that does
  // not match the sources it was built from only if those changed, and then falls back to tsx.
  writeAtomically(bundle, output.contents);
  writeAtomically(join(outDir, "deploy.inputs.json"), `${JSON.stringify({ inputs }, null, 2)}\n`);
  return { bundle, sources: Object.keys(inputs).length };
}

function writeAtomically(path: string, data: string | Uint8Array): void {
  const temp = join(dirname(path), `.${process.pid}.tmp`);
  writeFileSync(temp, data);
  renameSync(temp, path);
}

const { values } = parseArgs({ options: { out: { type: "string" } } });
const built = await buildCli(resolve(values.out ?? join(PROJECT_ROOT, "dist", "cli")));
console.error(`built ${built.bundle} from ${built.sources} source files`);
