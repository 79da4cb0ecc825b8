import type { FastifyReply, FastifyRequest } from "fastify";
import { cancelBuild, FINISHED_BUILD_STATES, requestBuild } from "../../builds/service.ts";
import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { invalidField } from "../../errors.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { authorize } from "../../accounts/policies.ts";
import { SiteParams } from "../sites/schema.ts";
import { readRepoSettings } from "../../sites/repo-settings.ts";
import { findSite } from "../../sites/sites.ts";
import { presentBuild, presentLogLine } from "./presenter.ts";
import {
  BuildLogQuery,
  BuildLogStreamQuery,
  BuildParams,
  CreateBuildBody,
  CreateBuildQuery,
  ListBuildsQuery,
} from "./schema.ts";
import { findBuild, listSiteBuilds, readLogLines } from "../../builds/queries.ts";
import { logWrittenOrTimeout } from "../../builds/log-written.ts";
import { isFinalLogLine, MAX_STORED_LINES } from "../../builds/build-log.ts";

/** How often the live log polls the database (no shared in-memory state: scale-out ready). */
const STREAM_POLL_MS = 250;
const STREAM_KEEPALIVE_MS = 15_000;
const END_GRACE_MS = 5000;

export function buildRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.get(
    "/sites/:site_id/builds",
    { schema: { params: SiteParams, querystring: ListBuildsQuery } },
    async (request, reply) => {
      const site = await findSite(ctx, requireActor(request), request.params.site_id);
      const page = readPage(request.query);
      const { builds, total } = await listSiteBuilds(ctx, site.id, page.offset, page.perPage);
      setPaginationHeaders(request, reply, ctx.config.publicUrl, page, total);
      return builds.map(presentBuild);
    },
  );

  // Netlify's createSiteBuild: a manual build of a branch (default: the production branch).
  app.post(
    "/sites/:site_id/builds",
    {
      schema: { params: SiteParams, querystring: CreateBuildQuery, body: CreateBuildBody },
      // Netlify's clients post without a body as often as with one.
      preValidation: async (request: FastifyRequest) => {
        request.body ??= {};
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const site = await findSite(ctx, actor, request.params.site_id, "update");
      const repo = readRepoSettings(site);
      if (repo === null) {
        throw invalidField(
          "site_id",
          "the site is not linked to a repository, so there is nothing to build; link one with PATCH /api/v1/sites/:site_id and a repo object",
        );
      }
      const clearCache = request.body.clear_cache ?? request.query.clear_cache;
      const { build, coalescedWith } = await requestBuild(ctx, {
        siteId: site.id,
        branch: request.query.branch ?? repo.branch,
        trigger: "manual",
        ...(request.query.title !== undefined ? { title: request.query.title } : {}),
        ...(clearCache !== undefined ? { clearCache } : {}),
      });
      request.log.info({ siteId: site.id, buildId: build.id, coalescedWith }, "manual build");
      return presentBuild(build);
    },
  );

  app.get("/builds/:build_id", { schema: { params: BuildParams } }, async (request) => {
    const { build } = await findBuild(ctx, requireActor(request), request.params.build_id);
    return presentBuild(build);
  });

  app.post("/builds/:build_id/cancel", { schema: { params: BuildParams } }, async (request) => {
    const actor = requireActor(request);
    const { build, site } = await findBuild(ctx, actor, request.params.build_id);
    authorize(actor, "update", site, "Build");
    const cancelled = await cancelBuild(ctx, build.id, actor.user.email);
    request.log.info({ buildId: build.id, state: cancelled.state }, "build cancel requested");
    return presentBuild(cancelled);
  });

  app.get(
    "/builds/:build_id/log",
    { schema: { params: BuildParams, querystring: BuildLogQuery } },
    async (request, reply) => {
      const { build } = await findBuild(ctx, requireActor(request), request.params.build_id);
      const lines = (
        await readLogLines(
          ctx,
          build.id,
          request.query.since ?? -1,
          request.query.limit ?? MAX_STORED_LINES,
        )
      ).map(presentLogLine);
      const ndjson =
        request.query.format === "ndjson" ||
        (request.query.format === undefined &&
          (request.headers.accept ?? "").includes("application/x-ndjson"));
      if (ndjson) {
        return reply
          .type("application/x-ndjson; charset=utf-8")
          .send(lines.map((line) => JSON.stringify(line) + "\n").join(""));
      }
      return lines;
    },
  );

  app.get(
    "/builds/:build_id/log/stream",
    { schema: { params: BuildParams, querystring: BuildLogStreamQuery } },
    async (request, reply) => {
      const { build } = await findBuild(ctx, requireActor(request), request.params.build_id);
      const lastEventId = Number(request.headers["last-event-id"]);
      const since = Number.isInteger(lastEventId) ? lastEventId : (request.query.since ?? -1);
      streamLog(ctx, request, reply, build.id, since, request.query.batch === true);
      return reply;
    },
  );
}

