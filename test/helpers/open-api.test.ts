import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertSpecResponse, findOperation } from "./open-api.ts";

describe("open-api response validation helper", () => {
  const site = {
    id: "3b98baa1-d670-4df2-9e79-924e8508a8e2",
    name: "hello",
    url: "http://hello.localhost",
    published_deploy: { id: "68751fe9ebaa8d0008a766b6", state: "ready", locked: false },
    build_settings: { repo_url: "ssh://git@h/o/r.git", allowed_branches: ["main"] },
  };

  it("finds operations by operationId and by method and concrete path", () => {
    assert.equal(findOperation("getSite").path, "/sites/{site_id}");
    assert.equal(
      findOperation({ method: "get", path: "/api/v1/sites/abc" }).operationId,
      "getSite",
    );
    assert.equal(
      findOperation({ method: "POST", path: "/sites/abc/deploys" }).operationId,
      "createSiteDeploy",
    );
    assert.equal(
      findOperation({ method: "POST", path: "/my-team/sites?x=1" }).operationId,
      "createSiteInTeam",
    );
    assert.throws(() => findOperation("noSuchOperation"), /no operation "noSuchOperation"/);
  });

  it("accepts a conforming body, extra properties, and null where the spec has a type", () => {
    assertSpecResponse("getSite", 200, site);
    assertSpecResponse("getSite", 200, { ...site, slipway_extra: { any: 1 } });
    assertSpecResponse("getSite", 200, { ...site, custom_domain: null, published_deploy: null });
    assertSpecResponse("listSites", 200, [site, site]);
    assertSpecResponse("deleteSite", 204, "");
    assertSpecResponse("getSite", 404, { code: 404, message: "Site not found" });
    // createSiteBuild documents 422 by name only: the error model applies.
    assertSpecResponse("createSiteBuild", 422, { code: 422, message: "not linked" });
    assert.throws(() => assertSpecResponse("createSiteBuild", 422, { code: 422 }), /required/);
  });

  it("fails on a wrong type, a nested wrong type, and a value outside an enum", () => {
    assert.throws(
      () => assertSpecResponse("getSite", 200, { ...site, name: 42 }),
      (error: Error) =>
        error.name === "AssertionError" && /\/name must be string/.test(error.message),
    );
    assert.throws(
      () =>
        assertSpecResponse("getSite", 200, {
          ...site,
          published_deploy: { ...site.published_deploy, locked: "yes" },
        }),
      /\/published_deploy.*locked|must be boolean/,
    );
    assert.throws(
      () =>
        assertSpecResponse("getEnvVars", 200, [
          { key: "A", scopes: ["builds", "everywhere"], values: [] },
        ]),
      /scopes\/1 must be equal to one of the allowed values/,
    );
    assert.throws(
      () => assertSpecResponse("getSite", 200, { ...site, created_at: "yesterday" }),
      /created_at must match format "dateTime"/,
    );
    assert.throws(() => assertSpecResponse("listSites", 200, site), /must be array/);
    assert.throws(() => assertSpecResponse("listSites", 200, [site, null]), /\/1 must be object/);
  });

  it("keeps x-nullable: false, documented statuses and empty bodies strict", () => {
    // The error model's message is `x-nullable: false` and required.
    assert.throws(
      () => assertSpecResponse("getSite", 404, { code: 404, message: null }),
      /message must be string/,
    );
    assert.throws(() => assertSpecResponse("getSite", 404, { code: 404 }), /required/);
    // createSite documents 201, not 200.
    assert.throws(() => assertSpecResponse("createSite", 200, site), /documents 201/);
    assert.throws(() => assertSpecResponse("deleteSite", 204, { id: "x" }), /without a body/);
  });
});
