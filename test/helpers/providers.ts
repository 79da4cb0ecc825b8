import assert from "node:assert/strict";
import { systemResolver } from "../../src/platform/repos/host-guard.ts";
import {
  createProviderHttp,
  type ProviderHttp,
  type ProviderRequest,
} from "../../src/platform/providers/http.ts";
import { providerClient } from "../../src/platform/providers/index.ts";
import {
  ProviderError,
  type GitProviderName,
  type ProviderClient,
  type ProviderCredential,
  type ProviderErrorKind,
} from "../../src/platform/providers/types.ts";

/**
 * Helpers for the adapters' tests, which run against fakes (and the forge) on this machine, and
 * the four providers as the `ProviderClient` contract test meets them (`startProviderUnderTest`).
 */

/** Provider HTTP that may reach 127.0.0.1, where the fakes listen (on `port` only, when given). */
export function loopbackHttp(port?: string): ProviderHttp {
  return createProviderHttp({
    resolveHost: systemResolver,
    allowedPrivateHosts: [port ? `127.0.0.1:${port}` : "127.0.0.1"],
  });
}

/**
 * A check of refusals: `promise` must reject with a `ProviderError` of `kind` whose message and
 * hint match (when given), whose hint says what to do, and which names none of `secrets` (the
 * tests add the credentials they make).
 */
