import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { slackText, type PresentedDeploy } from "./deliver.ts";

describe("Slack messages", () => {
  const deploy: PresentedDeploy = {
    id: "0123456789abcdef01234567",
    name: "a&b",
    state: "error",
    admin_url: "https://slipway.example/sites/a&b",
    deploy_ssl_url: "https://0123456789abcdef01234567--ab.sites.example",
    branch: "fix/<tag>",
    context: "branch-deploy",
    commit_ref: "89abcdef0123456789abcdef0123456789abcdef",
    error_message: "Build failed: <script> & friends\nsecond line",
  };

  it("link the deploy and escape Slack's reserved characters in what users wrote", () => {
    const text = slackText("deploy_failed", deploy, "https://slipway.example/deploys/1");
    assert.equal(
      text,
      [
        "Deploy failed for *a&amp;b* (branch-deploy, fix/&lt;tag&gt;@89abcde): <https://slipway.example/deploys/1|deploy 0123456789abcdef01234567>",
        "Build failed: &lt;script&gt; &amp; friends",
      ].join("\n"),
    );
  });

  it("link the deploy's own URL when it succeeded", () => {
    const text = slackText("deploy_succeeded", { ...deploy, error_message: null }, "https://p/d");
    assert.equal(
      text.split("\n")[1],
      "<https://0123456789abcdef01234567--ab.sites.example|https://0123456789abcdef01234567--ab.sites.example>",
    );
  });
});
