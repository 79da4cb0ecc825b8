import { Type, type Static } from "typebox";

export const PROVIDERS = ["gitlab", "github", "bitbucket", "gitea", "git", "manual"] as const;

/**
 * Netlify's `repoInfo` (`repo` on create and update; `build_settings` is accepted too). Strings
 * are length-capped here; their contents are checked by the service, which says why a value is
 * refused. An empty string clears an optional setting.
 */
export const RepoBody = Type.Object({
  /** `manual` is what `netlify-cli` sends for a hand-typed URL; it means `git`. */
  provider: Type.Optional(Type.Enum([...PROVIDERS])),
  repo_url: Type.Optional(Type.String({ maxLength: 2048 })),
  repo_path: Type.Optional(Type.String({ maxLength: 2048 })),
  /** The provider's repository id: an integer (GitHub, GitLab) or `workspace/repo` (Bitbucket). */
  id: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 255 })])),
  repo_branch: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  cmd: Type.Optional(Type.String({ maxLength: 10_000 })),
  dir: Type.Optional(Type.String({ maxLength: 1024 })),
  base: Type.Optional(Type.String({ maxLength: 1024 })),
  deploy_key_id: Type.Optional(Type.String({ maxLength: 100 })),
  /** A GitHub App installation of one of the account's own Apps (null: none). */
  installation_id: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()]),
  ),
  /**
   * Slipway's addition: the account's git connection to link through (then Slipway installs the
   * deploy key and webhook itself). Without it, the account's only connection for the provider
   * and host is used when there is no `deploy_key_id`.
   */
  connection_id: Type.Optional(Type.String({ maxLength: 100 })),
  allowed_branches: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 100 }),
  ),
  env: Type.Optional(
    Type.Record(Type.String(), Type.String({ maxLength: 32_768 }), { maxProperties: 200 }),
  ),
  stop_builds: Type.Optional(Type.Boolean()),
  /** Slipway's addition: false runs the build command with no network at all. */
  build_network: Type.Optional(Type.Boolean()),
  /** Slipway's addition: false ignores pull/merge requests (no deploy previews). */
  deploy_previews: Type.Optional(Type.Boolean()),
});
export type RepoBody = Static<typeof RepoBody>;

/** Netlify's `siteSetup`; unknown fields (the CLI sends `plugins`, `repo.repo_type`) are ignored. */
export const SiteSetupBody = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 255 })),
  /** The site's primary domain (null or "" removes it); IDNA names are accepted. */
  custom_domain: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
  /** More names that serve the site; `*.example.com` is allowed. Replaces the list. */
  domain_aliases: Type.Optional(Type.Array(Type.String({ maxLength: 2048 }), { maxItems: 100 })),
  force_ssl: Type.Optional(Type.Boolean()),
  /** Slipway's addition: HSTS max-age in seconds (null or 0: off). */
  hsts_max_age: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  /** Netlify's visitor password (write-only; null or "" removes it). */
  password: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
  /** Slipway's addition: which deploys the password protects (default `all`). */
  password_context: Type.Optional(Type.Enum(["all", "non_production"])),
  repo: Type.Optional(RepoBody),
  build_settings: Type.Optional(RepoBody),
});
export type SiteSetupBody = Static<typeof SiteSetupBody>;

export const SiteParams = Type.Object({ site_id: Type.String({ maxLength: 255 }) });
export type SiteParams = Static<typeof SiteParams>;

export const AccountParams = Type.Object({ account_slug: Type.String({ maxLength: 100 }) });
export type AccountParams = Static<typeof AccountParams>;

export const ListSitesQuery = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 255 })),
  filter: Type.Optional(Type.Enum(["all", "owner", "guest"])),
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
export type ListSitesQuery = Static<typeof ListSitesQuery>;

/** `GET /sites/:id?feature_flags=cli` is what the CLI sends; the flags are accepted and ignored. */
export const GetSiteQuery = Type.Object({
  feature_flags: Type.Optional(Type.String({ maxLength: 255 })),
});
