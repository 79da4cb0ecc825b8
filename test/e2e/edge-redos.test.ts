import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startPlatformProcess, type PlatformProcess } from "../helpers/platform-process.ts";
import { ADMIN_TOKEN, testPlatformConfig } from "../helpers/platform.ts";
import { poll } from "../helpers/wait.ts";

/**
 * One tenant's rules cannot stop the platform: a site deploys a `_headers` rule that a RegExp
 * engine backtracks on without end (`/a*a*a*a*a*a*a*a*a*a*a*a*z`, which `forRegExp` made
 * `^/a(.*)a(.*)…z/?$`) and a catch-all rewrite, and is asked for an 8 KiB path of `a`s.
 * Meanwhile another site and the API, served by the same process and event loop, must keep
 * answering. The platform runs in a child process so that, if its event loop does hang, the
 * test fails on its own timeouts and the child is killed.
 */

const sha1 = (data: string): string => createHash("sha1").update(data).digest("hex");
/** How long one answer may take: generous for a loaded machine, far below "never". */
const ANSWER_MS = 10_000;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

/** GET with a Host header, failing after `ANSWER_MS` without an answer. */
function get(base: string, host: string, path: string, token?: string): Promise<Answer> {
  const url = new URL(base);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        headers: {
          host: `${host}:${url.port}`,
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        agent: false,
        timeout: ANSWER_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            ms: performance.now() - started,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`no answer from ${host}${path.slice(0, 40)} in ${ANSWER_MS} ms`)),
    );
    req.on("error", reject);
    req.end();
  });
}

describe("a tenant's _headers rule cannot stop the platform (ReDoS)", () => {
  let dataDir: string;
  let platform: PlatformProcess | undefined;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "slipway-redos-"));
    platform = await startPlatformProcess(
      { ...testPlatformConfig(dataDir), masterKey: randomBytes(32) },
      { buildLeaseMs: 30_000 },
    );
  });

  after(async () => {
    await platform?.kill();
    await rm(dataDir, { recursive: true, force: true });
  });

  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${platform!.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(typeof body === "string"
          ? { "content-type": "application/octet-stream" }
          : body === undefined
            ? {}
            : { "content-type": "application/json" }),
      },
      ...(body === undefined
        ? {}
        : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      signal: AbortSignal.timeout(ANSWER_MS),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };

  /** A site with these files, deployed through the file-digest protocol and published. */
  const deploySite = async (name: string, files: Record<string, string>): Promise<string> => {
    const site = await call<{ id: string }>("POST", "/sites", { name });
    const digests = Object.fromEntries(Object.entries(files).map(([p, text]) => [p, sha1(text)]));
    const deploy = await call<{ id: string; required: string[] }>(
      "POST",
      `/sites/${site.id}/deploys`,
      { files: digests },
    );
    for (const [path, text] of Object.entries(files)) {
      if (deploy.required.includes(sha1(text))) {
        await call("PUT", `/deploys/${deploy.id}/files/${path}`, text);
      }
    }
    await poll(async () => {
      const page = await get(platform!.url, `${name}.localhost`, "/");
      return page.status === 200 && page.body === files["index.html"];
    }, `${name} to be served`);
    return site.id;
  };

  it("answers the pathological request, and the other site and the API answer meanwhile", async (t) => {
    const victimId = await deploySite("victim", { "index.html": "<h1>victim</h1>" });
    await deploySite("tenant", {
      "index.html": "<h1>tenant</h1>",
      _redirects: "/*  /index.html  200\n",
      _headers: "/a*a*a*a*a*a*a*a*a*a*a*a*z\n  X-Evil: 1\n",
    });

    const base = platform!.url;
    const evilPath = "/" + "a".repeat(8000);
    const evil: Promise<Answer | Error> = get(base, "tenant.localhost", evilPath).catch(
      (error: Error) => error,
    );
    // Everything below is sent after the evil request, to the same process.
    const others: Answer[] = [];
    for (let i = 0; i < 20; i++) {
      others.push(await get(base, "victim.localhost", i % 2 ? "/" : "/index.html"));
      others.push(await get(base, "127.0.0.1", `/api/v1/sites/${victimId}`, ADMIN_TOKEN));
    }
    const answer = await evil;
    if (answer instanceof Error) throw answer;

    t.diagnostic(`pathological request answered in ${answer.ms.toFixed(1)} ms`);
    t.diagnostic(`slowest other answer: ${Math.max(...others.map((o) => o.ms)).toFixed(1)} ms`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "<h1>tenant</h1>");
    assert.equal(answer.headers["x-evil"], undefined, "the rule does not match");
    for (const other of others) assert.equal(other.status, 200, other.body);
    assert.ok(others.some((o) => o.body === "<h1>victim</h1>"));

    // And the rule does apply where it matches.
    const matching = await get(base, "tenant.localhost", "/" + "a".repeat(7999) + "z");
    assert.equal(matching.headers["x-evil"], "1");
  });
});
