import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../../lib/logger.ts";
import { createHttpApp, type PlatformApp } from "./app.ts";

// Netlify's and GitLab's clients send `Content-Type: application/json` on requests without a
// body; the platform reads that as no body on every method, and still refuses malformed JSON.

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

describe("the platform's JSON bodies", () => {
  let app: PlatformApp;

  before(async () => {
    app = createHttpApp(createLogger({ name: "platform-http-test", level: "silent" }));
    for (const method of METHODS) {
      app.route({
        method,
        url: "/echo",
        handler: async (request) => ({ body: request.body ?? null }),
      });
    }
    await app.ready();
  });
  after(() => app.close());

  const inject = (method: string, payload: string | undefined, contentType: string) =>
    app.inject({
      method: method as "GET",
      url: "/echo",
      headers: { "content-type": contentType },
      ...(payload === undefined ? {} : { payload }),
    });

  it("takes an empty body with a JSON content type as no body, on every method", async () => {
    for (const method of METHODS) {
      for (const payload of [undefined, "", " \n"]) {
        for (const type of ["application/json", "application/json; charset=utf-8"]) {
          const res = await inject(method, payload, type);
          const what = `${method} ${JSON.stringify(payload)} ${type}`;
          assert.equal(res.statusCode, 200, `${what}: ${res.body}`);
          assert.deepEqual(res.json(), { body: null }, what);
        }
      }
    }
  });

  it("parses a JSON body on every method that carries one", async () => {
    for (const method of METHODS.filter((m) => m !== "GET")) {
      const res = await inject(method, '{"name":"hello"}', "application/json");
      assert.deepEqual(res.json(), { body: { name: "hello" } }, method);
    }
  });

  it("answers a malformed non-empty body with a 400 that says so, on every method", async () => {
    for (const method of METHODS.filter((m) => m !== "GET")) {
      for (const payload of ['{"name": ', "not json", "{}}"]) {
        const res = await inject(method, payload, "application/json");
        assert.equal(res.statusCode, 400, `${method} ${payload}: ${res.body}`);
        const body = res.json<{ code: number; message: string }>();
        assert.equal(body.code, 400);
        assert.match(body.message, /^The body is not valid JSON: /, `${method} ${payload}`);
      }
    }
  });
});
