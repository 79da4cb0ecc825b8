import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { generateEd25519KeyPair } from "../../lib/ssh-keys.ts";
import {
  PROVIDERS_UNDER_TEST,
  refusalCheck,
  startProviderUnderTest,
  type ProviderUnderTest,
} from "../../../test/helpers/providers.ts";
import { READ_FILE_MAX_BYTES, sameKey } from "./rest.ts";
import type { CommitStatus, HookSpec, ProviderRepo } from "./types.ts";

/**
 * The `ProviderClient` contract, one case per operation, run against every adapter: GitLab
 * against the built-in forge, GitHub, Bitbucket and Gitea against their strict fakes. What an
 * adapter does beyond it (its provider's words, states and quirks) is in its own test file.
 */

for (const name of PROVIDERS_UNDER_TEST) {
  describe(`ProviderClient contract: ${name}`, () => {
    let p: ProviderUnderTest;
    let repo: ProviderRepo;
    const refusal = (...args: Parameters<ReturnType<typeof refusalCheck>>) =>
      refusalCheck(p.secrets)(...args);
    /** The requests `work` sent. */
    const sent = async (work: () => Promise<unknown>) => {
      const before = p.requests.length;
      await work();
      return p.requests.slice(before);
    };

    before(async () => {
      p = await startProviderUnderTest(name);
      repo = await p.client.getRepo(p.repoPath);
    });
    after(() => p?.close());

    it("verify names the credential's user", async () => {
      assert.equal((await p.client.verify()).username, p.username);
    });

    it("refuses a credential the provider does not accept: unauthorized, with a hint", async () => {
      const error = await refusal(p.refused.verify(), "unauthorized");
      assert.equal(error.status, 401);
    });

    it("reads a repository by its path and by its id, alike", async () => {
      assert.equal(repo.fullPath, p.repoPath);
      assert.notEqual(repo.id, "");
      assert.equal(repo.defaultBranch, "main");
      assert.equal(repo.private, true);
      assert.notEqual(repo.sshUrl, "");
      assert.deepEqual(await p.client.getRepo(repo.id), repo);
    });

    it("refuses a missing repository as not_found with a hint, and a malformed one unsent", async () => {
      const missing = await refusal(p.client.getRepo(p.missingPath), "not_found");
      assert.equal(missing.status, 404);
      const unsent = await sent(() => refusal(p.client.getRepo("no-slash"), "invalid"));
      assert.deepEqual(unsent, [], "nothing was sent for a malformed reference");
    });

    it("lists every repository across pages, and filters by a search", async () => {
      await p.addRepos(101);
      const lists = await sent(async () => {
        const all = await p.client.listRepos();
        const paths = all.map((r) => r.fullPath);
        assert.equal(all.length, 102, "the repository and 101 more, beyond a page of 100");
        assert.equal(new Set(paths).size, 102);
        assert.ok(paths.includes(p.repoPath));
      });
      assert.ok(lists.length > 1, `${lists.length} request(s) for more than a page`);
      const found = await p.client.listRepos("bulk-10");
      assert.deepEqual(
        found.map((r) => r.fullPath.split("/").at(-1)),
        ["bulk-100"],
      );
    });

    it("lists every branch across pages, and filters by a search", async () => {
      await p.addBranches(101);
      const lists = await sent(async () => {
        const all = await p.client.listBranches(repo);
        assert.equal(all.length, 103, "main, feature/x and 101 more, beyond a page of 100");
        assert.equal(new Set(all).size, 103);
        assert.ok(all.includes("main") && all.includes("feature/x"));
      });
      assert.ok(lists.length > 1, `${lists.length} request(s) for more than a page`);
      assert.deepEqual(await p.client.listBranches(repo, "bulk-10"), ["bulk-100"]);
      assert.deepEqual(await p.client.listBranches(repo, "feature/"), ["feature/x"]);
      assert.deepEqual(await p.client.listBranches(repo, "no-such-branch"), []);
    });

    it("tells an existing branch, slashes included, from a missing one", async () => {
      assert.equal(await p.client.branchExists(repo, "main"), true);
      assert.equal(await p.client.branchExists(repo, "feature/x"), true);
      assert.equal(await p.client.branchExists(repo, "nope"), false);
    });

    it("reads a file at a branch as text (JSON too), null for a missing one; a path outside is refused unsent", async () => {
      const pkg = '{ "scripts": { "build": "vite build" } }\n';
      const toml = '[build]\n  command = "npm run build"\n';
      await p.commitFiles({
        "package.json": pkg,
        "site/netlify.toml": toml,
        "big.lock": "x".repeat(READ_FILE_MAX_BYTES + 1),
      });
      assert.equal(await p.client.readFile(repo, "main", "package.json"), pkg);
      assert.equal(await p.client.readFile(repo, "main", "site/netlify.toml"), toml);
      assert.equal(await p.client.readFile(repo, "main", "missing.json"), null);
      assert.equal(await p.client.readFile(repo, "main", "site/missing/netlify.toml"), null);
      await refusal(p.client.readFile(repo, "main", "big.lock"), "invalid", /larger than/);
      const unsent = await sent(() =>
        refusal(p.client.readFile(repo, "main", "../outside"), "invalid"),
      );
      assert.deepEqual(unsent, [], "nothing was sent for a path with ..");
    });

    it("installs a read-only deploy key once however often it is added, and removes it idempotently", async () => {
      const pair = generateEd25519KeyPair("slipway-contract");
      const key = { title: "Slipway: contract", key: pair.public };
      const added = await p.client.addDeployKey(repo, key);
      assert.equal(added.readOnly, true);
      assert.ok(sameKey(added.key, pair.public));
      const again = await p.client.addDeployKey(repo, key);
      assert.equal(again.id, added.id);
      const listed = await p.client.listDeployKeys(repo);
      assert.deepEqual(
        listed.map((k) => [k.id, k.readOnly]),
        [[added.id, true]],
      );
      const stored = await p.storedKeys();
      assert.equal(stored.length, 1, "one key at the provider");
      assert.ok(sameKey(stored[0]!.key, pair.public));
      assert.equal(stored[0]!.readOnly, true, "read-only at the provider");

      await p.client.removeDeployKey(repo, added.id);
      await p.client.removeDeployKey(repo, added.id); // already gone: not an error
      assert.deepEqual(await p.client.listDeployKeys(repo), []);
      assert.deepEqual(await p.storedKeys(), []);
    });

    it("installs, lists, updates and removes a webhook idempotently", async () => {
      const spec: HookSpec = {
        url: "http://127.0.0.1:9/webhooks/sites/contract",
        secret: "contract-secret-1",
        events: ["push", "pull_request"],
      };
      const hook = await p.client.addHook(repo, spec);
      assert.equal(hook.url, spec.url);
      assert.deepEqual(hook.events, ["push", "pull_request"]);
      assert.equal(hook.active, true);
      assert.deepEqual(await p.client.listHooks(repo), [hook]);

      const updated = await p.client.updateHook(repo, hook.id, {
        ...spec,
        secret: "contract-secret-2",
        events: ["push"],
      });
      assert.deepEqual(updated, { ...hook, events: ["push"] });
      assert.deepEqual(await p.client.listHooks(repo), [updated]);

      await p.client.removeHook(repo, hook.id);
      await p.client.removeHook(repo, hook.id); // already gone: not an error
      assert.deepEqual(await p.client.listHooks(repo), []);
    });

    it("reports commit statuses on a commit, and refuses what is not a commit unsent", async () => {
      const status = (state: CommitStatus["state"]): CommitStatus => ({
        state,
        context: "slipway/contract",
        description: `build ${state}`,
        targetUrl: "https://slipway.example/deploys/1",
      });
      await p.client.setCommitStatus(repo, p.head, status("pending"));
      await p.client.setCommitStatus(repo, p.head, status("success"));
      assert.ok((await p.storedStatuses(p.head)).includes("slipway/contract"));
      const unsent = await sent(() =>
        refusal(p.client.setCommitStatus(repo, "main", status("success")), "invalid"),
      );
      assert.deepEqual(unsent, [], "nothing was sent for a name that is not a commit");
    });
  });
}
