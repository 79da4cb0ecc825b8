import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fetchRepository, GitFetchError, type FetchOptions } from "./git-fetch.ts";
import { hostKeyFingerprint, MemoryHostKeyStore } from "./host-keys.ts";
import { hostKeyTrust, PUBLISHED_HOST_KEYS, publishedHostKeys } from "./published-host-keys.ts";
import {
  generateKeyPair,
  sshdSkipReason,
  TestRepo,
  TestSshd,
  type KeyPair,
} from "../../../test/helpers/sshd.ts";

describe("published SSH host keys", () => {
  it("hash to the fingerprints each provider publishes", () => {
    for (const entry of PUBLISHED_HOST_KEYS) {
      assert.deepEqual(
        entry.keys.map((key) => hostKeyFingerprint(key).split(" ")[1]),
        entry.fingerprints,
        entry.provider,
      );
    }
  });

  it("are found by host name, any case, and only for those hosts", () => {
    assert.equal(publishedHostKeys("GitHub.com")?.provider, "GitHub");
    assert.equal(publishedHostKeys("ssh.github.com")?.provider, "GitHub");
    assert.equal(publishedHostKeys("gitlab.com")?.provider, "GitLab.com");
    assert.equal(publishedHostKeys("bitbucket.org")?.provider, "Bitbucket Cloud");
    assert.equal(publishedHostKeys("github.com.evil.example"), undefined);
    assert.equal(publishedHostKeys("gitlab.example.com"), undefined);
  });

  it("describe the trust a link shows: pinned for providers, first use for others", () => {
    assert.equal(hostKeyTrust("github.com", undefined)?.trust, "pinned");
    const ed25519 = PUBLISHED_HOST_KEYS[0]!.keys[0]!;
    assert.deepEqual(hostKeyTrust("git.example.com", [ed25519]), {
      trust: "first_use",
      fingerprints: [hostKeyFingerprint(ed25519)],
    });
    assert.equal(hostKeyTrust("git.example.com", undefined), undefined);
  });
});

describe("a fetch from a host with published keys", { skip: sshdSkipReason() ?? false }, () => {
  let dir: string;
  let deployKey: KeyPair;
  let sshd: TestSshd;
  let counter = 0;

  /** Fetch options for the test sshd, reached under the name `host`. */
  const options = (host: string, overrides: Partial<FetchOptions> = {}): FetchOptions => ({
    repoUrl: sshd.url("site.git").replace("@127.0.0.1:", `@${host}:`),
    resolveHost: () => Promise.resolve(["127.0.0.1"]),
    privateKey: deployKey.privateKey,
    hostKeys: new MemoryHostKeyStore(),
    allowPrivateNetwork: true,
    branch: "main",
    mirrorDir: join(dir, `mirror-${++counter}`),
    checkoutDir: join(dir, `checkout-${counter}`),
    tempRoot: join(dir, "tmp"),
    connectTimeoutSec: 5,
    timeoutMs: 30_000,
    ...overrides,
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-published-keys-"));
    await mkdir(join(dir, "tmp"));
    deployKey = await generateKeyPair(dir, "deploy_key");
    sshd = await TestSshd.start([deployKey.publicKey]);
    const repo = await TestRepo.create(sshd, "site.git");
    await repo.commit({ "index.html": "<h1>v1</h1>\n" });
  });
  after(async () => {
    await sshd?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("refuses a server named github.com that presents another key, saying whose key it is not", async () => {
    const hostKeys = new MemoryHostKeyStore();
    // Even a key recorded for github.com on first use (before pinning) is not trusted.
    await hostKeys.save("github.com", sshd.port, [sshd.hostPublicKey]);
    const refused = await fetchRepository(options("github.com", { hostKeys })).then(
      () => assert.fail("the fetch should be refused"),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof GitFetchError, String(refused));
    assert.equal(refused.code, "host_key_changed");
    assert.match(
      refused.message,
      /^github\.com presented a host key that is not GitHub's published key \(it presented ED25519 SHA256:/,
    );
    assert.ok(refused.message.includes(hostKeyFingerprint(sshd.hostPublicKey)), refused.message);
    assert.ok(refused.message.includes(PUBLISHED_HOST_KEYS[0]!.source), refused.message);
  });

  it("still trusts another host's key on first use, and records it", async () => {
    const hostKeys = new MemoryHostKeyStore();
    const fetched = await fetchRepository(options("git.example.test", { hostKeys }));
    assert.equal(fetched.hostKeyRecorded, true);
    assert.deepEqual(await hostKeys.get("git.example.test", sshd.port), [sshd.hostPublicKey]);
  });
});
