import { findAuditableAccount } from "../../accounts/audit-access.ts";
import { listAuditEvents } from "../../audit/events.ts";
import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { presentAuditEvent } from "./presenter.ts";
import { AuditParams, AuditQuery } from "./schema.ts";

/** Netlify's `GET /accounts/:account_id/audit`: an account's audit log, newest first. */
export function auditRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.get(
    "/accounts/:account_id/audit",
    { schema: { params: AuditParams, querystring: AuditQuery } },
    async (request, reply) => {
      const actor = requireActor(request);
      const account = await findAuditableAccount(ctx, actor, request.params.account_id);
      const page = readPage(request.query);
      const { events, total } = await listAuditEvents(ctx.db, account.id, {
        ...(request.query.query !== undefined ? { query: request.query.query } : {}),
        ...(request.query.log_type !== undefined ? { logType: request.query.log_type } : {}),
        offset: page.offset,
        limit: page.perPage,
      });
      setPaginationHeaders(request, reply, ctx.config.publicUrl, page, total);
      reply.header("cache-control", "no-store");
      return events.map((event) => presentAuditEvent(event, account.id));
    },
  );
}
