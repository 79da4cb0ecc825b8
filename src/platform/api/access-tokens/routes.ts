import {
  createPersonalToken,
  listAccessTokens,
  revokeAccessToken,
} from "../../accounts/access-tokens.ts";
import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { presentAccessToken } from "./presenter.ts";
import { AccessTokenParams, CreateAccessTokenBody } from "./schema.ts";

/**
 * The caller's personal access tokens (Slipway's addition, like Netlify's "Personal access
 * tokens" page): list (`current` marks the one making the request), create (the token is in
 * this one response only), revoke.
 */
export function accessTokenRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.get("/access_tokens", async (request) => {
    const actor = requireActor(request);
    return (await listAccessTokens(ctx, actor)).map((row) =>
      presentAccessToken(row, actor.tokenId),
    );
  });

  app.post(
    "/access_tokens",
    { schema: { body: CreateAccessTokenBody } },
    async (request, reply) => {
      const actor = requireActor(request);
      const created = await createPersonalToken(ctx, actor, {
        name: request.body.name,
        expiresInDays: request.body.expires_in_days,
        expiresAt: request.body.expires_at,
        scope: request.body.scope,
      });
      request.log.info({ userId: actor.user.id, tokenId: created.row.id }, "access token created");
      return reply
        .code(201)
        .header("cache-control", "no-store")
        .send({ ...presentAccessToken(created.row), token: created.token });
    },
  );

  app.delete(
    "/access_tokens/:token_id",
    { schema: { params: AccessTokenParams } },
    async (request, reply) => {
      const actor = requireActor(request);
      await revokeAccessToken(ctx, actor, request.params.token_id);
      request.log.info(
        { userId: actor.user.id, tokenId: request.params.token_id },
        "access token revoked",
      );
      return reply.code(204).send();
    },
  );
}
