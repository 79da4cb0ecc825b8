import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { request } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { crc32 } from "node:zlib";
import yazl from "yazl";
import { sha1 } from "../../../../test/helpers/digests.ts";
import { edgeGet } from "../../../../test/helpers/e2e.ts";
import { assertSpecResponse } from "../../../../test/helpers/open-api.ts";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../../test/helpers/platform.ts";
import { sweepAbandonedDeploys } from "../../deploys/digest-sweep.ts";

/**
 * Direct deploys against a real platform over plain HTTP: Netlify's digest protocol (create,
 * declare, upload what is required, ready), zip bodies, drafts, restore / rollback / lock /
 * cancel / delete, deployed branches, tenancy, and finishing after a crash.
 */

interface DeployBody {
  id: string;
  site_id: string;
  state: string;
  required: string[];
  required_functions: string[];
  draft: boolean;
  locked: boolean;
  context: string;
  branch: string | null;
  error_message: string | null;
  published_at: string | null;
  deploy_source: string | null;
  deploy_url: string;
  warnings: string[];
}

interface ErrorBody {
  code: number;
  message: string;
}

type Files = Record<string, string | Buffer>;

const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

function digests(files: Files): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([path, data]) => [path, sha1(data)]));
}

const SITE_FILES: Files = {
  "index.html": "<h1>home v1</h1>",
  "about.html": "<h1>about</h1>",
  "sub/a b.txt": "a file with a space in its name",
  "assets/app.js": "console.log('v1');",
  [`deep/${"n".repeat(240)}/${"m".repeat(240)}.html`]: "a long path",
  "netlify.toml": '[[redirects]]\nfrom = "/old"\nto = "/about"\nstatus = 301\n',
};

