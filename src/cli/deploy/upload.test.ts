import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEFAULT_API_URL, HELP, parseDeployArgs, UsageError } from "./args.ts";
import { apiBase, ApiError, encodePath, SlipwayApi } from "./client.ts";
import { uploadFiles, type UploadItem } from "./upload.ts";

/**
 * The upload loop against a real HTTP server that answers what each test scripts (status per
 * attempt and path), recording every request it receives.
 */
interface Received {
  method: string;
  url: string;
  authorization: string | undefined;
  contentLength: string | undefined;
  body: Buffer;
}

let server: Server;
let baseUrl: string;
let received: Received[] = [];
/** path → statuses to answer, in order; when used up, 200. */
let script = new Map<string, number[]>();
const dir = mkdtempSync(join(tmpdir(), "slipway-cli-upload-"));

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

before(async () => {
  server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const url = request.url ?? "";
      received.push({
        method: request.method ?? "",
        url,
        authorization: request.headers.authorization,
        contentLength: request.headers["content-length"],
        body,
      });
      const path = url.split("?")[0] ?? "";
      const status = script.get(path)?.shift() ?? 200;
      response.writeHead(status, { "content-type": "application/json" });
      response.end(
        status === 200
          ? JSON.stringify({ id: "f", path })
          : JSON.stringify({ code: status, message: `scripted ${status} for ${path}` }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  baseUrl = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `work` with a client of the test server, closing its connections afterwards. */
async function withApi<T>(token: string, work: (api: SlipwayApi) => Promise<T>): Promise<T> {
  const api = new SlipwayApi(baseUrl, token);
  try {
    return await work(api);
  } finally {
    api.close();
  }
}

function items(names: string[]): UploadItem[] {
  return names.map((name) => {
    const absolute = join(dir, name.replaceAll("/", "_"));
    writeFileSync(absolute, `content of ${name}`);
    return { path: name, absolute, size: `content of ${name}`.length };
  });
}

describe("uploadFiles", () => {
  it("uploads every file with the token, path segments encoded, and the bytes intact", async () => {
    received = [];
    script = new Map();
    const done: number[] = [];
    await withApi("tok-123", (api) =>
      uploadFiles(api, "d1", items(["index.html", "a b/c#d.txt", "x/y.css"]), {
        onUploaded: (n) => done.push(n),
      }),
    );
    assert.equal(done.at(-1), 3);
    const byUrl = new Map(received.map((r) => [r.url.split("?")[0], r]));
    assert.deepEqual([...byUrl.keys()].sort(), [
      "/api/v1/deploys/d1/files/a%20b/c%23d.txt",
      "/api/v1/deploys/d1/files/index.html",
      "/api/v1/deploys/d1/files/x/y.css",
    ]);
    const upload = byUrl.get("/api/v1/deploys/d1/files/a%20b/c%23d.txt");
    assert.equal(upload?.method, "PUT");
    assert.equal(upload?.authorization, "Bearer tok-123");
    assert.equal(upload?.body.toString(), "content of a b/c#d.txt");
    assert.match(upload?.url ?? "", /\?size=22$/);
  });

  it("retries transient failures (503, 429) with backoff, then succeeds", async () => {
    received = [];
    script = new Map([["/api/v1/deploys/d2/files/flaky.html", [503, 429, 502]]]);
    const retries: number[] = [];
    await withApi("t", (api) =>
      uploadFiles(api, "d2", items(["flaky.html", "ok.html"]), {
        backoffMs: 1,
        onRetry: (_item, attempt) => retries.push(attempt),
      }),
    );
    const flaky = received.filter((r) => r.url.startsWith("/api/v1/deploys/d2/files/flaky"));
    assert.equal(flaky.length, 4, "three failures, then the upload that worked");
    assert.deepEqual(retries, [1, 2, 3]);
  });

  it("never retries a 4xx answer, and stops with the server's reason naming the file", async () => {
    received = [];
    script = new Map([["/api/v1/deploys/d3/files/bad.html", [422]]]);
    const error = await withApi("t", (api) =>
      uploadFiles(api, "d3", items(["bad.html"]), { backoffMs: 1 }),
    ).then(
      () => assert.fail("the upload should fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 422);
    assert.equal(error.message, '"bad.html": scripted 422 for /api/v1/deploys/d3/files/bad.html');
    assert.equal(received.length, 1);
  });

  it("streams a file too large to buffer, with its length declared", async () => {
    received = [];
    script = new Map();
    const big = Buffer.alloc(17 * 1024 * 1024 + 3, 0x5a);
    const absolute = join(dir, "big.bin");
    writeFileSync(absolute, big);
    await withApi("t", (api) =>
      uploadFiles(api, "d5", [{ path: "media/big.bin", absolute, size: big.length }]),
    );
    assert.equal(received.length, 1);
    assert.equal(received[0]?.contentLength, String(big.length));
    assert.ok(received[0]?.body.equals(big), "the server received the file's bytes");
  });

  it("gives up after the allowed retries", async () => {
    received = [];
    script = new Map([["/api/v1/deploys/d4/files/down.html", [500, 500, 500, 500]]]);
    await assert.rejects(
      withApi("t", (api) =>
        uploadFiles(api, "d4", items(["down.html"]), { backoffMs: 1, retries: 2 }),
      ),
      /"down.html": scripted 500/,
    );
    assert.equal(received.length, 3);
  });
});

describe("API URL and paths", () => {
  it("accepts the forms netlify-cli accepts and adds /api/v1 to a bare origin", () => {
    assert.equal(apiBase("http://h:8080"), "http://h:8080/api/v1");
    assert.equal(apiBase("http://h:8080/"), "http://h:8080/api/v1");
    assert.equal(apiBase("http://h:8080/api/v1/"), "http://h:8080/api/v1");
    assert.equal(
      apiBase("https://deploy.example.test/prefix/api/v1"),
      "https://deploy.example.test/prefix/api/v1",
    );
    assert.throws(() => apiBase("localhost:8080"), /must start with http/);
    assert.throws(() => apiBase("http://user:secret@h/"), /must not hold credentials/);
    assert.equal(encodePath("a b/c?d#e/%.html"), "a%20b/c%3Fd%23e/%25.html");
  });
});

describe("parseDeployArgs", () => {
  it("takes flags over the environment, and the environment over defaults", () => {
    const env = { SLIPWAY_AUTH_TOKEN: "env-token", SLIPWAY_SITE_ID: "env-site" };
    assert.deepEqual(parseDeployArgs(["--dir", "public"], env), {
      dir: "public",
      prod: false,
      json: false,
      apiUrl: DEFAULT_API_URL,
      token: "env-token",
      site: "env-site",
    });
    assert.deepEqual(
      parseDeployArgs(
        [
          "--dir=out",
          "--prod",
          "--json",
          "--site=blog",
          "--auth=flag-token",
          "--api=http://x:1",
          "--title=T",
          "--branch=main",
        ],
        { ...env, SLIPWAY_API_URL: "http://env:2" },
      ),
      {
        dir: "out",
        prod: true,
        json: true,
        apiUrl: "http://x:1",
        token: "flag-token",
        site: "blog",
        title: "T",
        branch: "main",
      },
    );
    assert.equal(parseDeployArgs(["-h"], {}), HELP);
  });

  it("refuses a missing --dir, a missing token, unknown flags and stray arguments", () => {
    assert.throws(() => parseDeployArgs([], { SLIPWAY_AUTH_TOKEN: "t" }), UsageError);
    assert.throws(() => parseDeployArgs(["--dir", "d"], {}), /SLIPWAY_AUTH_TOKEN/);
    assert.throws(() => parseDeployArgs(["--dir", "d", "--force"], { SLIPWAY_AUTH_TOKEN: "t" }));
    assert.throws(() => parseDeployArgs(["--dir", "d", "extra"], { SLIPWAY_AUTH_TOKEN: "t" }));
  });
});
