import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  startTestPlatform,
  type Tenant,
  type TestPlatform,
} from "../../../test/helpers/platform.ts";
import { createSite } from "../../../test/helpers/sites.ts";
import { hostKeyFingerprint } from "../repos/host-keys.ts";
import { PUBLISHED_HOST_KEYS } from "../repos/published-host-keys.ts";

interface LinkView {
  host_key: {
    trust: string;
    fingerprints: string[];
    published_by?: string;
  } | null;
}

describe("the link status shows how the repository's SSH host key is trusted", () => {
  let t: TestPlatform;
  let alice: Tenant;

  before(async () => {
    t = await startTestPlatform({
      platform: { buildWorkers: false },
      hosts: { "git.example.net": ["93.184.215.14"] },
    });
    alice = await t.createTenant("alice");
  });
  after(() => t.stop());

  const linkOf = async (siteId: string) => {
    const view = await t.api<LinkView>("GET", `/sites/${siteId}/link`, { token: alice.token });
    assert.equal(view.status, 200, view.text);
    return view.body.host_key;
  };

  it("pinned to GitHub's published keys for github.com", async () => {
    const site = await createSite(t, alice.token, {
      name: "on-github",
      repo: { repo_url: "git@github.com:alice/site.git", repo_branch: "main" },
    });
    const hostKey = await linkOf(site.id);
    assert.equal(hostKey?.trust, "pinned");
    assert.equal(hostKey?.published_by, "GitHub");
    assert.deepEqual(hostKey?.fingerprints, PUBLISHED_HOST_KEYS[0]!.keys.map(hostKeyFingerprint));
  });

  it("first use for another host, once its key was recorded", async () => {
    const site = await createSite(t, alice.token, {
      name: "self-hosted",
      repo: { repo_url: "git@git.example.net:alice/site.git", repo_branch: "main" },
    });
    assert.equal(await linkOf(site.id), null);
    const key = PUBLISHED_HOST_KEYS[1]!.keys[0]!;
    const [keyType, publicKey] = key.split(" ");
    await t.platform.ctx.db
      .insertInto("known_hosts")
      .values({
        scope: alice.accountId,
        host: "git.example.net",
        key_type: keyType!,
        public_key: publicKey!,
        fingerprint: hostKeyFingerprint(key),
        source: "first_seen",
        created_at: new Date().toISOString(),
      })
      .execute();
    assert.deepEqual(await linkOf(site.id), {
      trust: "first_use",
      fingerprints: [hostKeyFingerprint(key)],
    });
  });
});
