import type { BuildSettingsPrefill } from "../../connections/build-settings.ts";
import type { AppWebhookView } from "../../connections/connections.ts";
import type { GitConnection } from "../../db/schema.ts";
import type { ProviderRepo } from "../../providers/types.ts";

/**
 * A provider connection, built field by field: the sealed credential can never slip into a
 * response (not even its kind's secret parts; `kind` says which sort of credential it is).
 * A GitHub App connection also shows `webhook_url` (to paste into the App's settings) and
 * `webhook_secret_set`.
 */
export function presentGitConnection(connection: GitConnection, appWebhook?: AppWebhookView) {
  return {
    id: connection.id,
    account_id: connection.account_id,
    provider: connection.provider,
    base_url: connection.base_url,
    kind: connection.kind,
    remote_identity: connection.remote_identity,
    created_by: connection.created_by,
    created_at: connection.created_at,
    updated_at: connection.updated_at,
    last_checked_at: connection.last_checked_at,
    last_error: connection.last_error,
    ...(appWebhook === undefined
      ? {}
      : { webhook_url: appWebhook.webhookUrl, webhook_secret_set: appWebhook.secretSet }),
  };
}

/** A connection's JSON (`GET /git_connections`). */
export type GitConnectionJson = ReturnType<typeof presentGitConnection>;

/** A repository the connection can reach, with what `POST /sites` needs to link it. */
export function presentProviderRepo(repo: ProviderRepo) {
  return {
    id: repo.id,
    full_path: repo.fullPath,
    ssh_url: repo.sshUrl,
    https_url: repo.httpsUrl,
    web_url: repo.webUrl,
    default_branch: repo.defaultBranch,
    private: repo.private,
  };
}

/** A repository the connection reaches. */
export type ProviderRepoJson = ReturnType<typeof presentProviderRepo>;

/** A branch of a repository the connection reaches; `default` marks the repository's default. */
export function presentBranch(name: string, defaultBranch: string) {
  return { name, default: name === defaultBranch };
}

/** A branch of such a repository. */
export type BranchJson = ReturnType<typeof presentBranch>;

/** The link form's prefill: exactly these fields (the dashboard reads this shape). */
export function presentBuildSettings(prefill: BuildSettingsPrefill) {
  return {
    framework:
      prefill.framework === null
        ? null
        : { id: prefill.framework.id, name: prefill.framework.name },
    cmd: prefill.cmd,
    dir: prefill.dir,
    base: prefill.base,
    source: prefill.source,
  };
}

/** The link form's prefill. */
export type BuildSettingsJson = ReturnType<typeof presentBuildSettings>;
