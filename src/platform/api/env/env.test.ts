import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { assertSpecResponse } from "../../../../test/helpers/open-api.ts";
import { buildEnvVars } from "../../env/env.ts";

interface EnvValue {
  id: string;
  value?: string;
  context: string;
  context_parameter?: string;
}
interface EnvVarBody {
  key: string;
  scopes: string[];
  values: EnvValue[];
  is_secret: boolean;
  updated_at: string;
  updated_by: { id?: string; full_name?: string; email?: string };
}
interface ErrorBody {
  code: number;
  message: string;
  field?: string;
}

describe("account env API", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;
  let siteId: string;
  let otherSiteId: string;

  before(async () => {
    t = await startTestPlatform({ platform: { buildWorkers: false } });
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
    const site = await t.api<{ id: string }>("POST", "/sites", {
      token: alice.token,
      body: { name: "env-site" },
    });
    siteId = site.body.id;
    const other = await t.api<{ id: string }>("POST", "/sites", {
      token: bob.token,
      body: { name: "bobs-site" },
    });
    otherSiteId = other.body.id;
  });
  after(() => t.stop());

  const env = (path: string) => `/accounts/${alice.accountSlug}/env${path}`;

  it("creates account variables (slug or id in the path) and lists them in Netlify's shape", async () => {
    const created = await t.api<EnvVarBody[]>("POST", env(""), {
      token: alice.token,
      body: [
        { key: "API_HOST", values: [{ value: "api.example", context: "all" }] },
        {
          key: "MODE",
          scopes: ["builds", "runtime"],
          values: [
            { value: "prod", context: "production" },
            { value: "preview", context: "deploy-preview" },
            { value: "staging", context: "branch", context_parameter: "staging" },
          ],
        },
      ],
    });
    assert.equal(created.status, 201, created.text);
    assertSpecResponse("createEnvVars", 201, created.body);
    assert.deepEqual(
      created.body.map((v) => v.key),
      ["API_HOST", "MODE"],
    );
    const apiHost = created.body[0]!;
    assert.deepEqual(apiHost.scopes, ["builds", "functions", "runtime", "post-processing"]);
    assert.equal(apiHost.is_secret, false);
    assert.equal(apiHost.updated_by.email, alice.email);
    assert.match(apiHost.values[0]!.id, /^[0-9a-f-]{36}$/);

    const byId = await t.api<EnvVarBody[]>("GET", `/accounts/${alice.accountId}/env`, {
      token: alice.token,
    });
    assert.equal(byId.status, 200);
    assertSpecResponse("getEnvVars", 200, byId.body);
    assert.deepEqual(byId.body, created.body);

    const one = await t.api<EnvVarBody>("GET", env("/MODE"), { token: alice.token });
    assertSpecResponse("getEnvVar", 200, one.body);
    assert.deepEqual(one.body, created.body[1]);
  });

  it("filters by context and scope as the CLI asks (context_name=dev keeps `all` values)", async () => {
    const dev = await t.api<EnvVarBody[]>("GET", env("?context_name=dev"), { token: alice.token });
    assert.deepEqual(
      dev.body.map((v) => [v.key, v.values.map((x) => x.value)]),
      [["API_HOST", ["api.example"]]],
    );
    const prod = await t.api<EnvVarBody[]>("GET", env("?context_name=production"), {
      token: alice.token,
    });
    assert.deepEqual(
      prod.body.map((v) => [v.key, v.values.map((x) => x.value)]),
      [
        ["API_HOST", ["api.example"]],
        ["MODE", ["prod"]],
      ],
    );
    const functions = await t.api<EnvVarBody[]>("GET", env("?scope=functions"), {
      token: alice.token,
    });
    assert.deepEqual(
      functions.body.map((v) => v.key),
      ["API_HOST"],
    );
    const bad = await t.api<ErrorBody>("GET", env("?context_name=moon"), { token: alice.token });
    assert.equal(bad.status, 422);
  });

  it("keeps site variables apart: ?site_id= addresses the site's own, GET /sites/:id/env too", async () => {
    const created = await t.api<EnvVarBody[]>("POST", env(`?site_id=${siteId}`), {
      token: alice.token,
      body: [{ key: "MODE", values: [{ value: "site-wide", context: "all" }] }],
    });
    assert.equal(created.status, 201, created.text);
    const site = await t.api<EnvVarBody[]>("GET", env(`?site_id=${siteId}`), {
      token: alice.token,
    });
    assert.deepEqual(
      site.body.map((v) => v.key),
      ["MODE"],
    );
    assert.equal(site.body[0]!.values[0]!.value, "site-wide");
    const account = await t.api<EnvVarBody[]>("GET", env(""), { token: alice.token });
    assert.deepEqual(
      account.body.map((v) => v.key),
      ["API_HOST", "MODE"],
    );

    for (const path of [`/sites/${siteId}/env`, `/api/v1/sites/${siteId}/env`]) {
      const res = await t.api<EnvVarBody[]>("GET", path, { token: alice.token });
      assert.equal(res.status, 200, path);
      assertSpecResponse("getSiteEnvVars", 200, res.body);
      assert.deepEqual(res.body, site.body);
    }
  });

  it("updates with PUT (replace, rename), sets one value with PATCH, deletes a value and a variable", async () => {
    const put = await t.api<EnvVarBody>("PUT", env("/API_HOST"), {
      token: alice.token,
      body: {
        key: "API_URL",
        scopes: ["builds"],
        values: [{ value: "https://api.example", context: "all" }],
      },
    });
    assert.equal(put.status, 200, put.text);
    assertSpecResponse("updateEnvVar", 200, put.body);
    assert.equal(put.body.key, "API_URL");
    assert.deepEqual(put.body.scopes, ["builds"]);
    assert.equal((await t.api("GET", env("/API_HOST"), { token: alice.token })).status, 404);

    const patch = await t.api<EnvVarBody>("PATCH", env("/API_URL"), {
      token: alice.token,
      body: { context: "production", value: "https://prod.example" },
    });
    assert.equal(patch.status, 201, patch.text);
    assertSpecResponse("setEnvVarValue", 201, patch.body);
    assert.deepEqual(
      patch.body.values.map((v) => [v.context, v.value]),
      [
        ["all", "https://api.example"],
        ["production", "https://prod.example"],
      ],
    );
    // The same context again replaces its value, keeping its id.
    const again = await t.api<EnvVarBody>("PATCH", env("/API_URL"), {
      token: alice.token,
      body: { context: "production", value: "https://prod2.example" },
    });
    assert.equal(again.body.values.length, 2);
    assert.equal(again.body.values[1]!.id, patch.body.values[1]!.id);
    assert.equal(again.body.values[1]!.value, "https://prod2.example");

    const valueId = again.body.values[1]!.id;
    const removed = await t.api("DELETE", env(`/API_URL/value/${valueId}`), { token: alice.token });
    assert.equal(removed.status, 204);
    assertSpecResponse("deleteEnvVarValue", 204, removed.body);
    const after = await t.api<EnvVarBody>("GET", env("/API_URL"), { token: alice.token });
    assert.deepEqual(
      after.body.values.map((v) => v.context),
      ["all"],
    );
    const missingValue = await t.api<ErrorBody>("DELETE", env(`/API_URL/value/${valueId}`), {
      token: alice.token,
    });
    assert.equal(missingValue.status, 404);

    const deleted = await t.api("DELETE", env("/API_URL"), { token: alice.token });
    assert.equal(deleted.status, 204);
    const gone = await t.api<ErrorBody>("GET", env("/API_URL"), { token: alice.token });
    assert.equal(gone.status, 404);
    assertSpecResponse("getEnvVar", 404, gone.body);
    assert.match(gone.body.message, /API_URL.*not found/);
  });

  it("never returns a secret's values (only its dev value) and never lets it become readable", async () => {
    const created = await t.api<EnvVarBody[]>("POST", env(""), {
      token: alice.token,
      body: [
        {
          key: "DEPLOY_TOKEN",
          is_secret: true,
          values: [
            { value: "s3cret-prod-value", context: "production" },
            { value: "local-dev-value", context: "dev" },
          ],
        },
      ],
    });
    assert.equal(created.status, 201, created.text);
    assert.doesNotMatch(created.text, /s3cret-prod-value/);
    const secret = created.body[0]!;
    assert.equal(secret.is_secret, true);
    assert.deepEqual(secret.scopes, ["builds", "functions", "runtime"]);
    assert.deepEqual(
      secret.values.map((v) => [v.context, v.value]),
      [
        ["production", undefined],
        ["dev", "local-dev-value"],
      ],
    );
    const prodId = secret.values[0]!.id;

    // Sending back what was read (the masked value, by id) keeps it.
    const kept = await t.api<EnvVarBody>("PUT", env("/DEPLOY_TOKEN"), {
      token: alice.token,
      body: { is_secret: true, values: secret.values },
    });
    assert.equal(kept.status, 200, kept.text);
    // ... but it cannot be moved to the readable dev context, nor the variable un-secreted.
    const moved = await t.api<ErrorBody>("PUT", env("/DEPLOY_TOKEN"), {
      token: alice.token,
      body: { values: [{ id: prodId, context: "dev" }] },
    });
    assert.equal(moved.status, 422);
    assert.equal(moved.body.field, "values.0.value");
    const unsecret = await t.api<ErrorBody>("PUT", env("/DEPLOY_TOKEN"), {
      token: alice.token,
      body: { is_secret: false, values: secret.values },
    });
    assert.equal(unsecret.status, 422);
    assert.equal(unsecret.body.field, "is_secret");
    const postProcessing = await t.api<ErrorBody>("POST", env(""), {
      token: alice.token,
      body: [{ key: "X", is_secret: true, scopes: ["post-processing"], values: [] }],
    });
    assert.equal(postProcessing.status, 422);

    for (const path of [env(""), env("/DEPLOY_TOKEN"), env("?context_name=production")]) {
      const res = await t.api("GET", path, { token: alice.token });
      assert.doesNotMatch(res.text, /s3cret-prod-value/, path);
    }
    // Sealed at rest, bound to its row.
    const row = await t.platform.ctx.db
      .selectFrom("env_vars")
      .selectAll()
      .where("key", "=", "DEPLOY_TOKEN")
      .executeTakeFirstOrThrow();
    assert.doesNotMatch(row.values_sealed, /s3cret/);
    assert.ok(!t.logs.some((line) => line.includes("s3cret-prod-value")), "never logged");
  });

  it("refuses bad input with a 4xx naming the field", async () => {
    const cases: [unknown, number, string | RegExp][] = [
      [[{ key: "1BAD", values: [] }], 422, "0.key"],
      [[{ key: "OK_1", values: [{ value: "x", context: "branch" }] }], 422, /context_parameter/],
      [[{ key: "OK_2", values: [{ value: "x", context: "moon" }] }], 422, /context/],
      [
        [{ key: "OK_3", values: [{ value: "a" }, { value: "b", context: "all" }] }],
        422,
        "0.values.1.context",
      ],
      [[{ key: "OK_4", values: [{ context: "all" }] }], 422, "0.values.0.value"],
      [[{ key: "OK_5", values: [{ value: "a\u0000b" }] }], 422, "0.values.0.value"],
      [[{ key: "DUP" }, { key: "DUP" }], 422, "1.key"],
      [[{ key: "OK_6", scopes: [] }], 422, "0.scopes"],
      [[], 422, /must NOT have fewer|at least/],
      [{ key: "NOT_AN_ARRAY" }, 422, /array/],
    ];
    for (const [body, status, field] of cases) {
      const res = await t.api<ErrorBody>("POST", env(""), { token: alice.token, body });
      assert.equal(res.status, status, `${JSON.stringify(body)} → ${res.text}`);
      assertSpecResponse("createEnvVars", res.status, res.body);
      if (typeof field === "string") assert.equal(res.body.field, field, res.text);
      else assert.match(res.text, field);
    }
    const again = await t.api<ErrorBody>("POST", env(""), {
      token: alice.token,
      body: [{ key: "MODE", values: [] }],
    });
    assert.equal(again.status, 409);
    assert.match(again.body.message, /already exists/);
    const none = await t.api<EnvVarBody[]>("GET", env(""), { token: alice.token });
    assert.ok(!none.body.some((v) => v.key.startsWith("OK_")), "nothing half-created");
  });

  it("is tenant-tight: another account, another account's site, no token", async () => {
    const foreign = await t.api<ErrorBody>("GET", `/accounts/${bob.accountSlug}/env`, {
      token: alice.token,
    });
    assert.equal(foreign.status, 404);
    const foreignSite = await t.api<ErrorBody>("GET", env(`?site_id=${otherSiteId}`), {
      token: alice.token,
    });
    assert.equal(foreignSite.status, 404);
    const write = await t.api<ErrorBody>("POST", `/accounts/${bob.accountId}/env`, {
      token: alice.token,
      body: [{ key: "EVIL", values: [{ value: "x" }] }],
    });
    assert.equal(write.status, 404);
    const siteEnv = await t.api("GET", `/sites/${otherSiteId}/env`, { token: alice.token });
    assert.equal(siteEnv.status, 404);
    const anonymous = await t.api("GET", env(""), { token: null });
    assert.equal(anonymous.status, 401);
    const bobsOwn = await t.api<EnvVarBody[]>("GET", `/accounts/${bob.accountSlug}/env`, {
      token: bob.token,
    });
    assert.deepEqual(bobsOwn.body, []);
  });

  it("gives builds the variables of their context: branch > context > all, site over account, legacy repo.env under both", async () => {
    const account = `/accounts/${alice.accountSlug}/env`;
    const post = async (path: string, body: unknown) => {
      const res = await t.api("POST", path, { token: alice.token, body });
      assert.equal(res.status, 201, res.text);
    };
    await post(account, [
      {
        key: "TARGET",
        scopes: ["builds"],
        values: [
          { value: "everywhere", context: "all" },
          { value: "live", context: "production" },
          { value: "feature-x", context: "branch", context_parameter: "feature/x" },
        ],
      },
      { key: "RUNTIME_ONLY", scopes: ["runtime"], values: [{ value: "no", context: "all" }] },
      { key: "SHARED", values: [{ value: "from-account", context: "all" }] },
    ]);
    const ctx = t.platform.ctx;
    const site = await ctx.db
      .selectFrom("sites")
      .selectAll()
      .where("id", "=", siteId)
      .executeTakeFirstOrThrow();

    const production = await buildEnvVars(ctx, site, "production", "main");
    assert.equal(production.TARGET, "live");
    assert.equal(production.DEPLOY_TOKEN, "s3cret-prod-value", "builds see secrets");
    assert.equal(production.MODE, "site-wide", "the site's variable overrides the account's");
    assert.equal(production.SHARED, "from-account");
    assert.equal(production.RUNTIME_ONLY, undefined, "only the builds scope");
    const branch = await buildEnvVars(ctx, site, "branch-deploy", "feature/x");
    assert.equal(branch.TARGET, "feature-x");
    assert.equal(branch.DEPLOY_TOKEN, undefined, "no value for this context");
    const preview = await buildEnvVars(ctx, site, "deploy-preview", "pr-1");
    assert.equal(preview.TARGET, "everywhere");

    // The site's legacy repo.env is there too, under the env API's values.
    await ctx.db
      .updateTable("sites")
      .set({
        env_sealed: ctx.secrets.seal(
          JSON.stringify({ LEGACY: "yes", SHARED: "legacy" }),
          `site_env:${site.id}`,
        ),
      })
      .where("id", "=", site.id)
      .execute();
    const withLegacy = await buildEnvVars(
      ctx,
      await ctx.db
        .selectFrom("sites")
        .selectAll()
        .where("id", "=", siteId)
        .executeTakeFirstOrThrow(),
      "production",
      "main",
    );
    assert.equal(withLegacy.LEGACY, "yes");
    assert.equal(withLegacy.SHARED, "from-account");
  });
});
