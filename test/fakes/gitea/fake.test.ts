import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { generateEd25519KeyPair } from "../../../src/lib/ssh-keys.ts";
import { callFake, startReceiver, type FakeAnswer } from "../../helpers/fakes.ts";
import { startGiteaFake, type GiteaFake } from "./fake.ts";

/** The fake answers as Gitea's API v1 does, refusals included: checked over plain HTTP. */

type Answer = FakeAnswer & { body: unknown };

const obj = (a: Answer) => a.body as Record<string, unknown>;
const message = (a: Answer) => String(obj(a).message);

describe("the Gitea fake", () => {
  let gitea: GiteaFake;
  let owner: string;
  let reader: string;
  let writer: string;
  const key = generateEd25519KeyPair("deploy@slipway").public;

  const call = async (
    method: string,
    path: string,
    options: { token?: string | null; auth?: string; body?: unknown } = {},
  ): Promise<Answer> => {
    const token = options.token === undefined ? owner : options.token;
    const authorization = options.auth ?? (token === null ? undefined : `token ${token}`);
    const answer = await callFake(method, `${gitea.baseUrl}/api/v1${path}`, {
      authorization,
      body: options.body,
    });
    return { ...answer, body: answer.json === undefined ? answer.text : answer.json };
  };

  before(async () => {
    gitea = await startGiteaFake({ sshHost: "git.example.org", sshPort: 2222 });
    for (const login of ["ada", "rex", "wes", "eve"]) gitea.addUser(login);
    owner = gitea.token("ada");
    reader = gitea.token("rex");
    writer = gitea.token("wes");
    gitea.addRepo("ada", { name: "site", collaborators: { rex: "read", wes: "write" } });
    gitea.addRepo("ada", { name: "public-docs", private: false });
  });
  after(() => gitea.close());

  it("authenticates tokens (token, Bearer, Basic) and checks their scopes", async () => {
    const me = await call("GET", "/user");
    assert.equal(me.status, 200, me.text);
    assert.equal(obj(me).login, "ada");
    assert.equal(typeof obj(me).id, "number");
    const bearer = await call("GET", "/user", { auth: `Bearer ${owner}` });
    assert.equal(bearer.status, 200);
    const asBasic = `Basic ${Buffer.from(`ada:${owner}`).toString("base64")}`;
    assert.equal((await call("GET", "/user", { auth: asBasic })).status, 200);

    const wrong = await call("GET", "/user", { token: "0".repeat(40) });
    assert.equal(wrong.status, 401);
    assert.equal(typeof obj(wrong).url, "string", "Gitea's {message, url} errors");
    assert.equal((await call("GET", "/user", { token: null })).status, 401);

    const readOnly = gitea.token("ada", ["read:repository"]);
    const noUser = await call("GET", "/user", { token: readOnly });
    assert.equal(noUser.status, 403);
    assert.equal(
      message(noUser),
      "token does not have at least one of required scope(s): [read:user]",
    );
    const post = await call("POST", "/repos/ada/site/keys", {
      token: readOnly,
      body: { title: "k", key, read_only: true },
    });
    assert.equal(post.status, 403);
    assert.match(message(post), /\[write:repository\]/);
    assert.equal((await call("GET", "/repos/ada/site/keys", { token: readOnly })).status, 200);
    const all = gitea.token("ada", ["all"]);
    assert.equal((await call("GET", "/user", { token: all })).status, 200);
  });

  it("serves repositories by owner/name and id, with the caller's permissions", async () => {
    const repo = await call("GET", "/repos/ada/site");
    assert.equal(repo.status, 200, repo.text);
    const body = obj(repo);
    assert.equal(body.full_name, "ada/site");
    assert.equal(body.private, true);
    assert.equal(body.default_branch, "main");
    assert.equal(body.ssh_url, "ssh://git@git.example.org:2222/ada/site.git");
    assert.equal(body.clone_url, `${gitea.baseUrl}/ada/site.git`);
    assert.equal(body.html_url, `${gitea.baseUrl}/ada/site`);
    assert.deepEqual(body.permissions, { admin: true, push: true, pull: true });
    const byId = await call("GET", `/repositories/${String(body.id)}`);
    assert.equal(obj(byId).full_name, "ada/site");
    const asReader = await call("GET", "/repos/ada/site", { token: reader });
    assert.deepEqual(obj(asReader).permissions, { admin: false, push: false, pull: true });

    const stranger = gitea.token("eve");
    for (const path of ["/repos/ada/site", `/repositories/${String(body.id)}`, "/repos/ada/nope"]) {
      const hidden = await call("GET", path, { token: stranger });
      assert.equal(hidden.status, 404, path);
      assert.equal(message(hidden), "The target couldn't be found.");
    }
    assert.equal((await call("GET", "/repos/ada/public-docs", { token: null })).status, 200);
    assert.equal((await call("GET", "/repos/ada/site", { token: null })).status, 404);
  });

  it("searches repositories visible to the caller, paged with X-Total-Count", async () => {
    const found = await call("GET", "/repos/search?q=site&limit=10");
    assert.equal(found.status, 200);
    const result = obj(found) as { ok: boolean; data: Array<{ full_name: string }> };
    assert.equal(result.ok, true);
    assert.deepEqual(
      result.data.map((r) => r.full_name),
      ["ada/site"],
    );
    assert.equal(found.headers.get("x-total-count"), "1");
    const paged = await call("GET", "/repos/search?limit=1&page=2");
    assert.equal((obj(paged) as { data: unknown[] }).data.length, 1);
    assert.equal(paged.headers.get("x-total-count"), "2");
    const stranger = await call("GET", "/repos/search", { token: gitea.token("eve") });
    assert.deepEqual(
      (obj(stranger) as { data: Array<{ full_name: string }> }).data.map((r) => r.full_name),
      ["ada/public-docs"],
    );
  });

  it("manages deploy keys: admins only, 422 on bad bodies, read-write unless asked", async () => {
    const path = "/repos/ada/site/keys";
    for (const [body, expected] of [
      [{ key }, "[Title]: Required"],
      [{ title: "k" }, "[Key]: Required"],
      [{ title: "k", key: "ssh-ed25519 AAAAbroken" }, "Invalid key content: no key found"],
      [{ title: "k", key, read_only: "yes" }, "[ReadOnly]: invalid boolean"],
      ["[]", "[]: invalid JSON body"],
    ] as const) {
      const res = await call("POST", path, { body });
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(message(res), expected);
    }
    for (const token of [reader, writer]) {
      const res = await call("POST", path, { token, body: { title: "k", key } });
      assert.equal(res.status, 403);
      assert.match(message(res), /admin/);
    }
    const readWrite = await call("POST", path, { body: { title: "rw", key } });
    assert.equal(readWrite.status, 201, readWrite.text);
    assert.equal(obj(readWrite).read_only, false, "Gitea's default is a key that can push");
    assert.equal(obj(readWrite).key, key.split(" ").slice(0, 2).join(" "));
    assert.match(String(obj(readWrite).fingerprint), /^SHA256:/);
    const duplicate = await call("POST", path, { body: { title: "other", key, read_only: true } });
    assert.equal(duplicate.status, 422);
    assert.equal(message(duplicate), "This key has already been added to this repository");
    const other = generateEd25519KeyPair().public;
    const sameTitle = await call("POST", path, { body: { title: "rw", key: other } });
    assert.equal(message(sameTitle), "Key title has been used");

    const id = String(obj(readWrite).id);
    assert.equal((await call("GET", `${path}/${id}`)).status, 200);
    assert.equal((await call("GET", path)).headers.get("x-total-count"), "1");
    assert.equal((await call("DELETE", `${path}/${id}`)).status, 204);
    assert.equal((await call("DELETE", `${path}/${id}`)).status, 404);
    const ro = await call("POST", path, { body: { title: "ro", key, read_only: true } });
    assert.equal(obj(ro).read_only, true);
  });

  it("manages hooks: type and config checked, secret never shown, pull_request expanded", async () => {
    const path = "/repos/ada/site/hooks";
    const good = {
      type: "gitea",
      config: {
        url: "https://slipway.example/webhooks/sites/1",
        content_type: "json",
        secret: "s3cret",
      },
      events: ["push", "pull_request"],
      active: true,
    };
    for (const [body, expected] of [
      [{ ...good, type: undefined }, "[Type]: Required"],
      [{ ...good, type: "jenkins" }, "Invalid hook type"],
      [{ ...good, config: undefined }, "[Config]: Required"],
      [{ ...good, config: { content_type: "json" } }, "Missing config option: url"],
      [{ ...good, config: { url: "https://x.example" } }, "Missing config option: content_type"],
      [
        { ...good, config: { url: "https://x.example", content_type: "xml" } },
        "Invalid content type",
      ],
      [{ ...good, config: { url: "javascript:alert(1)", content_type: "json" } }, "Invalid url"],
      [{ ...good, events: "push" }, "[Events]: invalid list"],
    ] as const) {
      const res = await call("POST", path, { body });
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(message(res), expected);
    }
    assert.equal((await call("POST", path, { token: writer, body: good })).status, 403);

    const created = await call("POST", path, { body: good });
    assert.equal(created.status, 201, created.text);
    const hook = obj(created) as {
      id: number;
      config: Record<string, string>;
      events: string[];
      active: boolean;
    };
    assert.deepEqual(hook.config, { content_type: "json", url: good.config.url });
    assert.ok(!created.text.includes("s3cret"));
    assert.ok(hook.events.includes("pull_request_sync"), "pull_request covers its sub-events");
    assert.equal(hook.active, true);
    const inactive = await call("POST", path, { body: { ...good, active: undefined } });
    assert.equal((obj(inactive) as { active: boolean }).active, false, "active defaults to false");

    const one = `${path}/${hook.id}`;
    const patched = await call("PATCH", one, { body: { active: false, events: ["push"] } });
    assert.equal(patched.status, 200);
    assert.deepEqual((obj(patched) as { events: string[] }).events, ["push"]);
    assert.equal(gitea.hooks("ada/site")[0]!.secret, "s3cret", "kept when config has none");
    const bad = await call("PATCH", one, { body: { config: { content_type: "yaml" } } });
    assert.equal(bad.status, 422);
    assert.equal((await call("DELETE", one)).status, 204);
    assert.equal((await call("DELETE", one)).status, 404);
    assert.equal((await call("PATCH", one, { body: good })).status, 404);
  });

  it("reads branches (with slashes) and records statuses for writers on known commits", async () => {
    const sha = gitea.setBranch("ada/site", "feature/new");
    const branch = await call("GET", "/repos/ada/site/branches/feature%2Fnew");
    assert.equal(branch.status, 200, branch.text);
    assert.equal((obj(branch).commit as { id: string }).id, sha);
    assert.equal((await call("GET", "/repos/ada/site/branches/nope")).status, 404);
    const listed = await call("GET", "/repos/ada/site/branches?limit=1&page=1");
    assert.equal(listed.status, 200, listed.text);
    assert.equal((listed.body as unknown[]).length, 1, "one page of limit 1");
    assert.ok(Number(listed.headers.get("x-total-count")) >= 2);

    const path = `/repos/ada/site/statuses/${sha}`;
    const good = {
      state: "success",
      target_url: "https://x.example/d/1",
      description: "ok",
      context: "slipway/site",
    };
    assert.equal(
      message(await call("POST", path, { body: { ...good, state: "SUCCESSFUL" } })),
      "[State]: invalid commit status state",
    );
    assert.equal((await call("POST", path, { body: { ...good, target_url: "nope" } })).status, 422);
    assert.equal((await call("POST", path, { token: reader, body: good })).status, 403);
    assert.equal(
      (await call("POST", `/repos/ada/site/statuses/${"e".repeat(40)}`, { body: good })).status,
      404,
    );
    const created = await call("POST", path, { token: writer, body: good });
    assert.equal(created.status, 201, created.text);
    assert.equal(obj(created).status, "success");
    assert.equal(gitea.statuses("ada/site", sha).length, 1);
  });

  it("delivers pushes with Gitea's headers, signed over the JSON payload", async () => {
    gitea.addRepo("ada", { name: "hooked" });
    const target = await startReceiver([], 204);
    try {
      const post = (config: Record<string, string>, extra: Record<string, unknown> = {}) =>
        call("POST", "/repos/ada/hooked/hooks", {
          body: {
            type: "gitea",
            config: { url: target.url, ...config },
            events: ["push"],
            active: true,
            ...extra,
          },
        });
      await post({ content_type: "json", secret: "topsecret" });
      await post({ content_type: "json" });
      await post({ content_type: "form", secret: "topsecret" });
      await post({ content_type: "json", secret: "x" }, { branch_filter: "release/*" });

      const deliveries = await gitea.push("ada/hooked", "main");
      assert.equal(deliveries.length, 3, "the release/* hook does not get main");
      assert.ok(deliveries.every((d) => d.status === 204));
      const [signed, unsigned, form] = target.received;
      const mac = createHmac("sha256", "topsecret").update(signed!.body).digest("hex");
      assert.equal(signed!.headers["x-gitea-signature"], mac);
      assert.equal(signed!.headers["x-hub-signature-256"], `sha256=${mac}`);
      assert.equal(signed!.headers["x-gitea-event"], "push");
      assert.equal(signed!.headers["x-github-event"], "push");
      assert.match(String(signed!.headers["x-gitea-delivery"]), /^[0-9a-f-]{36}$/);
      const payload = JSON.parse(signed!.body.toString()) as { ref: string; after: string };
      assert.equal(payload.ref, "refs/heads/main");
      // Without a secret Gitea still sends the headers, empty.
      assert.equal(unsigned!.headers["x-gitea-signature"], "");
      assert.equal(unsigned!.headers["x-hub-signature-256"], "sha256=");
      // A form delivery is signed over the JSON inside it, not over the form body.
      assert.equal(form!.headers["content-type"], "application/x-www-form-urlencoded");
      const inner = new URLSearchParams(form!.body.toString()).get("payload")!;
      assert.equal(
        form!.headers["x-gitea-signature"],
        createHmac("sha256", "topsecret").update(inner).digest("hex"),
      );

      const release = await gitea.push("ada/hooked", "release/1.0");
      assert.equal(release.length, 4);
      const pr = await gitea.pullRequest("ada/hooked", {
        number: 2,
        action: "opened",
        head: "feature",
        base: "main",
      });
      assert.equal(pr.length, 0, "no hook subscribed to pull_request");
    } finally {
      await target.close();
    }
  });
});
