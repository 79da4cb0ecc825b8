import assert from "node:assert/strict";
import { request, type IncomingMessage } from "node:http";
import { after, before, describe, it } from "node:test";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../../../test/helpers/forge.ts";
import { freshEd25519 } from "../../../test/helpers/ssh-test-keys.ts";
import { TOKEN_IN_URL } from "./auth.ts";

// What GitLab's clients notice at the HTTP level, whatever the resource: headers, bodies and
// parameter sources, as GitLab (Grape on Rack, Kaminari) answers them.

describe("the forge's HTTP conventions", () => {
  let t: TestForge;
  let owner: TestUser;
  let project: TestProject;

  before(async () => {
    t = await startTestForge();
    owner = await t.createUser("owner");
    project = await t.createProject(owner, "site");
  });
  after(() => t.stop());

  /** A raw request: the test decides every header and the exact body bytes. */
  const send = async (
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string; token?: string | null } = {},
  ) => {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? owner.token : init.token;
    if (token !== null) headers["private-token"] = token;
    const response = await fetch(`${t.url}/api/v4${path}`, {
      method,
      headers,
      ...(init.body === undefined ? {} : { body: init.body }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: parse(text) };
  };
  const parse = (text: string): unknown => (text === "" ? undefined : JSON.parse(text));
  const JSON_TYPE = { "content-type": "application/json" };
  const FORM_TYPE = { "content-type": "application/x-www-form-urlencoded" };

  const addKey = async (title = "k"): Promise<number> => {
    const created = await t.api<{ id: number }>("POST", `/projects/${project.id}/deploy_keys`, {
      token: owner.token,
      body: { title, key: freshEd25519() },
    });
    assert.equal(created.status, 201, created.text);
    return created.body.id;
  };

  describe("response headers", () => {
    it("answers JSON with exactly `Content-Type: application/json`, errors included", async () => {
      const answers = [
        await send("GET", "/user"), // 200
        await send("GET", "/projects"), // a list
        await send("POST", `/projects/${project.id}/hooks`, {
          headers: JSON_TYPE,
          body: JSON.stringify({ url: "http://127.0.0.1:9/x" }),
        }), // 201
        await send("GET", "/user", { token: null }), // 401 from the handler
        await send("GET", "/user", { token: "glpat-unknown" }), // 401 from authentication
        await send("GET", "/projects/999"), // 404 from the domain
        await send("GET", "/no/such/route"), // 404 from the router
        await send("POST", `/projects/${project.id}/deploy_keys`, {
          headers: JSON_TYPE,
          body: "{",
        }),
        await send("GET", "/projects?per_page=0"), // 400 from validation
      ];
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 201, 401, 401, 404, 404, 400, 400],
      );
      for (const answer of answers) {
        assert.equal(answer.headers.get("content-type"), "application/json", answer.text);
      }
    });

    it("keeps the pagination headers and sends an X-Request-Id per request", async () => {
      const first = await send("GET", "/projects");
      const second = await send("GET", "/projects");
      for (const name of ["x-total", "x-total-pages", "x-per-page", "x-page", "link"]) {
        assert.ok(first.headers.has(name), name);
      }
      const ids = [first, second].map((a) => a.headers.get("x-request-id"));
      assert.match(ids[0] ?? "", /^[0-9a-f-]{36}$/);
      assert.notEqual(ids[0], ids[1]);
      const refused = await send("GET", "/user", { token: null });
      assert.ok(refused.headers.has("x-request-id"));
    });

    it("builds Link URLs on the public URL, whatever Host the request came through", async () => {
      const answer = await new Promise<IncomingMessage>((resolve, reject) => {
        const url = new URL(`${t.url}/api/v4/projects?per_page=1`);
        request(
          url,
          { headers: { host: "proxy.internal:8443", "private-token": owner.token } },
          resolve,
        )
          .on("error", reject)
          .end();
      });
      answer.resume();
      assert.equal(answer.statusCode, 200);
      const publicUrl = t.forge.ctx.config.publicUrl;
      const links = String(answer.headers.link).split(", ");
      assert.ok(links.length >= 2, String(answer.headers.link));
      for (const link of links) {
        assert.ok(link.startsWith(`<${publicUrl}/api/v4/projects?`), link);
      }
    });

    it("leaves non-JSON answers alone", async () => {
      const refs = await fetch(`${t.url}/owner/site.git/info/refs?service=git-upload-pack`, {
        headers: { authorization: `Basic ${Buffer.from(`x:${owner.token}`).toString("base64")}` },
      });
      await refs.arrayBuffer();
      assert.equal(refs.status, 200);
      assert.equal(refs.headers.get("content-type"), "application/x-git-upload-pack-advertisement");
    });
  });

  describe("empty bodies with a JSON content type (python-gitlab, gitbeaker)", () => {
    it("are requests without parameters on DELETE, POST, PUT and GET", async () => {
      const keyId = await addKey();
      const other = await t.createProject(owner, "other");

      const enabled = await send("POST", `/projects/${other.id}/deploy_keys/${keyId}/enable`, {
        headers: JSON_TYPE,
        body: "",
      });
      assert.equal(enabled.status, 201, enabled.text);

      const put = await send("PUT", `/projects/${project.id}/deploy_keys/${keyId}`, {
        headers: JSON_TYPE,
        body: "",
      });
      assert.deepEqual(
        [put.status, put.json],
        [400, { error: "title, can_push are missing, at least one parameter must be provided" }],
      );

      const post = await send("POST", `/projects/${project.id}/deploy_keys`, {
        headers: JSON_TYPE,
        body: "  \n",
      });
      assert.deepEqual(
        [post.status, post.json],
        [400, { error: "key is missing, title is missing" }],
      );

      const get = await send("GET", `/projects/${project.id}/deploy_keys`, { headers: JSON_TYPE });
      assert.equal(get.status, 200, get.text);

      const removed = await send("DELETE", `/projects/${project.id}/deploy_keys/${keyId}`, {
        headers: JSON_TYPE,
        body: "",
      });
      assert.deepEqual([removed.status, removed.text], [204, ""]);
      const alsoRemoved = await send("DELETE", `/projects/${other.id}/deploy_keys/${keyId}`, {
        headers: { "content-type": "application/json; charset=utf-8" },
      });
      assert.equal(alsoRemoved.status, 204, alsoRemoved.text);
    });

    it("but a malformed non-empty body is a clear 400", async () => {
      for (const [method, path] of [
        ["POST", `/projects/${project.id}/deploy_keys`],
        ["PUT", `/projects/${project.id}/hooks/1`],
        ["DELETE", `/projects/${project.id}/deploy_keys/1`],
      ] as const) {
        const answer = await send(method, path, { headers: JSON_TYPE, body: '{"title": ' });
        assert.deepEqual(
          [answer.status, answer.json],
          [400, { message: "400 Bad Request - the body is not valid JSON" }],
          `${method} ${path}`,
        );
      }
    });
  });

  describe("parameters", () => {
    it("reads them from the query string too, the body winning a name both give", async () => {
      const hook = await send(
        "POST",
        `/projects/${project.id}/hooks?url=${encodeURIComponent("http://127.0.0.1:9/q")}&push_events=false&tag_push_events=true`,
        { headers: JSON_TYPE, body: JSON.stringify({ push_events: true }) },
      );
      assert.equal(hook.status, 201, hook.text);
      const created = hook.json as Record<string, unknown>;
      assert.deepEqual(
        [created.url, created.push_events, created.tag_push_events],
        ["http://127.0.0.1:9/q", true, true],
      );

      const keyId = await addKey("by query");
      const put = await send("PUT", `/projects/${project.id}/deploy_keys/${keyId}?can_push=true`);
      assert.equal(put.status, 200, put.text);
      assert.equal((put.json as { can_push: boolean }).can_push, true);
    });

    it("refuses a token in the URL (private_token), naming the header to use instead", async () => {
      for (const token of [owner.token, "glpat-unknown"]) {
        const answer = await send("GET", `/projects?private_token=${token}`, { token: null });
        assert.deepEqual([answer.status, answer.json], [401, { message: TOKEN_IN_URL }]);
      }
    });

    it("takes Grape's Boolean words in forms, query strings and JSON", async () => {
      const keyId = await addKey("booleans");
      const path = `/projects/${project.id}/deploy_keys/${keyId}`;
      for (const [body, headers, expected] of [
        ["can_push=yes", FORM_TYPE, true],
        ["can_push=0", FORM_TYPE, false],
        ["can_push=on", FORM_TYPE, true],
        ['{"can_push": "f"}', JSON_TYPE, false],
        ['{"can_push": "true"}', JSON_TYPE, true], // GitLab's own docs send the string
        ['{"can_push": 0}', JSON_TYPE, false],
      ] as const) {
        const answer = await send("PUT", path, { headers, body });
        assert.equal(answer.status, 200, `${body}: ${answer.text}`);
        assert.equal((answer.json as { can_push: boolean }).can_push, expected, body);
      }
      const wrong = await send("PUT", path, { headers: FORM_TYPE, body: "can_push=maybe" });
      assert.deepEqual([wrong.status, wrong.json], [400, { error: "can_push is invalid" }]);

      const admin = await send("GET", "/deploy_keys?public=1", { token: t.rootToken });
      assert.equal(admin.status, 200, admin.text);
    });

    it("accepts a trailing slash, as GitLab's own deploy key example sends one", async () => {
      const created = await send("POST", `/projects/${project.id}/deploy_keys/`, {
        headers: JSON_TYPE,
        body: JSON.stringify({ title: "slash", key: freshEd25519(), can_push: "true" }),
      });
      assert.equal(created.status, 201, created.text);
      const listed = await send("GET", `/projects/${project.id}/deploy_keys/`);
      assert.equal(listed.status, 200, listed.text);
    });
  });

  describe("pagination, as Kaminari reads it", () => {
    it("reads a page below 1 as the first, a negative per_page as 20, at most 100 per page", async () => {
      const cases: [string, string, string][] = [
        ["page=0", "1", "20"],
        ["page=-3", "1", "20"],
        ["per_page=-1", "1", "20"],
        ["per_page=500", "1", "100"],
        ["page=2&per_page=1", "2", "1"],
      ];
      for (const [query, page, perPage] of cases) {
        const answer = await send("GET", `/projects?${query}`);
        assert.equal(answer.status, 200, `${query}: ${answer.text}`);
        assert.equal(answer.headers.get("x-page"), page, query);
        assert.equal(answer.headers.get("x-per-page"), perPage, query);
      }
    });

    it("refuses per_page=0 and a page that is not a number, with Grape's words", async () => {
      const zero = await send("GET", `/projects/${project.id}/deploy_keys?per_page=0`);
      assert.deepEqual(
        [zero.status, zero.json],
        [400, { error: "per_page has a value not allowed" }],
      );
      const word = await send("GET", "/projects?page=two");
      assert.deepEqual([word.status, word.json], [400, { error: "page is invalid" }]);
    });
  });
});
