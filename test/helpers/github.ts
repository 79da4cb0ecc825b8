import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { startGitHubFake, type GitHubFake } from "../fakes/github/fake.ts";
import { startTestPlatform, type ApiResponse, type TestPlatform } from "./platform.ts";

/** The GitHub fake and a platform that may reach it: its API, git over HTTPS (its CA) and SSH. */
export async function startGitHubAndPlatform(): Promise<{ gh: GitHubFake; t: TestPlatform }> {
  const gh = await startGitHubFake();
  try {
    const t = await startTestPlatform({
      config: { allowedPrivateRepoHosts: ["127.0.0.1", "localhost"] },
      platform: { gitCaFile: gh.caFile },
    });
    return { gh, t };
  } catch (error) {
    await gh.close();
    throw error;
  }
}

export interface InstalledApp {
  appId: number;
  /** The App's private key, as an account connects with it. */
  pem: string;
  installationId: number;
}

/**
 * A GitHub App with a fresh RSA key, owned by `owner` and installed on `account`'s
 * `repositories` (all of them when left out).
 */
export function addInstalledApp(
  gh: GitHubFake,
  app: { slug: string; owner: string; account: string; repositories?: string[] },
): InstalledApp {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const appId = gh.addApp({ slug: app.slug, owner: app.owner, publicKey }).id;
  const installation = gh.installApp(appId, app.account, { repositories: app.repositories });
  return {
    appId,
    pem: privateKey.export({ format: "pem", type: "pkcs1" }).toString(),
    installationId: installation.id,
  };
}

/**
 * Connects the caller's account to an installed App (`POST /git_connections` with the App's id
 * and private key, `settings` on top), which must succeed; returns the answer.
 */
export async function connectGitHubApp<T = { id: string }>(
  t: TestPlatform,
  gh: GitHubFake,
  app: InstalledApp,
  token: string,
  settings: Record<string, unknown> = {},
): Promise<ApiResponse<T>> {
  const made = await t.api<T>("POST", "/git_connections", {
    token,
    body: {
      provider: "github",
      base_url: gh.url,
      app_id: app.appId,
      private_key: app.pem,
      ...settings,
    },
  });
  assert.equal(made.status, 201, made.text);
  return made;
}
