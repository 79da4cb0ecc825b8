import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildEnvironment } from "./environment.ts";
import { SandboxConfigError } from "./errors.ts";

describe("buildEnvironment", () => {
  it("starts from nothing and adds Netlify's variables and the site's own", () => {
    const env = buildEnvironment({
      env: { NODE_VERSION: "20" },
      netlify: { context: "deploy-preview", branch: "feat/x", commitRef: "f00", pullRequest: true },
    });
    assert.equal(env.CI, "true");
    assert.equal(env.NETLIFY, "true");
    assert.equal(env.CONTEXT, "deploy-preview");
    assert.equal(env.BRANCH, "feat/x");
    assert.equal(env.HEAD, "feat/x");
    assert.equal(env.COMMIT_REF, "f00");
    assert.equal(env.PULL_REQUEST, "true");
    assert.equal(env.NODE_VERSION, "20");
    assert.equal(env.NODE_EXTRA_CA_CERTS, undefined);
    assert.equal(env.DEPLOY_ID, undefined);
  });

  it("rejects invalid names and NUL bytes (which could smuggle sandbox options)", () => {
    assert.throws(() => buildEnvironment({ env: { "A=B": "x" } }), SandboxConfigError);
    assert.throws(() => buildEnvironment({ env: { "1X": "x" } }), SandboxConfigError);
    assert.throws(() => buildEnvironment({ env: { X: "a\0--bind\0/\0/" } }), SandboxConfigError);
  });
});
