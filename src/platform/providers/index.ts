import { BitbucketClient } from "./bitbucket.ts";
import { GiteaClient } from "./gitea.ts";
import { GitHubClient } from "./github.ts";
import { GitLabClient } from "./gitlab.ts";
import type { ProviderHttp } from "./http.ts";
import type { ProviderClient, ProviderConnection } from "./types.ts";

export * from "./types.ts";

/** The adapter for a connection's provider. */
export function providerClient(connection: ProviderConnection, http: ProviderHttp): ProviderClient {
  switch (connection.provider) {
    case "gitlab":
      return new GitLabClient(connection, http);
    case "github":
      return new GitHubClient(connection, http);
    case "bitbucket":
      return new BitbucketClient(connection, http);
    case "gitea":
      return new GiteaClient(connection, http);
  }
}

/** The public API base URL of each provider, used when a connection names none. */
export const DEFAULT_BASE_URLS = {
  github: "https://api.github.com",
  gitlab: "https://gitlab.com",
  bitbucket: "https://api.bitbucket.org/2.0",
  gitea: undefined,
} as const;
