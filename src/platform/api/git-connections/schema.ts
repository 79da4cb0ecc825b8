import { Type, type Static } from "typebox";

export const GIT_PROVIDERS = ["github", "gitlab", "bitbucket", "gitea"] as const;

/**
 * `POST /git_connections`. One credential: `token` (GitLab, Gitea, GitHub; Bitbucket access
 * tokens), `username` + `app_password` (Bitbucket), or `app_id` + `private_key` (a GitHub App,
 * with its `webhook_secret` so that the App's webhooks build the sites linked through it).
 */
export const CreateGitConnectionBody = Type.Object({
  provider: Type.Enum([...GIT_PROVIDERS]),
  /** The provider's API base URL; required for Gitea, defaults to the public service otherwise. */
  base_url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  app_password: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  app_id: Type.Optional(Type.Integer({ minimum: 1 })),
  private_key: Type.Optional(Type.String({ minLength: 1, maxLength: 16_384 })),
  /** A GitHub App's webhook secret (App settings → Webhook secret), for App webhooks. */
  webhook_secret: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
});
export type CreateGitConnectionBody = Static<typeof CreateGitConnectionBody>;

export const GitConnectionParams = Type.Object({
  connection_id: Type.String({ maxLength: 100 }),
});
export type GitConnectionParams = Static<typeof GitConnectionParams>;

/** The account the connection is for (default: the caller's default account). */
export const CreateGitConnectionQuery = Type.Object({
  account_slug: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
});
export type CreateGitConnectionQuery = Static<typeof CreateGitConnectionQuery>;

/** Narrows the list to one of the caller's accounts (by id or slug). */
export const ListGitConnectionsQuery = Type.Object({
  account_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  account_slug: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
});
export type ListGitConnectionsQuery = Static<typeof ListGitConnectionsQuery>;

export const ListReposQuery = Type.Object({
  search: Type.Optional(Type.String({ maxLength: 255 })),
});
export type ListReposQuery = Static<typeof ListReposQuery>;

/** A repository of the connection: its path (URL-encoded, `group%2Fproject`) or the provider's id. */
export const ConnectionRepoParams = Type.Object({
  connection_id: Type.String({ maxLength: 100 }),
  repo: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type ConnectionRepoParams = Static<typeof ConnectionRepoParams>;

/** Narrows a branch list to the names containing `search`. */
export const ListBranchesQuery = Type.Object({
  search: Type.Optional(Type.String({ maxLength: 255 })),
});
export type ListBranchesQuery = Static<typeof ListBranchesQuery>;

/** `PATCH /git_connections/:id`: sets (or, with null, removes) a GitHub App's webhook secret. */
export const UpdateGitConnectionBody = Type.Object({
  webhook_secret: Type.Union([Type.String({ minLength: 1, maxLength: 1024 }), Type.Null()]),
});
export type UpdateGitConnectionBody = Static<typeof UpdateGitConnectionBody>;

/** `GET …/repos/:repo/build_settings`: the branch whose files are read (default: the repository's). */
export const BuildSettingsQuery = Type.Object({
  branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});
export type BuildSettingsQuery = Static<typeof BuildSettingsQuery>;
