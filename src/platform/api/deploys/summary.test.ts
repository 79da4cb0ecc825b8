import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { digestDeploy } from "../../../../test/helpers/digest-deploy.ts";
import { edgeGet } from "../../../../test/helpers/e2e.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { MAX_SUMMARY_ERRORS, rulesSummary } from "../../deploys/summary.ts";
import { presentSummary } from "./presenter.ts";

/**
 * A deploy's `summary` (Netlify's shape): its redirect and header rules are parsed once as it
 * becomes ready, and a rule the edge ignores is named there instead of being dropped silently.
 */

interface Message {
  type: string;
  title: string;
  description: string;
  details: string | null;
}

interface DeployBody {
  id: string;
  state: string;
  summary: { status: string; messages: Message[] } | null;
}

describe("a deploy's summary", () => {
  let t: TestPlatform;
  let alice: Tenant;

  before(async () => {
    t = await startTestPlatform({ platform: { edgeTtlMs: 0, buildWorkers: false } });
    alice = await t.createTenant("alice");
  });
  after(() => t.stop());

  /** Deploys `files` to a new site by the digest protocol; returns the ready deploy's JSON. */
  const deploy = async (
    name: string,
    files: Record<string, string>,
  ): Promise<DeployBody & { siteId: string }> => {
    const site = await t.api<{ id: string }>("POST", "/sites", {
      token: alice.token,
      body: { name },
    });
    assert.equal(site.status, 201, site.text);
    const { id } = await digestDeploy({
      url: t.url,
      token: alice.token,
      siteId: site.body.id,
      files,
    });
    const res = await t.api<DeployBody>("GET", `/deploys/${id}`, { token: alice.token });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.state, "ready");
    return { ...res.body, siteId: site.body.id };
  };

  it("counts the rules of a deploy whose rules are all valid", async () => {
    const body = await deploy("summary-valid", {
      "index.html": "<h1>home</h1>",
      _redirects: "/old /new 301\n/blog/* /posts/:splat 302\n/app/* /index.html 200\n",
      _headers: "/*\n  X-Frame-Options: DENY\n",
    });
    assert.deepEqual(body.summary, {
      status: "ready",
      messages: [
        {
          type: "info",
          title: "3 redirect rules processed",
          description: "All redirect rules deployed without errors.",
          details: null,
        },
        {
          type: "info",
          title: "1 header rule processed",
          description: "All header rules deployed without errors.",
          details: null,
        },
      ],
    });
  });

  it("names a broken _redirects line and a bad _headers entry, and still publishes", async () => {
    const body = await deploy("summary-broken", {
      "index.html": "<h1>home</h1>",
      _redirects: "/old /new 301\n/broken\n/api/* https://api.example/:splat 200\n",
      _headers: "/*\n  X-Frame-Options: DENY\n  Content-Length: 5\n",
    });
    const [redirects, headers] = body.summary?.messages ?? [];
    assert.equal(redirects?.type, "warning");
    assert.equal(redirects.title, "2 redirect rules could not be processed");
    assert.match(redirects.description, /^1 redirect rule deployed/);
    assert.match(redirects.details ?? "", /line 2: \/broken Missing destination/);
    assert.match(redirects.details ?? "", /proxying to another URL is not supported/);
    assert.equal(headers?.type, "warning");
    assert.equal(headers.title, "1 header rule could not be processed");
    assert.match(headers.details ?? "", /"Content-Length" is set by the edge/);
    // The valid rule is served: the summary reports, it never fails the deploy.
    const res = await edgeGet(t.url, "summary-broken.localhost", "/old");
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, "/new");
  });

  it("says so when a deploy has no rules, and lists it with the deploy", async () => {
    const body = await deploy("summary-none", { "index.html": "<h1>home</h1>" });
    assert.deepEqual(
      body.summary?.messages.map((m) => [m.type, m.title, m.details]),
      [
        ["info", "No redirect rules processed", ""],
        ["info", "No header rules processed", ""],
      ],
    );
    const list = await t.api<DeployBody[]>("GET", `/sites/${body.siteId}/deploys`, {
      token: alice.token,
    });
    assert.deepEqual(list.body[0]?.summary, body.summary);
  });
});

describe("presentSummary", () => {
  it("says how many messages were left out, and a failure in one message", () => {
    const many = rulesSummary({
      redirects: [],
      headers: [1],
      redirectErrors: Array.from({ length: MAX_SUMMARY_ERRORS + 2 }, (_, i) => `line ${i}`),
      headerErrors: [],
    });
    const [redirects, headers] = presentSummary(many)?.messages ?? [];
    assert.equal(
      redirects?.title,
      `${MAX_SUMMARY_ERRORS + 2} redirect rules could not be processed`,
    );
    assert.match(redirects.details ?? "", /\n- … and 2 more$/);
    assert.equal(headers?.title, "1 header rule processed");

    const failed = presentSummary({ ...many, failure: "could not read" });
    assert.deepEqual(failed?.messages, [
      {
        type: "warning",
        title: "Redirect and header rules could not be checked",
        description: "could not read",
        details: null,
      },
    ]);
    assert.equal(presentSummary(null), null);
  });
});
