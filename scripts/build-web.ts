/**
 * `npm run build` (second half): builds the dashboard (`web/`, React + Vite) into `dist/web/`,
 * then writes a Brotli and a gzip copy beside each text asset, which the platform sends to
 * browsers that accept them (`src/platform/dashboard/serve.ts`): no compression per request.
 *
 * Usage: node --import tsx scripts/build-web.ts
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { build } from "vite";

const PROJECT_ROOT = resolve(import.meta.dirname, "..");
const OUT = join(PROJECT_ROOT, "dist", "web");
const COMPRESSIBLE = /\.(js|css|html|svg|json|txt|map)$/;

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

await build({
  configFile: join(PROJECT_ROOT, "web", "vite.config.ts"),
  logLevel: "warn",
});

let raw = 0;
let compressed = 0;
for (const path of files(OUT)) {
  if (!COMPRESSIBLE.test(path)) continue;
  const data = readFileSync(path);
  const br = brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
  writeFileSync(`${path}.br`, br);
  writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
  raw += data.length;
  compressed += br.length;
}
console.error(
  `built ${OUT}: ${(raw / 1024).toFixed(0)} KB of text assets, ${(compressed / 1024).toFixed(0)} KB with Brotli`,
);