/** A zip written by hand (stored entries), for archives no zip library would produce. */
function rawZip(entries: { name: string; data: Buffer; unixMode?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, entry.data);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(entry.data.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((entry.unixMode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + entry.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A zip written by yazl (deflated), as real tools make them. */
async function yazlZip(files: Files, mode?: Record<string, number>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [path, data] of Object.entries(files)) {
    zip.addBuffer(Buffer.from(data), path, mode?.[path] !== undefined ? { mode: mode[path] } : {});
  }
  zip.end();
  const parts: Buffer[] = [];
  for await (const chunk of zip.outputStream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe("direct deploys API", () => {
  let t: TestPlatform;
  let alice: Tenant;
  let bob: Tenant;

  before(async () => {
    t = await startTestPlatform({ platform: { edgeTtlMs: 0, buildWorkers: false } });
    alice = await t.createTenant("alice");
    bob = await t.createTenant("bob");
  });
  after(() => t.stop());

  const createSite = async (tenant: Tenant, name: string): Promise<string> => {
    const res = await t.api<{ id: string }>("POST", "/sites", {
      token: tenant.token,
      body: { name },
    });
    assert.equal(res.status, 201, res.text);
    return res.body.id;
  };

  const upload = (
    tenant: Tenant,
    deployId: string,
    path: string,
    data: string | Buffer,
  ): Promise<Response> =>
    fetch(`${t.url}/api/v1/deploys/${deployId}/files/${encodeURI(path)}`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${tenant.token}`,
        "content-type": "application/octet-stream",
      },
      body: typeof data === "string" ? Buffer.from(data) : data,
    });

  const getDeploy = async (tenant: Tenant, siteId: string, deployId: string) =>
    t.api<DeployBody>("GET", `/sites/${siteId}/deploys/${deployId}`, { token: tenant.token });

  /** The whole digest protocol as netlify-cli drives it; returns what was required. */
  const digestDeploy = async (
    tenant: Tenant,
    siteId: string,
    files: Files,
    create: Record<string, unknown> = { draft: false },
    update: Record<string, unknown> = {},
  ): Promise<{ deploy: DeployBody; required: string[] }> => {
    const created = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: tenant.token,
      body: { ...create, include_upload_url: false, deploy_source: "cli" },
    });
    assert.equal(created.status, 200, created.text);
    assertSpecResponse("createSiteDeploy", 200, created.body);
    const declared = await t.api<DeployBody>("PUT", `/sites/${siteId}/deploys/${created.body.id}`, {
      token: tenant.token,
      body: {
        files: digests(files),
        async: false,
        draft: false,
        framework: "unknown",
        build_version: "1.0.0",
        ...update,
      },
    });
    assert.equal(declared.status, 200, declared.text);
    assertSpecResponse("updateSiteDeploy", 200, declared.body);
    const required = declared.body.required;
    for (const [path, data] of Object.entries(files)) {
      if (!required.includes(sha1(data))) continue;
      const res = await upload(tenant, created.body.id, path, data);
      assert.equal(res.status, 200, await res.text());
    }
    const final = await getDeploy(tenant, siteId, created.body.id);
    assert.equal(final.status, 200);
    assertSpecResponse("getSiteDeploy", 200, final.body);
    return { deploy: final.body, required };
  };

  const serve = (host: string, path = "/") => edgeGet(t.url, `${host}.localhost`, path);

  /** A PUT with an exact request target (fetch would resolve `..` and `%2e%2e` first). */
  const rawPut = (target: string, token: string, body: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const base = new URL(t.url);
      const req = request(
        {
          host: base.hostname,
          port: base.port,
          path: target,
          method: "PUT",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/octet-stream",
            "content-length": Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  it("takes a draft through the digest protocol and serves it only at its permalink", async () => {
    const siteId = await createSite(alice, "draft-site");
    const created = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: { draft: true, include_upload_url: false, deploy_source: "cli" },
    });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.body.state, "new");
    assert.equal(created.body.draft, true);
    assert.equal(created.body.deploy_source, "cli");
    const id = created.body.id;

    // netlify-cli sends draft:false with the files: the create call decided.
    const declared = await t.api<DeployBody>("PUT", `/sites/${siteId}/deploys/${id}`, {
      token: alice.token,
      body: { files: digests(SITE_FILES), async: false, draft: false },
    });
    assert.equal(declared.status, 200, declared.text);
    assert.equal(declared.body.state, "uploading");
    assert.deepEqual(
      [...declared.body.required].sort(),
      Object.values(SITE_FILES).map(sha1).sort(),
    );
    assert.equal(declared.body.draft, true);

    for (const [path, data] of Object.entries(SITE_FILES)) {
      const res = await upload(alice, id, path, data);
      assert.equal(res.status, 200);
      const file = (await res.json()) as { path: string; sha: string; size: number };
      assertSpecResponse("uploadDeployFile", 200, file);
      assert.equal(file.path, `/${path}`);
      assert.equal(file.sha, sha1(data));
      assert.equal(file.size, Buffer.byteLength(data));
    }
    const ready = await getDeploy(alice, siteId, id);
    assert.equal(ready.body.state, "ready");
    assert.deepEqual(ready.body.required, []);
    assert.equal(ready.body.published_at, null);
    // A retried upload that had already landed is harmless; other bytes are still refused.
    const again = await upload(alice, id, "index.html", SITE_FILES["index.html"]!);
    assert.equal(again.status, 200);
    assert.equal((await upload(alice, id, "index.html", "<h1>other</h1>")).status, 422);
    assert.equal((await getDeploy(alice, siteId, id)).body.state, "ready");

    const permalink = await serve(`${id}--draft-site`);
    assert.equal(permalink.status, 200);
    assert.equal(permalink.body, "<h1>home v1</h1>");
    assert.equal(
      (await serve(`${id}--draft-site`, "/sub/a%20b.txt")).body,
      SITE_FILES["sub/a b.txt"],
    );
    // The uploaded netlify.toml is configuration: applied, never served.
    assert.equal((await serve(`${id}--draft-site`, "/netlify.toml")).status, 404);
    const redirect = await serve(`${id}--draft-site`, "/old");
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, "/about");
    assert.equal((await serve("draft-site")).status, 404, "a draft is never published");

    const site = await t.api<{ published_deploy: unknown }>("GET", `/sites/${siteId}`, {
      token: alice.token,
    });
    assert.equal(site.body.published_deploy, null);
  });

  it("publishes --prod deploys, then asks for nothing unchanged and exactly one changed file", async () => {
    const siteId = await createSite(alice, "prod-site");
    const first = await digestDeploy(alice, siteId, SITE_FILES);
    assert.equal(first.deploy.state, "ready");
    assert.equal(first.deploy.context, "production");
    assert.notEqual(first.deploy.published_at, null);
    assert.equal((await serve("prod-site")).body, "<h1>home v1</h1>");

    const again = await digestDeploy(alice, siteId, SITE_FILES);
    assert.deepEqual(again.required, [], "a second deploy of the same tree uploads nothing");
    assert.equal(again.deploy.state, "ready");
    const site = await t.api<{ published_deploy: { id: string } }>("GET", `/sites/${siteId}`, {
      token: alice.token,
    });
    assert.equal(site.body.published_deploy.id, again.deploy.id);

    const changed = { ...SITE_FILES, "index.html": "<h1>home v2</h1>" };
    const third = await digestDeploy(alice, siteId, changed);
    assert.deepEqual(third.required, [sha1("<h1>home v2</h1>")]);
    assert.equal((await serve("prod-site")).body, "<h1>home v2</h1>");
  });

  it("asks each account for content it never provided itself", async () => {
    const files: Files = {
      "index.html": `<p>only alice had this ${randomBytes(8).toString("hex")}</p>`,
    };
    const aliceSite = await createSite(alice, "alice-owns");
    const first = await digestDeploy(alice, aliceSite, files);
    assert.equal(first.required.length, 1);
    const bobSite = await createSite(bob, "bob-wants");
    const bobs = await digestDeploy(bob, bobSite, files);
    assert.deepEqual(bobs.required, [sha1(files["index.html"]!)], "bob must upload it himself");
    assert.equal(bobs.deploy.state, "ready");
    // Once bob has uploaded it, it is his too.
    const bobAgain = await digestDeploy(bob, bobSite, files);
    assert.deepEqual(bobAgain.required, []);
  });

  it("refuses an upload whose content does not match the declared digest, storing nothing", async () => {
    const siteId = await createSite(alice, "mismatch");
    const files: Files = { "index.html": "<h1>declared</h1>" };
    const created = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: { files: digests(files) },
    });
    assert.equal(created.body.state, "uploading");
    const forged = `<h1>forged ${randomBytes(8).toString("hex")}</h1>`;
    const res = await upload(alice, created.body.id, "index.html", forged);
    assert.equal(res.status, 422);
    const body = (await res.json()) as ErrorBody;
    assert.match(body.message, /hashes to [0-9a-f]{40}, not to the declared SHA-1/);
    const blob = sha1(forged);
    assert.equal(
      existsSync(join(t.dataDir, "deploys", "blobs", blob.slice(0, 2), blob.slice(2))),
      false,
    );
    const undeclared = await upload(alice, created.body.id, "other.html", "x");
    assert.equal(undeclared.status, 422);
    assert.match(((await undeclared.json()) as ErrorBody).message, /not one of the files declared/);
    const still = await getDeploy(alice, siteId, created.body.id);
    assert.equal(still.body.state, "uploading");
    assert.deepEqual(still.body.required, [sha1(files["index.html"]!)]);

    // Claiming an existing blob still needs its bytes: a wrong body for a known SHA-1 is refused.
    const known = await digestDeploy(alice, siteId, { "a.txt": "known content" });
    assert.equal(known.deploy.state, "ready");
    const claim = await t.api<DeployBody>(
      "POST",
      `/sites/${await createSite(bob, "claimer")}/deploys`,
      {
        token: bob.token,
        body: { files: { "a.txt": sha1("known content") } },
      },
    );
    assert.deepEqual(claim.body.required, [sha1("known content")]);
    const wrong = await upload(bob, claim.body.id, "a.txt", "not the known content");
    assert.equal(wrong.status, 422);
  });

  it("refuses bad paths in a files map with a 422 naming the path, storing nothing", async () => {
    const siteId = await createSite(alice, "bad-paths");
    const created = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: {},
    });
    const sha = sha1("x");
    for (const path of ["../etc/passwd", "a/../../b", "//etc/passwd", "C:\\evil.txt", "a\u0000b"]) {
      const res = await t.api<ErrorBody>("PUT", `/sites/${siteId}/deploys/${created.body.id}`, {
        token: alice.token,
        body: { files: { "index.html": sha, [path]: sha } },
      });
      assert.equal(res.status, 422, path);
      assert.ok(res.body.message.includes(JSON.stringify(path)), res.body.message);
    }
    const bad = await t.api<ErrorBody>("PUT", `/sites/${siteId}/deploys/${created.body.id}`, {
      token: alice.token,
      body: { files: { "index.html": "not-a-sha" } },
    });
    assert.equal(bad.status, 422);
    assert.match(bad.body.message, /SHA-1/);
    const after = await getDeploy(alice, siteId, created.body.id);
    assert.equal(after.body.state, "new");
    assert.deepEqual(after.body.required, []);
    const rows = await t.platform.ctx.db
      .selectFrom("deploy_files")
      .select("path")
      .where("deploy_id", "=", created.body.id)
      .execute();
    assert.equal(rows.length, 0);
    // An upload path with an encoded slash or `..` is refused too.
    const ok = await t.api<DeployBody>("PUT", `/sites/${siteId}/deploys/${created.body.id}`, {
      token: alice.token,
      body: { files: { "/index.html": sha } },
    });
    assert.deepEqual(ok.body.required, [sha]);
    for (const target of ["a%2Fb", "a/%2e%2e/index.html", "a/../index.html", "%00.html", "a//b"]) {
      const res = await rawPut(
        `/api/v1/deploys/${created.body.id}/files/${target}`,
        alice.token,
        "x",
      );
      assert.equal(res.status, 422, target);
      assert.match(res.body, /"path"/, target);
    }
    assert.equal((await getDeploy(alice, siteId, created.body.id)).body.state, "uploading");
  });

  it("refuses a files map of 100,000 entries with a clear 422", async () => {
    const siteId = await createSite(alice, "too-many");
    const created = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: {},
    });
    const files: Record<string, string> = {};
    const sha = sha1("same");
    for (let i = 0; i < 100_000; i++) files[`page-${i}.html`] = sha;
    const res = await t.api<ErrorBody>("PUT", `/sites/${siteId}/deploys/${created.body.id}`, {
      token: alice.token,
      body: { files },
    });
    assert.equal(res.status, 422);
    assert.match(res.body.message, /100000 entries; a deploy holds at most 50000 files/);
    const after = await getDeploy(alice, siteId, created.body.id);
    assert.equal(after.body.state, "new");
  });

  it("keeps tenants apart: another account's deploy is a 404 and nothing is stored", async () => {
    const siteId = await createSite(alice, "private-deploys");
    const files: Files = { "index.html": "<h1>alice</h1>" };
    const created = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: { files: digests(files) },
    });
    const intruder = `<h1>bob was here ${randomBytes(4).toString("hex")}</h1>`;
    const res = await upload(bob, created.body.id, "index.html", intruder);
    assert.equal(res.status, 404);
    const blob = sha1(intruder);
    assert.equal(
      existsSync(join(t.dataDir, "deploys", "blobs", blob.slice(0, 2), blob.slice(2))),
      false,
    );
    for (const [method, path] of [
      ["GET", `/deploys/${created.body.id}`],
      ["PUT", `/sites/${siteId}/deploys/${created.body.id}`],
      ["POST", `/deploys/${created.body.id}/cancel`],
      ["POST", `/deploys/${created.body.id}/lock`],
      ["DELETE", `/deploys/${created.body.id}`],
      ["POST", `/sites/${siteId}/deploys/${created.body.id}/restore`],
    ] as const) {
      const other = await t.api(method, path, {
        token: bob.token,
        ...(method === "PUT" ? { body: { files: {} } } : {}),
      });
      assert.equal(other.status, 404, `${method} ${path}`);
    }
    const still = await getDeploy(alice, siteId, created.body.id);
    assert.equal(still.body.state, "uploading");
  });

  it("deploys zips (raw and multipart) and refuses dangerous or broken ones", async () => {
    const siteId = await createSite(alice, "zip-site");
    const zip = await yazlZip({ "index.html": "<h1>from a zip</h1>", "css/site.css": "body{}" });
    const raw = await fetch(`${t.url}/api/v1/sites/${siteId}/deploys?title=zipped`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/zip" },
      body: zip,
    });
    assert.equal(raw.status, 200);
    const deployed = (await raw.json()) as DeployBody;
    assertSpecResponse("createSiteDeploy", 200, deployed);
    assert.equal(deployed.state, "ready");
    assert.equal(deployed.deploy_source, "zip");
    assert.equal((await serve("zip-site")).body, "<h1>from a zip</h1>");
    assert.equal((await serve("zip-site", "/css/site.css")).body, "body{}");

    const form = new FormData();
    form.append("draft", "true");
    form.append(
      "zip",
      new Blob([await yazlZip({ "index.html": "<h1>multipart draft</h1>" })]),
      "site.zip",
    );
    const multi = await fetch(`${t.url}/api/v1/sites/${siteId}/deploys`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.token}` },
      body: form,
    });
    assert.equal(multi.status, 200, await multi.clone().text());
    const draft = (await multi.json()) as DeployBody;
    assert.equal(draft.draft, true);
    assert.equal((await serve(`${draft.id}--zip-site`)).body, "<h1>multipart draft</h1>");
    assert.equal((await serve("zip-site")).body, "<h1>from a zip</h1>");

    const before = await t.api<DeployBody[]>("GET", `/sites/${siteId}/deploys`, {
      token: alice.token,
    });
    const bad: [string, Buffer, RegExp][] = [
      ["truncated", zip.subarray(0, zip.length - 30), /truncated or corrupt/],
      [
        "zip slip",
        rawZip([
          { name: "index.html", data: Buffer.from("ok") },
          { name: "../../evil.sh", data: Buffer.from("boom") },
        ]),
        /"\.\.\/\.\.\/evil\.sh" is refused/,
      ],
      [
        "absolute",
        rawZip([{ name: "/etc/cron.d/evil", data: Buffer.from("boom") }]),
        /absolute path/,
      ],
      ["backslash", rawZip([{ name: "..\\evil.sh", data: Buffer.from("boom") }]), /is refused/],
      [
        "symlink",
        rawZip([{ name: "passwd", data: Buffer.from("/etc/passwd"), unixMode: 0o120777 }]),
        /symbolic link/,
      ],
      [
        "duplicate",
        rawZip([
          { name: "index.html", data: Buffer.from("one") },
          { name: "index.html", data: Buffer.from("two") },
        ]),
        /two entries for "index.html"/,
      ],
      [
        "bomb",
        await yazlZip({ "index.html": "ok", "zeros.bin": Buffer.alloc(8 * 1024 * 1024) }),
        /zip bomb/,
      ],
    ];
    for (const [what, body, message] of bad) {
      const res = await fetch(`${t.url}/api/v1/sites/${siteId}/deploys`, {
        method: "POST",
        headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/zip" },
        body,
      });
      assert.equal(res.status, 422, what);
      const error = (await res.json()) as ErrorBody;
      assert.match(error.message, message, what);
    }
    const afterBad = await t.api<DeployBody[]>("GET", `/sites/${siteId}/deploys`, {
      token: alice.token,
    });
    assert.equal(afterBad.body.length, before.body.length, "no deploy was half-made");
    assert.equal((await serve("zip-site")).body, "<h1>from a zip</h1>");
  });

  it("restores, rolls back, locks, unlocks, cancels and deletes deploys", async () => {
    const siteId = await createSite(alice, "history");
    const v = (n: number): Files => ({ "index.html": `<h1>version ${n}</h1>` });
    const a = (await digestDeploy(alice, siteId, v(1))).deploy;
    const b = (await digestDeploy(alice, siteId, v(2))).deploy;
    assert.equal((await serve("history")).body, "<h1>version 2</h1>");

    const rollback = await t.api("PUT", `/sites/${siteId}/rollback`, { token: alice.token });
    assert.equal(rollback.status, 204);
    assert.equal((await serve("history")).body, "<h1>version 1</h1>");

    const restored = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys/${b.id}/restore`, {
      token: alice.token,
    });
    assert.equal(restored.status, 201);
    assertSpecResponse("restoreSiteDeploy", 201, restored.body);
    assert.equal((await serve("history")).body, "<h1>version 2</h1>");

    const locked = await t.api<DeployBody>("POST", `/deploys/${b.id}/lock`, { token: alice.token });
    assert.equal(locked.status, 200);
    assertSpecResponse("lockDeploy", 200, locked.body);
    assert.equal(locked.body.locked, true);
    const c = (await digestDeploy(alice, siteId, v(3))).deploy;
    assert.equal(c.state, "ready", "a deploy made while locked is kept");
    assert.equal(c.published_at, null);
    assert.equal((await serve("history")).body, "<h1>version 2</h1>");
    assert.equal((await serve(`${c.id}--history`)).body, "<h1>version 3</h1>");

    const unlocked = await t.api<DeployBody>("POST", `/deploys/${b.id}/unlock`, {
      token: alice.token,
    });
    assert.equal(unlocked.body.locked, false);
    assert.equal((await serve("history")).body, "<h1>version 2</h1>", "unlock publishes nothing");
    const d = (await digestDeploy(alice, siteId, v(4))).deploy;
    assert.notEqual(d.published_at, null, "the next deploy publishes");
    assert.equal((await serve("history")).body, "<h1>version 4</h1>");

    // Cancel: a deploy waiting for files ends in error and takes no more uploads.
    const e = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: { files: digests(v(5)) },
    });
    const cancelled = await t.api<DeployBody>("POST", `/deploys/${e.body.id}/cancel`, {
      token: alice.token,
    });
    assert.equal(cancelled.status, 201);
    assertSpecResponse("cancelSiteDeploy", 201, cancelled.body);
    assert.equal(cancelled.body.state, "error");
    assert.equal(cancelled.body.error_message, "Cancelled");
    const late = await upload(alice, e.body.id, "index.html", "<h1>version 5</h1>");
    assert.equal(late.status, 422);
    const notReady = await t.api<ErrorBody>(
      "POST",
      `/sites/${siteId}/deploys/${e.body.id}/restore`,
      {
        token: alice.token,
      },
    );
    assert.equal(notReady.status, 422);
    const readyCancel = await t.api<ErrorBody>("POST", `/deploys/${d.id}/cancel`, {
      token: alice.token,
    });
    assert.equal(readyCancel.status, 422);

    // Delete: never the published deploy.
    const published = await t.api<ErrorBody>("DELETE", `/sites/${siteId}/deploys/${d.id}`, {
      token: alice.token,
    });
    assert.equal(published.status, 422);
    assert.match(published.body.message, /published deploy/);
    const gone = await t.api("DELETE", `/sites/${siteId}/deploys/${c.id}`, { token: alice.token });
    assert.equal(gone.status, 204);
    assert.equal((await getDeploy(alice, siteId, c.id)).status, 404);
    assert.equal((await serve(`${c.id}--history`)).status, 404);
    assert.equal((await t.api("DELETE", `/deploys/${a.id}`, { token: alice.token })).status, 204);

    // A draft can be published explicitly (as on Netlify), never automatically.
    const draft = (await digestDeploy(alice, siteId, v(6), { draft: true })).deploy;
    assert.equal((await serve("history")).body, "<h1>version 4</h1>");
    const promoted = await t.api<DeployBody>(
      "POST",
      `/sites/${siteId}/deploys/${draft.id}/restore`,
      {
        token: alice.token,
      },
    );
    assert.equal(promoted.status, 201);
    assert.equal((await serve("history")).body, "<h1>version 6</h1>");
  });

  it("cancels a build's deploy by cancelling its build, and refuses files for it", async () => {
    // This platform runs no build workers: the site's first build stays queued.
    const linked = await t.api<{ id: string; build_id: string; deploy_id: string }>(
      "POST",
      "/sites",
      {
        token: alice.token,
        body: {
          name: "built-site",
          repo: {
            provider: "gitlab",
            repo_url: "https://gitlab.com/alice/site.git",
            repo_branch: "main",
          },
        },
      },
    );
    assert.equal(linked.status, 201, linked.text);
    const { id: siteId, deploy_id: deployId, build_id: buildId } = linked.body;
    const files = await t.api<ErrorBody>("PUT", `/sites/${siteId}/deploys/${deployId}`, {
      token: alice.token,
      body: { files: { "index.html": sha1("x") } },
    });
    assert.equal(files.status, 422);
    assert.match(files.body.message, /made by a build/);
    const cancelled = await t.api<DeployBody>("POST", `/deploys/${deployId}/cancel`, {
      token: alice.token,
    });
    assert.equal(cancelled.status, 201);
    assert.equal(cancelled.body.state, "error");
    const build = await t.api<{ done: boolean; error: string | null }>(
      "GET",
      `/builds/${buildId}`,
      { token: alice.token },
    );
    assert.equal(build.body.done, true);
    assert.match(build.body.error ?? "", /cancelled/);
  });

  it("serves branch deploys at {branch}--{site} and lists the deployed branches", async () => {
    const siteId = await createSite(alice, "branchy");
    await digestDeploy(alice, siteId, { "index.html": "<h1>prod</h1>" });
    const feature = (
      await digestDeploy(
        alice,
        siteId,
        { "index.html": "<h1>feature</h1>" },
        {
          branch: "feature/x",
          draft: false,
        },
      )
    ).deploy;
    assert.equal(feature.context, "branch-deploy");
    assert.equal(feature.published_at, null);
    await digestDeploy(
      alice,
      siteId,
      { "index.html": "<h1>draft on a branch</h1>" },
      {
        branch: "hidden",
        draft: true,
      },
    );
    assert.equal((await serve("branchy")).body, "<h1>prod</h1>");
    assert.equal((await serve("feature-x--branchy")).body, "<h1>feature</h1>");
    assert.equal((await serve("hidden--branchy")).status, 404, "a draft is no branch deploy");

    const branches = await t.api<
      { id: string; deploy_id: string; name: string; slug: string; url: string; ssl_url: string }[]
    >("GET", `/sites/${siteId}/deployed-branches`, { token: alice.token });
    assert.equal(branches.status, 200);
    assertSpecResponse("listSiteDeployedBranches", 200, branches.body);
    assert.equal(branches.body.length, 1);
    assert.equal(branches.body[0]!.name, "feature/x");
    assert.equal(branches.body[0]!.slug, "feature-x");
    assert.equal(branches.body[0]!.deploy_id, feature.id);
    assert.match(branches.body[0]!.url, /^http:\/\/feature-x--branchy\.localhost:\d+$/);
  });

  it("stores declared functions (SHA-256 checked) and says they are not served", async () => {
    const siteId = await createSite(alice, "with-functions");
    const zipped = await yazlZip({ "hello.mjs": "export default () => new Response('hi')" });
    const files: Files = { "index.html": "<h1>static part</h1>" };
    const created = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: { draft: false },
    });
    const declared = await t.api<DeployBody>("PUT", `/sites/${siteId}/deploys/${created.body.id}`, {
      token: alice.token,
      body: { files: digests(files), functions: { hello: sha256(zipped) }, async: true },
    });
    assert.equal(declared.body.state, "prepared");
    assert.deepEqual(declared.body.required_functions, [sha256(zipped)]);
    assert.deepEqual(declared.body.warnings, [
      "Functions are stored but not served: Slipway serves static files",
    ]);
    const fnUrl = `${t.url}/api/v1/deploys/${created.body.id}/functions/hello?runtime=js&invocation_mode=stream`;
    const headers = {
      authorization: `Bearer ${alice.token}`,
      "content-type": "application/octet-stream",
    };
    const wrong = await fetch(fnUrl, { method: "PUT", headers, body: Buffer.from("not it") });
    assert.equal(wrong.status, 422);
    assert.equal(
      (await upload(alice, created.body.id, "index.html", files["index.html"]!)).status,
      200,
    );
    assert.equal((await getDeploy(alice, siteId, created.body.id)).body.state, "prepared");
    const right = await fetch(fnUrl, {
      method: "PUT",
      headers: { ...headers, "x-nf-retry-count": "1" },
      body: zipped,
    });
    assert.equal(right.status, 200);
    const fn = (await right.json()) as { name: string; sha: string };
    assertSpecResponse("uploadDeployFunction", 200, fn);
    assert.equal(fn.sha, sha256(zipped));
    const ready = await getDeploy(alice, siteId, created.body.id);
    assert.equal(ready.body.state, "ready");
    assert.equal((await serve("with-functions")).body, "<h1>static part</h1>");
    const row = await t.platform.ctx.db
      .selectFrom("deploy_functions")
      .selectAll()
      .where("deploy_id", "=", created.body.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.blob_sha1, sha1(zipped));
    assert.equal(row.runtime, "js");

    // The same function in the next deploy is not uploaded again.
    const next = await digestDeploy(
      alice,
      siteId,
      files,
      { draft: false },
      {
        functions: { hello: sha256(zipped) },
      },
    );
    assert.equal(next.deploy.state, "ready");
    assert.deepEqual(next.deploy.required_functions, []);
  });

  it("gives up a deploy that waited for files for an hour, saying why", async () => {
    const siteId = await createSite(alice, "abandoned");
    const created = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: { files: { "index.html": sha1("never sent") } },
    });
    await t.platform.ctx.db
      .updateTable("deploys")
      .set({ updated_at: new Date(Date.now() - 2 * 60 * 60 * 1000).toISOString() })
      .where("id", "=", created.body.id)
      .execute();
    assert.ok((await sweepAbandonedDeploys(t.platform.ctx)) >= 1);
    const swept = await getDeploy(alice, siteId, created.body.id);
    assert.equal(swept.body.state, "error");
    assert.match(swept.body.error_message ?? "", /^Abandoned: no file was declared or uploaded/);
  });

  it("keeps a deploy that takes uploads alive, touching its row at most once a minute", async () => {
    const siteId = await createSite(alice, "lively");
    const files = { "a.txt": "first", "b.txt": "second", "c.txt": "third" };
    const created = await t.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
      token: alice.token,
      body: { files: digests(files) },
    });
    const updatedAt = async (): Promise<string> =>
      (
        await t.platform.ctx.db
          .selectFrom("deploys")
          .select("updated_at")
          .where("id", "=", created.body.id)
          .executeTakeFirstOrThrow()
      ).updated_at;
    const declared = await updatedAt();
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal((await upload(alice, created.body.id, "a.txt", files["a.txt"])).status, 200);
    // The row holds the deploy's whole `required` list: not rewritten for every upload.
    assert.equal(await updatedAt(), declared);
    const idle = new Date(Date.now() - 59 * 60 * 1000).toISOString();
    await t.platform.ctx.db
      .updateTable("deploys")
      .set({ updated_at: idle })
      .where("id", "=", created.body.id)
      .execute();
    assert.equal((await upload(alice, created.body.id, "b.txt", files["b.txt"])).status, 200);
    assert.ok((await updatedAt()) > idle, "an upload after a quiet minute counts as activity");
    await sweepAbandonedDeploys(t.platform.ctx);
    const alive = await getDeploy(alice, siteId, created.body.id);
    assert.equal(alive.body.state, "uploading");
    assert.deepEqual(alive.body.required, [sha1(files["c.txt"])]);
  });
});

describe("direct deploys after a crash", () => {
  it("stages uploads unsynced and fails, never publishes, a deploy whose staged content a power cut tore", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "slipway-deploy-torn-"));
    const masterKey = randomBytes(32);
    const files: Files = { "index.html": "<h1>torn by a power cut</h1>", "b.txt": "bee" };
    const put = (base: string, token: string, deployId: string, path: string) =>
      fetch(`${base}/api/v1/deploys/${deployId}/files/${path}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
        body: Buffer.from(files[path]!),
      });
    try {
      let deployId: string;
      const first = await startTestPlatform({ dataDir, config: { masterKey } });
      try {
        const site = await first.api<{ id: string }>("POST", "/sites", { body: { name: "torn" } });
        const created = await first.api<DeployBody>("POST", `/sites/${site.body.id}/deploys`, {
          body: { files: digests(files) },
        });
        deployId = created.body.id;
        assert.equal((await put(first.url, first.adminToken, deployId, "index.html")).status, 200);
      } finally {
        await first.stop();
      }
      // Acknowledged, but staged without a sync of its own: a power cut may tear it.
      const staged = join(dataDir, "deploys", "staging", deployId, sha1(files["index.html"]!));
      assert.equal(existsSync(staged), true, "the upload waits, staged, for its deploy");
      await writeFile(staged, "<h1>torn");

      const second = await startTestPlatform({ dataDir, config: { masterKey } });
      try {
        assert.equal((await put(second.url, second.adminToken, deployId, "b.txt")).status, 200);
        const failed = await second.api<DeployBody>("GET", `/deploys/${deployId}`);
        assert.equal(failed.body.state, "error");
        assert.match(
          failed.body.error_message ?? "",
          /"index\.html".*not in the store; deploy again/,
        );
        assert.equal((await edgeGet(second.url, "torn.localhost")).status, 404);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("finishes at the next start every acknowledged deploy: after its last upload, or needing none", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "slipway-deploy-crash-"));
    const masterKey = randomBytes(32);
    const files: Files = { "index.html": "<h1>survived</h1>", "b.txt": "bee" };
    let siteId: string;
    let deployId: string;
    let rearrangedId: string;
    try {
      // The first process never finishes deploys itself: as if it died right after the last
      // upload was stored and acknowledged.
      const first = await startTestPlatform({
        dataDir,
        config: { masterKey },
        platform: { buildWorkers: false, finishDeploysInline: false },
      });
      try {
        const site = await first.api<{ id: string }>("POST", "/sites", {
          body: { name: "phoenix" },
        });
        siteId = site.body.id;
        const created = await first.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
          body: { files: digests(files) },
        });
        deployId = created.body.id;
        for (const [path, data] of Object.entries(files)) {
          const res = await fetch(`${first.url}/api/v1/deploys/${deployId}/files/${path}`, {
            method: "PUT",
            headers: {
              authorization: `Bearer ${first.adminToken}`,
              "content-type": "application/octet-stream",
            },
            body: Buffer.from(data),
          });
          assert.equal(res.status, 200);
        }
        const stuck = await first.api<DeployBody>("GET", `/deploys/${deployId}`);
        assert.equal(stuck.body.state, "processing");

        // The same contents at other paths: nothing to upload, so the answer is final at once.
        const rearranged = await first.api<DeployBody>("POST", `/sites/${siteId}/deploys`, {
          body: { files: digests({ "index.html": "bee", "old.html": files["index.html"]! }) },
        });
        assert.deepEqual(rearranged.body.required, []);
        assert.equal(rearranged.body.state, "processing");
        rearrangedId = rearranged.body.id;
      } finally {
        await first.stop();
      }

      const second = await startTestPlatform({ dataDir, config: { masterKey } });
      try {
        const resumed = await second.api<DeployBody>("GET", `/deploys/${deployId}`);
        assert.equal(resumed.body.state, "ready");
        const latest = await second.api<DeployBody>("GET", `/deploys/${rearrangedId}`);
        assert.equal(latest.body.state, "ready");
        assert.notEqual(latest.body.published_at, null, "the newer deploy is the one published");
        assert.equal((await edgeGet(second.url, "phoenix.localhost")).body, "bee");
        const moved = await edgeGet(second.url, "phoenix.localhost", "/old.html");
        assert.equal(moved.body, "<h1>survived</h1>");
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
