import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { openAuditRequests } from "../audit/request.ts";
import { startTestPlatform, type TestPlatform } from "../../../test/helpers/platform.ts";

/**
 * On Node 20 an enabled AsyncLocalStorage turns on async hooks for the whole process: every
 * promise, tick and socket write pays an init hook from then on, the edge's requests too. The
 * audit context (`audit/request.ts`) is on only while a state-changing API request is open.
 */
describe("the audit context and the process's async hooks", () => {
  it("turns async hooks off again once the last open request ends (a fresh process)", async () => {
    // node:test keeps a hook of its own on in this process: look from a child without it. With
    // the hooks on, Node 20 stamps every new promise with its async ids (symbol properties).
    const request = fileURLToPath(new URL("../audit/request.ts", import.meta.url));
    const script = `
      const { runWithAuditRequest, endAuditRequest, currentAuditRequest } = await import(${JSON.stringify(request)});
      const stamps = () => Object.getOwnPropertySymbols(new Promise(() => {})).length;
      const tick = () => new Promise((resolve) => setImmediate(resolve));
      const seen = { before: stamps() };
      const a = { sourceAddress: "a", requestId: "1", route: null, recorded: 0 };
      const b = { sourceAddress: "b", requestId: "2", route: null, recorded: 0 };
      const inA = runWithAuditRequest(a, async () => { await tick(); return currentAuditRequest()?.sourceAddress; });
      const inB = runWithAuditRequest(b, async () => { await tick(); await tick(); return currentAuditRequest()?.sourceAddress; });
      seen.a = await inA;
      endAuditRequest(a);
      seen.b = await inB; // still open: its context is intact
      await tick();
      seen.whileBOpen = stamps() > 0 === process.versions.node.startsWith("20.");
      endAuditRequest(b);
      await tick();
      seen.after = stamps();
      console.log(JSON.stringify(seen));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      { cwd: fileURLToPath(new URL("../../..", import.meta.url)) },
    );
    assert.deepEqual(JSON.parse(stdout), {
      before: 0,
      a: "a",
      b: "b",
      whileBOpen: true,
      after: 0,
    });
  });

  describe("on the platform", () => {
    let t: TestPlatform;
    before(async () => {
      t = await startTestPlatform({ platform: { buildWorkers: false } });
    });
    after(() => t.stop());

    it("records a change's actor and source, and holds no context once answered", async () => {
      const alice = await t.createTenant("alice");
      const created = await t.api<{ id: string }>("POST", "/sites", {
        token: alice.token,
        body: { name: "hooks-off" },
      });
      assert.equal(created.status, 201, created.text);
      const refused = await t.api("PATCH", `/sites/${created.body.id}`, {
        token: alice.token,
        body: { name: "Not A Name!" },
      });
      assert.equal(refused.status, 422);
      const log = await t.api<{ payload: Record<string, unknown> }[]>(
        "GET",
        `/accounts/${alice.accountSlug}/audit`,
        { token: alice.token },
      );
      assert.equal(log.status, 200);
      const summary = log.body
        .filter((e) => e.payload.action === "site.create" || e.payload.action === "api.patch")
        .map((e) => [
          e.payload.action,
          e.payload.result,
          e.payload.actor_email,
          e.payload.source_address,
          e.payload.route,
        ]);
      assert.deepEqual(summary, [
        ["api.patch", "failure", alice.email, "127.0.0.1", "PATCH /api/v1/sites/:site_id"],
        ["site.create", "success", alice.email, "127.0.0.1", "POST /api/v1/sites"],
      ]);
      assert.equal(openAuditRequests(), 0);
    });
  });
});