/**
 * Server-Sent Events: `event: line` for each log line (`id` = its seq, so `Last-Event-ID`
 * resumes) — or, `batched`, `event: lines` for each read of up to 500 lines (`id` = the last
 * one's seq; a browser dispatches one event instead of hundreds) — then one `event: end` with
 * the build's final state once it is finished and every line was sent. The database is polled (a build running in this process wakes the stream as
 * soon as its lines are stored), so a stream works whichever process runs the build.
 */
function streamLog(
  ctx: PlatformContext,
  request: FastifyRequest,
  reply: FastifyReply,
  buildId: string,
  since: number,
  batched: boolean,
): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write("retry: 1000\n\n");
  let last = since;
  let closed = false;
  let lastWrite = Date.now();
  let finishedSeenAt: number | undefined;
  let sentFinalLine = false;
  const deadline = Date.now() + (2 * ctx.config.builds.timeoutSeconds + 900) * 1000;
  request.raw.on("close", () => {
    closed = true;
  });

  const tick = async (): Promise<void> => {
    while (!closed) {
      const state = await ctx.db
        .selectFrom("builds")
        .select(["state", "error"])
        .where("id", "=", buildId)
        .executeTakeFirst();
      const lines = await readLogLines(ctx, buildId, last, 500);
      if (batched && lines.length > 0) {
        last = lines.at(-1)!.seq;
        res.write(
          `id: ${last}\nevent: lines\ndata: ${JSON.stringify(lines.map(presentLogLine))}\n\n`,
        );
        lastWrite = Date.now();
      }
      for (const line of batched ? [] : lines) {
        res.write(
          `id: ${line.seq}\nevent: line\ndata: ${JSON.stringify(presentLogLine(line))}\n\n`,
        );
        last = line.seq;
        lastWrite = Date.now();
      }
      // A slow reader (a long log over a slow link) holds the stream back, not our memory.
      if (res.writableNeedDrain) await drained(res);
      if (lines.some(isFinalLogLine)) sentFinalLine = true;
      if (lines.length === 500) continue;
      // Finished: the runner still writes after the final state (publishing, saving the build
      // cache), up to its final line. A build that never writes one (its process died) ends
      // once a poll found nothing new END_GRACE_MS after the state was seen.
      const finished = !state || FINISHED_BUILD_STATES.includes(state.state);
      if (finished) finishedSeenAt ??= Date.now();
      const settled =
        finished &&
        (sentFinalLine ||
          (finishedSeenAt !== undefined &&
            lines.length === 0 &&
            Date.now() - finishedSeenAt >= END_GRACE_MS));
      if (settled || Date.now() > deadline) {
        res.write(
          `event: end\ndata: ${JSON.stringify({
            state: state?.state ?? "deleted",
            done: true,
            error: state?.error ?? null,
          })}\n\n`,
        );
        res.end();
        return;
      }
      if (Date.now() - lastWrite > STREAM_KEEPALIVE_MS) {
        res.write(": keep-alive\n\n");
        lastWrite = Date.now();
      }
      await logWrittenOrTimeout(buildId, STREAM_POLL_MS);
    }
  };
  tick().catch((error: unknown) => {
    request.log.warn({ err: error, buildId }, "build log stream failed");
    res.end();
  });
}

/** Resolves once `res` can take more (or is closed). */
function drained(res: FastifyReply["raw"]): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
