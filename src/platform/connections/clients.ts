import type { PlatformContext } from "../context.ts";
import type { GitConnection } from "../db/schema.ts";
import { createProviderHttp, type ProviderHttp } from "../providers/http.ts";
import { providerClient } from "../providers/index.ts";
import type { ProviderClient, ProviderCredential } from "../providers/types.ts";

/** A connection's credential is sealed with the master key, bound to the connection's id. */
export const credentialContext = (connectionId: string): string => `git_connection:${connectionId}`;

interface StoredCredential {
  kind: ProviderCredential["kind"];
  token?: string;
  username?: string;
  password?: string;
  app_id?: number;
  private_key?: string;
  /** A GitHub App's webhook secret (absent in rows stored before App webhooks existed). */
  webhook_secret?: string;
}

/** `webhookSecret`: a GitHub App's webhook secret, sealed with the App's credential. */
export function sealCredential(
  ctx: Pick<PlatformContext, "secrets">,
  connectionId: string,
  credential: ProviderCredential,
  webhookSecret?: string,
): string {
  const stored: StoredCredential =
    credential.kind === "token"
      ? { kind: "token", token: credential.token }
      : credential.kind === "app_password"
        ? { kind: "app_password", username: credential.username, password: credential.password }
        : {
            kind: "github_app",
            app_id: credential.appId,
            private_key: credential.privateKey,
            ...(webhookSecret === undefined ? {} : { webhook_secret: webhookSecret }),
          };
  return ctx.secrets.seal(JSON.stringify(stored), credentialContext(connectionId));
}

function openStored(
  ctx: Pick<PlatformContext, "secrets">,
  connection: Pick<GitConnection, "id" | "credential_sealed">,
): StoredCredential {
  return JSON.parse(
    ctx.secrets.open(connection.credential_sealed, credentialContext(connection.id)),
  ) as StoredCredential;
}

/** The GitHub App webhook secret stored with a connection, or null (none set, or not an App). */
export function openAppWebhookSecret(
  ctx: Pick<PlatformContext, "secrets">,
  connection: Pick<GitConnection, "id" | "credential_sealed">,
): string | null {
  const stored = openStored(ctx, connection);
  return stored.kind === "github_app" && typeof stored.webhook_secret === "string"
    ? stored.webhook_secret
    : null;
}

export function openCredential(
  ctx: Pick<PlatformContext, "secrets">,
  connection: Pick<GitConnection, "id" | "credential_sealed">,
): ProviderCredential {
  const stored = openStored(ctx, connection);
  switch (stored.kind) {
    case "token":
      return { kind: "token", token: stored.token ?? "" };
    case "app_password":
      return {
        kind: "app_password",
        username: stored.username ?? "",
        password: stored.password ?? "",
      };
    case "github_app":
      return {
        kind: "github_app",
        appId: stored.app_id ?? 0,
        privateKey: stored.private_key ?? "",
      };
  }
}

/** HTTP for adapters under the platform's private-network policy. */
export function platformProviderHttp(
  ctx: Pick<PlatformContext, "resolveHost" | "config">,
): ProviderHttp {
  return createProviderHttp({
    resolveHost: ctx.resolveHost,
    allowedPrivateHosts: ctx.config.allowedPrivateRepoHosts,
    userAgent: "Slipway",
  });
}

/** The adapter for a stored connection, with its credential opened. */
export function connectionClient(ctx: PlatformContext, connection: GitConnection): ProviderClient {
  return providerClient(
    {
      provider: connection.provider,
      baseUrl: connection.base_url,
      credential: openCredential(ctx, connection),
    },
    platformProviderHttp(ctx),
  );
}