export function refusalCheck(secrets: readonly string[] = []) {
  return async (
    promise: Promise<unknown>,
    kind: ProviderErrorKind,
    message?: RegExp,
    hint?: RegExp,
  ): Promise<ProviderError> => {
    const error = await promise.then(
      () => assert.fail(`expected a ${kind} refusal`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ProviderError, `not a ProviderError: ${String(error)}`);
    assert.equal(error.kind, kind, `${error.message} — ${error.hint}`);
    if (message) assert.match(error.message, message);
    if (hint) assert.match(error.hint, hint);
    assert.ok(error.hint.length > 10, "a refusal carries a hint");
    for (const secret of secrets) {
      assert.ok(!`${error.message} ${error.hint}`.includes(secret), "a credential leaked");
    }
    return error;
  };
}

// ---------- the providers under the contract ----------

/** A deploy key as the provider stores it, read back at the provider. */
export interface StoredKey {
  key: string;
  readOnly: boolean;
}

/**
 * One provider as the contract test meets it: a client (made by `providerClient`) whose
 * credential administers a private repository with the branches `main` and `feature/x`, and
 * what the provider stores, read back behind the adapter's back.
 */
export interface ProviderUnderTest {
  name: GitProviderName;
  client: ProviderClient;
  /** The same provider with a credential it does not accept. */
  refused: ProviderClient;
  /** The credentials made; no refusal may name them. */
  secrets: string[];
  /** Every request the clients sent, in order. */
  requests: ProviderRequest[];
  /** The repository, as the provider names it (`owner/name`, `workspace/slug`). */
  repoPath: string;
  /** A repository of the same owner that does not exist. */
  missingPath: string;
  /** The commit `main` points at. */
  head: string;
  /** The name the credential's user has at the provider. */
  username: string;
  /** Makes `count` more repositories the credential administers, named `bulk-000`, …. */
  addRepos(count: number): Promise<void>;
  /** Makes `count` more branches of the repository, named `bulk-000`, …, at `main`'s head. */
  addBranches(count: number): Promise<void>;
  /** Commits `files` (path → text) to `main`, at the provider. */
  commitFiles(files: Record<string, string>): Promise<void>;
  /** The repository's deploy keys, at the provider. */
  storedKeys(): Promise<StoredKey[]>;
  /** The contexts (names) of the commit statuses on `sha`, at the provider. */
  storedStatuses(sha: string): Promise<string[]>;
  close(): Promise<void>;
}

export const PROVIDERS_UNDER_TEST: readonly GitProviderName[] = [
  "gitlab",
  "github",
  "bitbucket",
  "gitea",
];

const bulkName = (i: number): string => `bulk-${String(i).padStart(3, "0")}`;

/** Loopback HTTP to `url`'s port that records every request in `requests`. */
function recordingHttp(url: string, requests: ProviderRequest[]): ProviderHttp {
  const http = loopbackHttp(new URL(url).port);
  return {
    request(request) {
      requests.push(request);
      return http.request(request);
    },
  };
}

function clients(
  provider: GitProviderName,
  baseUrl: string,
  credential: ProviderCredential,
  refused: ProviderCredential,
) {
  const requests: ProviderRequest[] = [];
  const http = recordingHttp(baseUrl, requests);
  return {
    requests,
    client: providerClient({ provider, baseUrl, credential }, http),
    refused: providerClient({ provider, baseUrl, credential: refused }, http),
  };
}

/**
 * `name`'s provider, started: the built-in forge for GitLab, the strict fakes for the rest (each
 * loaded only when asked for, so that the adapters' own tests do not load the forge).
 */
export function startProviderUnderTest(name: GitProviderName): Promise<ProviderUnderTest> {
  switch (name) {
    case "gitlab":
      return startGitLab();
    case "github":
      return startGitHub();
    case "bitbucket":
      return startBitbucket();
    case "gitea":
      return startGitea();
  }
}

async function startGitLab(): Promise<ProviderUnderTest> {
  const { startTestForge } = await import("./forge.ts");
  const { createWorkingCopy } = await import("./e2e.ts");
  const forge = await startTestForge();
  let work: Awaited<ReturnType<typeof createWorkingCopy>> | undefined;
  try {
    const owner = await forge.createUser("gina");
    const project = await forge.createProject(owner, "site");
    work = await createWorkingCopy(forge, project, owner.token);
    const head = await work.commit({ "index.html": "<h1>site</h1>\n" });
    await work.push("main");
    await work.push("main", "feature/x");
    const wrong = "glpat-not-a-real-token-0000";
    const made = clients(
      "gitlab",
      forge.url,
      { kind: "token", token: owner.token },
      { kind: "token", token: wrong },
    );
    return {
      name: "gitlab",
      ...made,
      secrets: [owner.token, wrong],
      repoPath: project.path_with_namespace,
      missingPath: "gina/missing",
      head,
      username: owner.username,
      async addRepos(count) {
        for (let i = 0; i < count; i += 10) {
          const batch = Array.from({ length: Math.min(10, count - i) }, (_, j) => i + j);
          await Promise.all(batch.map((n) => forge.createProject(owner, bulkName(n))));
        }
      },
      async addBranches(count) {
        // One push of every new branch.
        const names = Array.from({ length: count }, (_, i) => bulkName(i));
        await work!.push("main", names);
      },
      async commitFiles(files) {
        await work!.commit(files);
        await work!.push("main");
      },
      async storedKeys() {
        const keys = await forge.api<{ key: string; can_push: boolean }[]>(
          "GET",
          `/projects/${project.id}/deploy_keys`,
          { token: owner.token },
        );
        return keys.body.map((k) => ({ key: k.key, readOnly: !k.can_push }));
      },
      async storedStatuses(sha) {
        const statuses = await forge.api<{ name: string }[]>(
          "GET",
          `/projects/${project.id}/repository/commits/${sha}/statuses`,
          { token: owner.token },
        );
        return statuses.body.map((s) => s.name);
      },
      async close() {
        await work?.cleanup();
        await forge.stop();
      },
    };
  } catch (error) {
    await work?.cleanup();
    await forge.stop();
    throw error;
  }
}

async function startGitHub(): Promise<ProviderUnderTest> {
  const { startGitHubFake } = await import("../fakes/github/fake.ts");
  const gh = await startGitHubFake();
  try {
    gh.addUser("octo");
    await gh.addRepo("octo", "site", { private: true });
    const head = await gh.commit("octo/site", { "index.html": "<h1>site</h1>\n" });
    await gh.commit("octo/site", { "dev.txt": "dev\n" }, "feature/x");
    const token = gh.addClassicToken("octo", ["repo", "admin:repo_hook"]);
    const revoked = gh.addClassicToken("octo", ["repo", "admin:repo_hook"]);
    gh.revokeToken(revoked);
    const made = clients(
      "github",
      gh.url,
      { kind: "token", token },
      { kind: "token", token: revoked },
    );
    return {
      name: "github",
      ...made,
      secrets: [token, revoked],
      repoPath: "octo/site",
      missingPath: "octo/missing",
      head,
      username: "octo",
      async addRepos(count) {
        for (let i = 0; i < count; i++) await gh.addRepo("octo", bulkName(i), { private: true });
      },
      addBranches: (count) =>
        gh.addBranches(
          "octo/site",
          Array.from({ length: count }, (_, i) => bulkName(i)),
        ),
      commitFiles: async (files) => {
        await gh.commit("octo/site", files);
      },
      storedKeys: async () =>
        gh.repo("octo/site").keys.map((k) => ({ key: k.key, readOnly: k.readOnly })),
      storedStatuses: async (sha) =>
        gh
          .repo("octo/site")
          .statuses.filter((s) => s.sha === sha)
          .map((s) => s.context),
      close: () => gh.close(),
    };
  } catch (error) {
    await gh.close();
    throw error;
  }
}

async function startBitbucket(): Promise<ProviderUnderTest> {
  const { startBitbucketFake } = await import("../fakes/bitbucket/fake.ts");
  const bb = await startBitbucketFake();
  bb.addUser("alice");
  // The workspace is not the user name, as on bitbucket.org.
  bb.addRepo("alice", { workspace: "acme-web", slug: "site" });
  const head = bb.setBranch("acme-web/site", "main");
  bb.setBranch("acme-web/site", "feature/x");
  const password = bb.appPassword("alice");
  const made = clients(
    "bitbucket",
    bb.apiUrl,
    { kind: "app_password", username: "alice", password },
    { kind: "app_password", username: "alice", password: `${password}x` },
  );
  return {
    name: "bitbucket",
    ...made,
    secrets: [password],
    repoPath: "acme-web/site",
    missingPath: "acme-web/missing",
    head,
    username: "alice",
    addRepos: async (count) => {
      for (let i = 0; i < count; i++)
        bb.addRepo("alice", { workspace: "acme-web", slug: bulkName(i) });
    },
    addBranches: async (count) => {
      for (let i = 0; i < count; i++) bb.setBranch("acme-web/site", bulkName(i), head);
    },
    commitFiles: async (files) => {
      bb.commitFiles("acme-web/site", "main", files);
    },
    storedKeys: async () =>
      bb.deployKeys("acme-web/site").map((k) => ({ key: k.key, readOnly: true })),
    storedStatuses: async (sha) => bb.buildStatuses("acme-web/site", sha).map((s) => s.key),
    close: () => bb.close(),
  };
}

async function startGitea(): Promise<ProviderUnderTest> {
  const { startGiteaFake } = await import("../fakes/gitea/fake.ts");
  const gitea = await startGiteaFake();
  gitea.addUser("ada");
  gitea.addRepo("ada", { name: "site" });
  const head = gitea.setBranch("ada/site", "main");
  gitea.setBranch("ada/site", "feature/x");
  const token = gitea.token("ada");
  const revoked = gitea.token("ada");
  gitea.revoke(revoked);
  const made = clients(
    "gitea",
    gitea.baseUrl,
    { kind: "token", token },
    { kind: "token", token: revoked },
  );
  return {
    name: "gitea",
    ...made,
    secrets: [token, revoked],
    repoPath: "ada/site",
    missingPath: "ada/missing",
    head,
    username: "ada",
    addRepos: async (count) => {
      for (let i = 0; i < count; i++) gitea.addRepo("ada", { name: bulkName(i) });
    },
    addBranches: async (count) => {
      for (let i = 0; i < count; i++) gitea.setBranch("ada/site", bulkName(i), head);
    },
    commitFiles: async (files) => {
      gitea.commitFiles("ada/site", "main", files);
    },
    storedKeys: async () =>
      gitea.deployKeys("ada/site").map((k) => ({ key: k.key, readOnly: k.readOnly })),
    storedStatuses: async (sha) => gitea.statuses("ada/site", sha).map((s) => s.context),
    close: () => gitea.close(),
  };
}
