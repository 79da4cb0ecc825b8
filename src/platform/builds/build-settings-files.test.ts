import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Build, Site } from "../db/schema.ts";
import { applyBuildSettings, fileEnvironment } from "./build-settings.ts";
import { StageFailure } from "./stage.ts";

/**
 * The checkout is the repository author's: what `applyBuildSettings` reads of it stays inside
 * it, and what it sets applies to this build's copy of the site only.
 */

describe("build settings read from the checkout", () => {
  let root = "";
  let outside = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "slipway-build-settings-"));
    outside = join(root, "outside");
    await mkdir(outside);
    await writeFile(join(outside, "netlify.toml"), '[build]\ncommand = "cat /secret"\n');
    await writeFile(
      join(outside, "package.json"),
      JSON.stringify({ devDependencies: { vite: "5" } }),
    );
  });
  after(() => rm(root, { recursive: true, force: true }));

  const site = (overrides: Partial<Site> = {}) =>
    ({ build_cmd: "make", publish_dir: null, base_dir: null, ...overrides }) as Site;
  const build = () => ({ branch: "main", deploy_id: null }) as unknown as Build;
  const checkout = async (name: string) => {
    const dir = join(root, name);
    await mkdir(dir);
    return dir;
  };
  const quietLog = () => {
    const lines: string[] = [];
    return { lines, write: (_section: string, message: string) => void lines.push(message) };
  };

  it("a netlify.toml or package.json that is a symlink out of the checkout is not read", async () => {
    const dir = await checkout("symlinks");
    await symlink(join(outside, "netlify.toml"), join(dir, "netlify.toml"));
    await symlink(join(outside, "package.json"), join(dir, "package.json"));
    const log = quietLog();
    const target = site();
    const settings = await applyBuildSettings(target, build(), "production", dir, log);
    assert.equal(settings.command.value, "make");
    assert.equal(settings.framework, null);
    assert.ok(log.lines.includes("No netlify.toml found"), log.lines.join("\n"));
    assert.equal(target.build_cmd, "make");
  });

  it("the file's settings go on this build's copy of the site; its variables on the build", async () => {
    const dir = await checkout("toml");
    await writeFile(
      join(dir, "netlify.toml"),
      '[build]\nbase = "web"\npublish = "out"\n[build.environment]\nMODE = "docs"\n',
    );
    const target = site({ publish_dir: "dist" });
    const thisBuild = build();
    await applyBuildSettings(target, thisBuild, "production", dir, quietLog());
    assert.deepEqual(
      [target.build_cmd, target.publish_dir, target.base_dir],
      ["make", "out", "web"],
    );
    assert.deepEqual(fileEnvironment(thisBuild), { MODE: "docs" });
    assert.deepEqual(fileEnvironment(build()), {}, "another build has none");
  });

  it("a publish directory leaving the checkout fails the build, saying which setting", async () => {
    const dir = await checkout("escape");
    await writeFile(join(dir, "netlify.toml"), '[context.production]\npublish = "../../etc"\n');
    await assert.rejects(
      applyBuildSettings(site(), build(), "production", dir, quietLog()),
      (error: unknown) =>
        error instanceof StageFailure &&
        /The publish directory \(from netlify.toml \[context.production\]\) is not allowed: .*".." is not allowed/.test(
          error.message,
        ),
    );
  });
});
