import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalBlobStore } from "../deploys/local-blob-store.ts";
import { makeDeploy, rawRequest } from "../../../test/helpers/edge.ts";
import { createEdge } from "./handler.ts";
import { MemorySiteResolver, type ResolvedDeploy, type SiteResolver } from "./hosts.ts";

const DOMAIN = "sites.test";
const HOST = `hello.${DOMAIN}`;

/**
 * A request whose host, deploy, rules, route and bytes are all cached — nearly every request
 * of a busy site — is answered without creating a single promise: each costs about a
 * microsecond, more while an AsyncLocalStorage is active (the audit log's), and three of them
 * were a third of what the edge added to a keep-alive request over a bare server.
 */
describe("the edge's cached path", () => {
  let work: string;
  let server: Server;
  let port: number;
  const promisesPerRequest: number[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "slipway-edge-sync-"));
    const blobs = await LocalBlobStore.open(join(work, "store"));
    const memory = new MemorySiteResolver(DOMAIN);
    memory.publish(
      "hello",
      await makeDeploy(blobs, "c0ffee02", {
        "index.html": `<h1>hello</h1>${"<p>some text</p>".repeat(40)}`,
        _headers: "/*\n  X-Frame-Options: DENY",
      }),
    );
    const deploy = (await memory.resolve(HOST))!;
    // What the platform's DbSiteResolver answers once the host is cached.
    const resolver: SiteResolver = {
      resolve: (host) => memory.resolve(host),
      cached: (host): ResolvedDeploy | undefined => (host === HOST ? deploy : undefined),
    };
    const edge = createEdge({ resolver, tmpDir: work });
    let promises = 0;
    const hook = createHook({
      init: (_id, type) => {
        if (type === "PROMISE") promises++;
      },
    });
    server = createServer((req, res) => {
      promises = 0;
      hook.enable();
      try {
        edge.handler(req, res);
      } finally {
        hook.disable();
        promisesPerRequest.push(promises);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(work, { recursive: true, force: true });
  });

  it("answers a cached request without a promise, the same bytes as the first", async () => {
    const first = await rawRequest(port, HOST, "/", {});
    const second = await rawRequest(port, HOST, "/", {});
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(second.headers["x-frame-options"], "DENY");
    assert.deepEqual(second.body, first.body);
    // The first loaded the rules and the file (promises); the second found everything cached.
    assert.ok(promisesPerRequest[0]! > 0);
    assert.equal(promisesPerRequest[1], 0);
  });

  it("answers HEAD, 304 and a missing file from the cache the same way", async () => {
    const etag = (await rawRequest(port, HOST, "/", {})).headers.etag as string;
    promisesPerRequest.length = 0;
    const head = await rawRequest(port, HOST, "/", { method: "HEAD" });
    const notModified = await rawRequest(port, HOST, "/", { headers: { "if-none-match": etag } });
    await rawRequest(port, HOST, "/nope", {});
    const missing = await rawRequest(port, HOST, "/nope", {});
    assert.deepEqual(
      [head.status, head.body.length, notModified.status, missing.status],
      [200, 0, 304, 404],
    );
    assert.deepEqual(promisesPerRequest, [0, 0, 0, 0]);
  });
});
