import type { PlatformContext } from "../../context.ts";
import type { GitConnection } from "../../db/schema.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { notFound } from "../../errors.ts";
import { defaultAccountId, visibleAccountIds } from "../../accounts/policies.ts";
import { findAccountForActor } from "../../accounts/accounts.ts";
import {
  presentBranch,
  presentBuildSettings,
  presentGitConnection,
  presentProviderRepo,
} from "./presenter.ts";
import { prefillBuildSettings } from "../../connections/build-settings.ts";
import {
  BuildSettingsQuery,
  ConnectionRepoParams,
  CreateGitConnectionBody,
  CreateGitConnectionQuery,
  GitConnectionParams,
  ListGitConnectionsQuery,
  ListBranchesQuery,
  ListReposQuery,
  UpdateGitConnectionBody,
} from "./schema.ts";
import {
  appWebhookView,
  createGitConnection,
  deleteGitConnection,
  findGitConnection,
  listConnectionBranches,
  listConnectionRepos,
  listGitConnections,
  setAppWebhookSecret,
} from "../../connections/connections.ts";

/**
 * An account's credentials at git providers (`/git_connections`): checked at the provider
 * when saved, stored sealed, never returned. Sites linked through one get their deploy key
 * and webhook installed by Slipway.
 */
export function gitConnectionRoutes(app: PlatformApp, ctx: PlatformContext): void {
  const present = (connection: GitConnection) =>
    presentGitConnection(connection, appWebhookView(ctx, connection));

  app.post(
    "/git_connections",
    { schema: { querystring: CreateGitConnectionQuery, body: CreateGitConnectionBody } },
    async (request, reply) => {
      const actor = requireActor(request);
      const slug = request.query.account_slug;
      const accountId =
        slug === undefined
          ? defaultAccountId(actor)
          : (await findAccountForActor(ctx, actor, slug)).id;
      const connection = await createGitConnection(ctx, actor, accountId, request.body);
      request.log.info(
        {
          connectionId: connection.id,
          provider: connection.provider,
          baseUrl: connection.base_url,
          identity: connection.remote_identity,
        },
        "git connection created",
      );
      return reply.code(201).send(present(connection));
    },
  );

  app.get(
    "/git_connections",
    { schema: { querystring: ListGitConnectionsQuery } },
    async (request) => {
      const actor = requireActor(request);
      const { account_id: accountId, account_slug: slug } = request.query;
      let accountIds = visibleAccountIds(actor);
      if (slug !== undefined) accountIds = [(await findAccountForActor(ctx, actor, slug)).id];
      if (accountId !== undefined) {
        if (!accountIds.includes(accountId)) throw notFound("Account");
        accountIds = [accountId];
      }
      return (await listGitConnections(ctx, actor, accountIds)).map(present);
    },
  );

  app.get(
    "/git_connections/:connection_id",
    { schema: { params: GitConnectionParams } },
    async (request) =>
      present(await findGitConnection(ctx, requireActor(request), request.params.connection_id)),
  );

  app.patch(
    "/git_connections/:connection_id",
    { schema: { params: GitConnectionParams, body: UpdateGitConnectionBody } },
    async (request) => {
      const connection = await setAppWebhookSecret(
        ctx,
        requireActor(request),
        request.params.connection_id,
        request.body.webhook_secret,
      );
      request.log.info({ connectionId: connection.id }, "git connection webhook secret changed");
      return present(connection);
    },
  );

  app.delete(
    "/git_connections/:connection_id",
    { schema: { params: GitConnectionParams } },
    async (request, reply) => {
      await deleteGitConnection(ctx, requireActor(request), request.params.connection_id);
      request.log.info({ connectionId: request.params.connection_id }, "git connection deleted");
      return reply.code(204).send();
    },
  );

  app.get(
    "/git_connections/:connection_id/repos",
    { schema: { params: GitConnectionParams, querystring: ListReposQuery } },
    async (request) => {
      const connection = await findGitConnection(
        ctx,
        requireActor(request),
        request.params.connection_id,
      );
      const repos = await listConnectionRepos(ctx, connection, request.query.search);
      return repos.map(presentProviderRepo);
    },
  );

  // Slipway's addition: the branches of one of those repositories (default branch first).
  app.get(
    "/git_connections/:connection_id/repos/:repo/branches",
    { schema: { params: ConnectionRepoParams, querystring: ListBranchesQuery } },
    async (request) => {
      const connection = await findGitConnection(
        ctx,
        requireActor(request),
        request.params.connection_id,
      );
      const { repo, branches } = await listConnectionBranches(
        ctx,
        connection,
        request.params.repo,
        request.query.search,
      );
      return branches.map((name) => presentBranch(name, repo.defaultBranch));
    },
  );

  // Slipway's addition: the build command, publish and base directory the repository's files
  // suggest (netlify.toml over framework detection), to prefill the link form.
  app.get(
    "/git_connections/:connection_id/repos/:repo/build_settings",
    { schema: { params: ConnectionRepoParams, querystring: BuildSettingsQuery } },
    async (request) => {
      const connection = await findGitConnection(
        ctx,
        requireActor(request),
        request.params.connection_id,
      );
      return presentBuildSettings(
        await prefillBuildSettings(ctx, connection, request.params.repo, request.query.branch),
      );
    },
  );
}
