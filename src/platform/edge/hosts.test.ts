import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createManifest } from "../deploys/manifest.ts";
import type { BlobReader } from "../deploys/blob-store.ts";
import { MemorySiteResolver, normaliseHost, parseSiteHost, type ResolvedDeploy } from "./hosts.ts";

const noBlobs: BlobReader = {
  get: () => Promise.reject(new Error("no blobs in this test")),
  read: () => Promise.reject(new Error("no blobs in this test")),
  size: () => Promise.resolve(undefined),
};

const deploy = (deployId: string): ResolvedDeploy => ({
  deployId,
  manifest: createManifest([]),
  blobs: noBlobs,
});

describe("normaliseHost", () => {
  it("lowercases and removes the port and one trailing dot", () => {
    assert.equal(normaliseHost("Hello.Sites.Test"), "hello.sites.test");
    assert.equal(normaliseHost("hello.sites.test:8080"), "hello.sites.test");
    assert.equal(normaliseHost("VICTIM.example."), "victim.example");
    assert.equal(normaliseHost("victim.example:443"), "victim.example");
    assert.equal(normaliseHost("[::1]:8080"), "[::1]");
  });

  it("refuses empty and malformed hosts", () => {
    for (const bad of [
      undefined,
      "",
      "a b",
      "host:port",
      "host:99999999",
      "ho/st",
      "x\u0000y",
      "[::1",
    ]) {
      assert.equal(normaliseHost(bad), undefined, String(bad));
    }
  });
});

describe("parseSiteHost", () => {
  it("reads site, deploy and branch forms under the sites domain", () => {
    assert.deepEqual(parseSiteHost("hello.localhost", "localhost"), { site: "hello" });
    assert.deepEqual(parseSiteHost("my-site.sites.test", "sites.test"), { site: "my-site" });
    assert.deepEqual(parseSiteHost("65f1c0ffee--hello.sites.test", "Sites.Test."), {
      site: "hello",
      label: "65f1c0ffee",
    });
    assert.deepEqual(parseSiteHost("feature-x--hello.sites.test", "sites.test"), {
      site: "hello",
      label: "feature-x",
    });
  });

  it("refuses hosts outside the domain, nested labels and lookalike suffixes", () => {
    for (const host of [
      "sites.test",
      "hello.sites.test.evil.com",
      "hellosites.test",
      "a.hello.sites.test",
      "evil.com",
      "--hello.sites.test",
      "x---.sites.test",
      "-x.sites.test",
    ]) {
      assert.equal(parseSiteHost(host, "sites.test"), undefined, host);
    }
  });
});

describe("MemorySiteResolver", () => {
  it("resolves the published deploy, a deploy by id and a branch, and nothing else", async () => {
    const resolver = new MemorySiteResolver("sites.test");
    const a1 = deploy("a1");
    const a2 = deploy("a2");
    const b1 = deploy("b1");
    resolver.publish("alpha", a1);
    resolver.addDeploy("alpha", a2);
    resolver.setBranch("alpha", "staging", a2);
    resolver.publish("beta", b1);

    assert.equal(await resolver.resolve("alpha.sites.test"), a1);
    assert.equal(await resolver.resolve("a2--alpha.sites.test"), a2);
    assert.equal(await resolver.resolve("staging--alpha.sites.test"), a2);
    assert.equal(await resolver.resolve("beta.sites.test"), b1);
    // Another site's deploy id through this site's name: never.
    assert.equal(await resolver.resolve("b1--alpha.sites.test"), undefined);
    assert.equal(await resolver.resolve("gamma.sites.test"), undefined);
    assert.equal(await resolver.resolve("alpha.other.test"), undefined);

    resolver.publish("alpha", a2);
    assert.equal(await resolver.resolve("alpha.sites.test"), a2);
    assert.equal(await resolver.resolve("a1--alpha.sites.test"), a1);
    resolver.removeSite("alpha");
    assert.equal(await resolver.resolve("alpha.sites.test"), undefined);
  });

  it("refuses site names that the host syntax could not address", () => {
    const resolver = new MemorySiteResolver("sites.test");
    for (const bad of ["a--b", "", "-a", "a.b", "a_b"]) {
      assert.throws(() => resolver.publish(bad, deploy("x")), TypeError, bad);
    }
  });
});
