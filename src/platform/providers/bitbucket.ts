import type { ProviderHttp } from "./http.ts";
import type { ProviderConnection } from "./types.ts";

// Placeholder until the adapter is written; replaced in full by its author.
export class BitbucketClient {
  readonly provider = "bitbucket" as const;
  constructor(
    readonly connection: ProviderConnection,
    readonly http: ProviderHttp,
  ) {}
}
