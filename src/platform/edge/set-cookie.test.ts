import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../../lib/logger.ts";
import { LocalBlobStore } from "../deploys/local-blob-store.ts";
import type { ResolvedDeploy } from "./hosts.ts";
import { SET_COOKIE_ON_SHARED_DOMAIN } from "./shared-domain.ts";
import { makeDeploy, rawRequest, startEdge, type RunningEdge } from "../../../test/helpers/edge.ts";

// Sites under the shared sites domain are siblings under one registrable domain: a cookie one
// of them sets with `Domain=sites.test` reaches all the others (cookie tossing).

describe("Set-Cookie from _headers", () => {
  let dir: string;
  let edge: RunningEdge;
  let deploy: ResolvedDeploy;
  const logs: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-set-cookie-"));
    const blobs = await LocalBlobStore.open(join(dir, "blobs"));
    deploy = await makeDeploy(blobs, "d1", {
      "index.html": "<h1>hi</h1>",
      _headers: "/*\n  Set-Cookie: session=planted; Domain=sites.test; Path=/\n  X-Kept: yes\n",
    });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logs.push(chunk.toString("utf8"));
        callback();
      },
    });
    edge = await startEdge({
      // The same deploy at a host of the shared domain and at its custom domain.
      resolver: {
        resolve: (host) =>
          Promise.resolve(
            host === "tenant.sites.test" || host === "www.tenant.example" ? deploy : undefined,
          ),
      },
      sharedSitesDomain: "sites.test",
      logger: createLogger({ name: "edge-test", destination }),
    });
  });
  after(async () => {
    await edge.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("is dropped under the shared sites domain, with a warning, and other headers kept", async () => {
    const shared = await rawRequest(edge.port, "tenant.sites.test", "/");
    assert.equal(shared.status, 200);
    assert.equal(shared.headers["set-cookie"], undefined);
    assert.equal(shared.headers["x-kept"], "yes");
    assert.ok(
      logs.some((line) => line.includes(SET_COOKIE_ON_SHARED_DOMAIN) && line.includes('"d1"')),
      logs.join(""),
    );
  });

  it("is sent on the site's custom domain", async () => {
    const custom = await rawRequest(edge.port, "www.tenant.example", "/");
    assert.equal(custom.status, 200);
    assert.deepEqual(custom.headers["set-cookie"], ["session=planted; Domain=sites.test; Path=/"]);
    // And the shared host, asked again after the custom one, still does not get it.
    const again = await rawRequest(edge.port, "tenant.sites.test", "/");
    assert.equal(again.headers["set-cookie"], undefined);
  });
});
