import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NetlifyTomlError, parseNetlifyToml } from "./netlify-toml.ts";
import { describeSource, resolveBuildSettings } from "./settings.ts";
import type { DetectedFramework } from "./detect.ts";

const TOML = `
[build]
  command = "npm run build"
  publish = "dist"
  ignore = "git diff --quiet HEAD^ HEAD -- ."
  [build.environment]
    NODE_VERSION = 20
    API = "https://api.example"

[context.production.environment]
  API = "https://prod.example"

[context.deploy-preview]
  command = "npm run build:preview"

[context."feature/x"]
  publish = "out"
  base = "site"
`;

const vite: DetectedFramework = {
  framework: { id: "vite", name: "Vite" },
  cmd: "npm run build",
  dir: "dist",
  packageManager: "npm",
};
const none = { command: null, publish: null, base: null };

describe("netlify.toml", () => {
  it("reads [build] and the [context.*] overrides, environment values as strings", () => {
    const toml = parseNetlifyToml(TOML);
    assert.deepEqual(toml.build, {
      command: "npm run build",
      publish: "dist",
      ignore: "git diff --quiet HEAD^ HEAD -- .",
      environment: { NODE_VERSION: "20", API: "https://api.example" },
    });
    assert.deepEqual(Object.keys(toml.contexts), ["production", "deploy-preview", "feature/x"]);
    assert.deepEqual(toml.contexts["feature/x"], { publish: "out", base: "site" });
  });

  it("a file that is not TOML fails naming the line; a wrong type names the key", () => {
    assert.throws(
      () => parseNetlifyToml('[build]\ncommand = "npm run build"\npublish = [\n'),
      (error: unknown) =>
        error instanceof NetlifyTomlError &&
        error.line === 4 &&
        /not valid TOML: .*\(line 4, column \d+\)/.test(error.message),
    );
    assert.throws(
      () => parseNetlifyToml("[build]\ncommand = 42\n"),
      /command in \[build\] must be a string/,
    );
    assert.throws(
      () => parseNetlifyToml('[build.environment]\n"1BAD" = "x"\n'),
      /"1BAD" in \[build\]\.environment is not a variable name/,
    );
  });
});

describe("build settings precedence", () => {
  it("the site's settings first; detection only where the site has none", () => {
    const settings = resolveBuildSettings({
      site: { command: "make", publish: null, base: null },
      toml: null,
      detected: vite,
      context: "production",
      branch: "main",
    });
    assert.deepEqual(settings.command, { value: "make", source: { kind: "site" } });
    assert.deepEqual(settings.publish, {
      value: "dist",
      source: { kind: "framework", name: "Vite" },
    });
    assert.equal(describeSource(settings.publish.source), "from framework detection (Vite)");
  });

  it("netlify.toml overrides the site's settings; its context overrides [build]; a branch context last", () => {
    const toml = parseNetlifyToml(TOML);
    const site = { command: "make site", publish: "public", base: null };
    const production = resolveBuildSettings({
      site,
      toml,
      detected: vite,
      context: "production",
      branch: "main",
    });
    assert.equal(production.command.value, "npm run build");
    assert.equal(describeSource(production.command.source), "from netlify.toml [build]");
    assert.equal(production.publish.value, "dist");
    assert.deepEqual(production.environment.API, {
      value: "https://prod.example",
      section: "[context.production]",
    });
    assert.deepEqual(production.environment.NODE_VERSION, { value: "20", section: "[build]" });

    const preview = resolveBuildSettings({
      site,
      toml,
      detected: null,
      context: "deploy-preview",
      branch: "fix",
    });
    assert.equal(preview.command.value, "npm run build:preview");
    assert.equal(
      describeSource(preview.command.source),
      "from netlify.toml [context.deploy-preview]",
    );
    assert.equal(preview.environment.API?.value, "https://api.example");

    const branch = resolveBuildSettings({
      site: none,
      toml,
      detected: null,
      context: "branch-deploy",
      branch: "feature/x",
    });
    assert.deepEqual(
      [branch.publish.value, branch.base.value, describeSource(branch.base.source)],
      ["out", "site", "from netlify.toml [context.feature/x]"],
    );
    assert.equal(branch.ignore.value, "git diff --quiet HEAD^ HEAD -- .");
  });

  it("nothing anywhere: unset, and said so", () => {
    const settings = resolveBuildSettings({
      site: none,
      toml: null,
      detected: null,
      context: "production",
      branch: "main",
    });
    assert.deepEqual(settings.command, { value: null, source: null });
    assert.equal(settings.framework, null);
    assert.equal(describeSource(settings.command.source), "not set");
  });
});
