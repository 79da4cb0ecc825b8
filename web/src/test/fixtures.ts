import type { Site } from "../lib/types.ts";

/** A linked site as the API shows it, with `overrides` on top. */
export function siteFixture(overrides: Partial<Site> = {}): Site {
  return {
    id: "5e0d6c1a-0000-4000-8000-000000000001",
    name: "docs",
    url: "http://docs.localhost:8080",
    admin_url: "http://127.0.0.1:8080/sites/docs",
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    account_id: "a1",
    account_slug: "ada",
    account_name: "Ada",
    git_provider: "gitlab",
    git_webhook: null,
    build_settings: {
      provider: "gitlab",
      repo_url: "ssh://git@git.example/ada/docs.git",
      repo_path: "ada/docs",
      repo_branch: "main",
      cmd: "npm run build",
      dir: "dist",
      base: null,
      deploy_key_id: "k1",
      allowed_branches: ["main"],
      env_keys: [],
      stop_builds: false,
      build_network: true,
      deploy_previews: true,
    },
    published_deploy: null,
    git_connection_id: null,
    link_broken_reason: null,
    custom_domain: null,
    domain_aliases: [],
    ssl: false,
    ssl_url: "http://docs.localhost:8080",
    force_ssl: false,
    hsts_max_age: null,
    ...overrides,
  };
}
