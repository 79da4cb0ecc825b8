import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { currentBundle, PROJECT_ROOT } from "../../bin/cli-bundle.js";
import { run } from "../lib/run.ts";

/**
 * The prebuilt `slipway deploy` (scripts/build-cli.ts → dist/cli/) and the launcher's rule for
 * using it: only while every source it was built from is unchanged.
 */

const scratch = mkdtempSync(join(tmpdir(), "slipway-cli-bundle-"));
const out = join(scratch, "dist");
const outUrl = pathToFileURL(`${out}/`);
let inputs: Record<string, string>;

before(async () => {
  const built = await run(
    process.execPath,
    ["--import", "tsx", "scripts/build-cli.ts", "--out", out],
    {
      cwd: PROJECT_ROOT.pathname,
    },
  );
  assert.equal(built.code, 0, built.stderr);
  ({ inputs } = JSON.parse(readFileSync(join(out, "deploy.inputs.json"), "utf8")) as {
    inputs: Record<string, string>;
  });
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("the prebuilt deploy command", () => {
  it("records every source it was built from", () => {
    assert.ok("src/cli/deploy/command.ts" in inputs);
    assert.ok("src/cli/deploy/hash-cache.ts" in inputs);
    assert.ok(
      Object.keys(inputs).every((path) => path.startsWith("src/cli/")),
      "nothing else",
    );
  });

  it("runs under plain node, with no TypeScript loader and no package", async () => {
    const bundle = readFileSync(join(out, "deploy.mjs"), "utf8");
    const imports = [...bundle.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    assert.ok(imports.length > 0);
    assert.ok(
      imports.every((name) => name?.startsWith("node:")),
      imports.join(", "),
    );
    const help = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { runDeploy } = await import(${JSON.stringify(`${outUrl.href}deploy.mjs`)});` +
          "process.exitCode = await runDeploy(['--help']);",
      ],
      { env: { PATH: process.env.PATH } },
    );
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: slipway deploy --dir DIR/);
  });

  it("is used only while its sources are unchanged", () => {
    assert.equal(currentBundle(outUrl, PROJECT_ROOT), `${outUrl.href}deploy.mjs`);

    // A copy of the sources to change.
    const root = join(scratch, "root");
    for (const path of Object.keys(inputs))
      cpSync(join(PROJECT_ROOT.pathname, path), join(root, path));
    const rootUrl = pathToFileURL(`${root}/`);
    assert.ok(currentBundle(outUrl, rootUrl));

    const edited = join(root, "src/cli/deploy/walk.ts");
    writeFileSync(edited, `${readFileSync(edited, "utf8")}\n// edited\n`);
    assert.equal(currentBundle(outUrl, rootUrl), undefined, "an edited source");
    rmSync(edited);
    assert.equal(currentBundle(outUrl, rootUrl), undefined, "a removed source");
    assert.equal(currentBundle(pathToFileURL(`${scratch}/nothing/`), PROJECT_ROOT), undefined);
  });
});
