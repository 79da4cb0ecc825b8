import assert from "node:assert/strict";
import { generateKeyPairSync, verify } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startGitHubFake, type GitHubFake } from "../../../test/fakes/github/fake.ts";
import { fetchRepository, GitFetchError } from "../repos/git-fetch.ts";
import { MemoryHostKeyStore } from "../repos/host-keys.ts";
import { GitHubClient } from "./github.ts";
import { appJwt, InstallationTokenCache, parseAppPrivateKey } from "./github-app.ts";
import { loopbackHttp, refusalCheck } from "../../../test/helpers/providers.ts";
import { ProviderError } from "./types.ts";

/**
 * The GitHub App flow with a real RSA key: JWT → installation (which must be this App's) →
 * installation token → HTTPS clone of a private repository through the platform's own fetch
 * code, the token reaching git only through its environment.
 */

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PEM = privateKey.export({ format: "pem", type: "pkcs1" }).toString();
const http = loopbackHttp();
const refusal = refusalCheck();

const decode = (part: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;

describe("GitHub App JWT", () => {
  it("is RS256, issued 60 s in the past, valid under 10 minutes, issued by the App", () => {
    const now = new Date("2024-05-01T12:00:00Z");
    const jwt = appJwt(4242, PEM, now);
    const [header, payload, signature] = jwt.split(".") as [string, string, string];
    assert.deepEqual(decode(header), { alg: "RS256", typ: "JWT" });
    const claims = decode(payload);
    const nowS = now.getTime() / 1000;
    assert.equal(claims.iss, 4242);
    assert.equal(claims.iat, nowS - 60);
    assert.ok(typeof claims.exp === "number" && claims.exp > nowS);
    assert.ok((claims.exp as number) - nowS <= 600, "exp at most 10 minutes ahead");
    const signed = verify(
      "sha256",
      Buffer.from(`${header}.${payload}`),
      publicKey,
      Buffer.from(signature, "base64url"),
    );
    assert.equal(signed, true);
    // Another key does not verify it.
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    assert.equal(
      verify(
        "sha256",
        Buffer.from(`${header}.${payload}`),
        other,
        Buffer.from(signature, "base64url"),
      ),
      false,
    );
  });

  it("accepts PKCS#1 and PKCS#8 RSA keys and refuses anything else with a hint", () => {
    assert.equal(parseAppPrivateKey(PEM).asymmetricKeyType, "rsa");
    assert.equal(
      parseAppPrivateKey(privateKey.export({ format: "pem", type: "pkcs8" }).toString())
        .asymmetricKeyType,
      "rsa",
    );
    for (const bad of [
      "",
      "not a key",
      "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
    ]) {
      assert.throws(
        () => parseAppPrivateKey(bad),
        (e: unknown) => e instanceof ProviderError && e.kind === "invalid" && /\.pem/.test(e.hint),
      );
    }
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    assert.throws(() => parseAppPrivateKey(ec), /not an RSA key/);
  });
});

describe("installation token cache", () => {
  const credentials = { baseUrl: "https://api.github.com", appId: 1, privateKey: PEM };
  const scope = { installationId: 7 };

  it("reuses a token until shortly before it expires, then mints a new one", async () => {
    let clock = Date.parse("2024-05-01T12:00:00Z");
    const cache = new InstallationTokenCache(() => clock);
    let minted = 0;
    const mint = async () => ({
      token: `t${++minted}`,
      expiresAt: new Date(clock + 3600_000).toISOString(),
    });
    assert.equal((await cache.get(credentials, scope, mint)).token, "t1");
    clock += 50 * 60_000;
    assert.equal((await cache.get(credentials, scope, mint)).token, "t1");
    clock += 6 * 60_000; // 4 minutes left: too short for a long fetch
    assert.equal((await cache.get(credentials, scope, mint)).token, "t2");
  });

  it("shares one mint between concurrent requests, and keeps credentials and scopes apart", async () => {
    const cache = new InstallationTokenCache();
    let minted = 0;
    const mint = async () => {
      await new Promise((r) => setTimeout(r, 10));
      return { token: `t${++minted}`, expiresAt: new Date(Date.now() + 3600_000).toISOString() };
    };
    const tokens = await Promise.all([1, 2, 3].map(() => cache.get(credentials, scope, mint)));
    assert.deepEqual(
      tokens.map((t) => t.token),
      ["t1", "t1", "t1"],
    );
    // Same App id, another private key: never the cached token.
    const other = { ...credentials, privateKey: `${PEM} ` };
    assert.equal((await cache.get(other, scope, mint)).token, "t2");
    assert.equal(
      (await cache.get(credentials, { installationId: 7, repositoryIds: [1] }, mint)).token,
      "t3",
    );
    // A failed mint is not cached.
    await assert.rejects(
      cache.get(credentials, { installationId: 8 }, () => Promise.reject(new Error("no"))),
    );
    assert.equal((await cache.get(credentials, { installationId: 8 }, mint)).token, "t4");
  });
});

describe("GitHub App flow against the fake: JWT → installation token → HTTPS clone", () => {
  let gh: GitHubFake;
  let work: string;
  let appId = 0;
  let installationId = 0;
  let foreignInstallation = 0;
  let client: GitHubClient;
  let sha = "";

  before(async () => {
    gh = await startGitHubFake();
    work = await mkdtemp(join(tmpdir(), "slipway-gh-app-"));
    await gh.addRepo("octo", "site", { private: true });
    await gh.addRepo("octo", "other", { private: true });
    sha = await gh.commit("octo/site", { "index.html": "<h1>from GitHub</h1>\n" });
    await gh.commit("octo/other", { "x.txt": "x\n" });
    appId = gh.addApp({ slug: "slipway", owner: "octo", publicKey }).id;
    installationId = gh.installApp(appId, "octo", { repositories: ["octo/site"] }).id;
    // Someone else's App, installed on the same account.
    const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    const foreignApp = gh.addApp({ slug: "stranger", owner: "mallory", publicKey: stranger }).id;
    foreignInstallation = gh.installApp(foreignApp, "octo").id;
    client = new GitHubClient(
      {
        provider: "github",
        baseUrl: gh.url,
        credential: { kind: "github_app", appId, privateKey: PEM },
      },
      http,
      new InstallationTokenCache(),
    );
  });
  after(async () => {
    await gh?.close();
    await rm(work, { recursive: true, force: true });
  });

  let counter = 0;
  const fetchWith = (
    credentials: { username: string; password: string; refusedMessage?: string } | undefined,
    repo = "octo/site",
  ) =>
    fetchRepository({
      repoUrl: `${gh.gitUrl}/${repo}.git`,
      ...(credentials ? { httpsCredentials: credentials } : {}),
      caFile: gh.caFile,
      hostKeys: new MemoryHostKeyStore(),
      allowPrivateNetwork: (host, address) => host === "localhost" && address === "127.0.0.1",
      branch: "main",
      mirrorDir: join(work, `mirror-${++counter}`),
      checkoutDir: join(work, `checkout-${counter}`),
      tempRoot: work,
      timeoutMs: 30_000,
    });

  it("mints clone credentials for an installation of this App, limited to reading one repository", async () => {
    const repo = await client.installationRepo(installationId, "octo/site");
    assert.equal(repo.fullPath, "octo/site");
    const credentials = await client.cloneCredentials(installationId, repo);
    assert.equal(credentials.username, "x-access-token");
    assert.match(credentials.password, /^ghs_/);
    assert.ok(Date.parse(credentials.expiresAt ?? "") > Date.now() + 50 * 60_000);
    // Cached: a second call mints nothing.
    const mints = gh.requests.filter((r) => r.path.endsWith("/access_tokens")).length;
    assert.equal(
      (await client.cloneCredentials(installationId, repo)).password,
      credentials.password,
    );
    assert.equal(gh.requests.filter((r) => r.path.endsWith("/access_tokens")).length, mints);
    // The token reads the repository's contents and nothing else.
    const res = await fetch(`${gh.url}/repos/octo/site/hooks`, {
      headers: { authorization: `Bearer ${credentials.password}`, "user-agent": "test" },
    });
    assert.equal(res.status, 403);
    const other = await fetch(`${gh.url}/repos/octo/other`, {
      headers: { authorization: `Bearer ${credentials.password}`, "user-agent": "test" },
    });
    assert.equal(other.status, 404);
  });

  it("refuses an installation of another App as forbidden, as GitHub hides it (404)", async () => {
    const error = await refusal(client.cloneCredentials(foreignInstallation), "forbidden");
    assert.match(
      error.message,
      new RegExp(`installation ${foreignInstallation} does not belong to the GitHub App ${appId}`),
    );
    await refusal(client.cloneCredentials(987654), "forbidden");
    await refusal(client.installationRepo(installationId, "octo/other"), "not_found");
  });

  it("refuses a suspended installation", async () => {
    gh.suspendInstallation(installationId, true);
    try {
      const error = await refusal(client.installation(installationId), "forbidden");
      assert.match(error.message, /suspended/);
    } finally {
      gh.suspendInstallation(installationId, false);
    }
  });

  it("a PAT connection has no installations", async () => {
    const pat = new GitHubClient(
      { provider: "github", baseUrl: gh.url, credential: { kind: "token", token: "ghp_x" } },
      http,
    );
    await refusal(pat.cloneCredentials(installationId), "invalid");
  });

  it("clones the private repository over HTTPS with the token, which never shows in argv, URL or log", async () => {
    const repo = await client.installationRepo(installationId, "octo/site");
    const credentials = await client.cloneCredentials(installationId, repo);
    const seen: string[] = [];
    let sawHeaderInEnv = false;
    let sampling = true;
    const basic = Buffer.from(`x-access-token:${credentials.password}`).toString("base64");
    const sample = async () => {
      while (sampling) {
        for (const pid of await descendants(process.pid)) {
          const cmdline = await readFile(`/proc/${pid}/cmdline`, "latin1").catch(() => "");
          if (cmdline.includes(credentials.password) || cmdline.includes(basic)) seen.push(cmdline);
          const environ = await readFile(`/proc/${pid}/environ`, "latin1").catch(() => "");
          if (environ.includes(`GIT_CONFIG_VALUE_0=Authorization: Basic ${basic}`)) {
            sawHeaderInEnv = true;
          }
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    const logs: string[] = [];
    const sampler = sample();
    gh.delayGit(300); // git's processes live long enough to be watched, even on a busy machine
    let result;
    try {
      result = await fetchRepository({
        repoUrl: repo.httpsUrl,
        httpsCredentials: credentials,
        caFile: gh.caFile,
        hostKeys: new MemoryHostKeyStore(),
        allowPrivateNetwork: (host, address) => host === "localhost" && address === "127.0.0.1",
        branch: "main",
        mirrorDir: join(work, "mirror-main"),
        checkoutDir: join(work, "checkout-main"),
        tempRoot: work,
        timeoutMs: 30_000,
        onLog: (line) => logs.push(line),
      });
    } finally {
      gh.delayGit(0);
      sampling = false;
      await sampler;
    }
    assert.equal(result.sha, sha);
    assert.equal(
      await readFile(join(work, "checkout-main", "index.html"), "utf8"),
      "<h1>from GitHub</h1>\n",
    );
    assert.deepEqual(seen, [], "the token appeared in a process's arguments");
    assert.ok(sawHeaderInEnv, "the sampler saw git's environment carry the header");
    assert.ok(
      gh.gitRequests.some((r) => r.path === "/octo/site.git/git-upload-pack" && r.authorized),
    );
    const text = logs.join("\n");
    assert.doesNotMatch(text, new RegExp(credentials.password));
    assert.doesNotMatch(text, new RegExp(basic.replace(/[+/=]/g, "\\$&")));
    assert.match(text, /Using HTTPS credentials for localhost \(x-access-token\)/);
  });

  it("says the installation lost access when GitHub refuses the token, and without one asks for none", async () => {
    const repo = await client.installationRepo(installationId, "octo/site");
    const credentials = await client.cloneCredentials(installationId, repo);
    gh.setInstallationRepositories(installationId, ["octo/other"]);
    try {
      const refusedMessage = "The GitHub App installation no longer has access to octo/site.";
      let error: unknown;
      await fetchWith({ ...credentials, refusedMessage }).catch((e: unknown) => (error = e));
      assert.ok(error instanceof GitFetchError, String(error));
      assert.equal(error.code, "auth_failed");
      assert.equal(error.message, refusedMessage);
      assert.doesNotMatch(`${error.message}\n${error.detail}`, new RegExp(credentials.password));
      // A new token for that repository is refused by GitHub itself.
      const mintRefused = await refusal(
        new GitHubClient(
          {
            provider: "github",
            baseUrl: gh.url,
            credential: { kind: "github_app", appId, privateKey: PEM },
          },
          http,
          new InstallationTokenCache(),
        ).cloneCredentials(installationId, repo),
        "forbidden",
      );
      assert.match(mintRefused.message, /no longer has access to octo\/site/);
    } finally {
      gh.setInstallationRepositories(installationId, ["octo/site"]);
    }
    let anonymous: unknown;
    await fetchWith(undefined).catch((e: unknown) => (anonymous = e));
    assert.ok(anonymous instanceof GitFetchError);
    assert.equal(anonymous.code, "auth_failed");
  });

  it("the fake keeps JWTs off repository endpoints and installation tokens off /app", async () => {
    const jwt = appJwt(appId, PEM);
    const onRepo = await fetch(`${gh.url}/repos/octo/site`, {
      headers: { authorization: `Bearer ${jwt}`, "user-agent": "t" },
    });
    assert.equal(onRepo.status, 403);
    const token = (await client.cloneCredentials(installationId)).password;
    const onApp = await fetch(`${gh.url}/app`, {
      headers: { authorization: `Bearer ${token}`, "user-agent": "t" },
    });
    assert.equal(onApp.status, 401);
  });
});

/** Every process below `pid`, from the kernel's child lists (cheap on a busy machine). */
async function descendants(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    const text = await readFile(`/proc/${pid}/task/${tid}/children`, "latin1").catch(() => "");
    for (const child of text
      .split(" ")
      .filter((p) => p !== "")
      .map(Number)) {
      found.push(child, ...(await descendants(child)));
    }
  }
  return found;
}
