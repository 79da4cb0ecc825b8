import type { AccessTokenRow } from "../../accounts/access-tokens.ts";

/** A personal access token without its secret (`token` is added once, at creation). */
export function presentAccessToken(row: AccessTokenRow, currentTokenId?: string) {
  return {
    id: row.id,
    name: row.name,
    created_at: row.created_at,
    expires_at: row.expires_at,
    last_used_at: row.last_used_at,
    scope: row.scope,
    current: row.id === currentTokenId,
  };
}

/** A token's JSON (`GET /access_tokens`). */
export type AccessTokenJson = ReturnType<typeof presentAccessToken>;
