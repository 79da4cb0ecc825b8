import type { FastifyError } from "fastify";
import type { PlatformContext } from "../../context.ts";
import type { PlatformApp } from "../../http/app.ts";
import { requireActor } from "../../http/auth.ts";
import { PlatformError } from "../../errors.ts";
import { readPage, setPaginationHeaders } from "../../http/pagination.ts";
import { acceptRawBodies } from "../../http/raw-body.ts";
import { GIT_WEBHOOK_PATH } from "../../sites/urls.ts";
import { GITHUB_APP_WEBHOOK_PATH } from "../../connections/urls.ts";
import { appConnection, receiveAppDelivery } from "../../webhooks/app-webhooks.ts";
import { BodyGate } from "./body-gate.ts";
import { presentDelivery } from "./presenter.ts";
import {
  AppWebhookParams,
  DeliveryListParams,
  DeliveryParams,
  ListDeliveriesQuery,
  WebhookIntakeParams,
} from "./schema.ts";
import { receiveDelivery, siteForWebhook } from "../../webhooks/intake.ts";
import {
  findDelivery,
  listDeliveries,
  recordUnreadableDelivery,
} from "../../webhooks/deliveries.ts";

/** Bodies read at once when the config does not say (tests' hand-built configs). */
const BODY_CONCURRENCY = 64;

/** GitLab's limit for a webhook body (25 MB); GitHub's cap is the same. */
export const WEBHOOK_BODY_LIMIT = 25 * 1024 * 1024;

/**
 * `POST /webhooks/sites/:site_id` at the host root (the site's `git_webhook.url`), and
 * `POST /webhooks/github-app/:connection_id` (a GitHub App's webhook URL). Their scope
 * takes the body as raw bytes (signatures are over them), and its errors are deliveries too:
 * a body too large or unreadable is recorded as rejected before the answer goes out.
 */
export async function webhookIntakeRoutes(app: PlatformApp, ctx: PlatformContext): Promise<void> {
  await app.register(async (scope: PlatformApp) => {
    acceptRawBodies(scope, WEBHOOK_BODY_LIMIT);
    // A body is read only for a delivery whose site (or App connection) exists, and only so
    // many at once; an unknown target is answered before its body is read.
    const gate = new BodyGate(ctx.config.webhookBodyConcurrency ?? BODY_CONCURRENCY);
    scope.addHook("preValidation", gate.leave);
    scope.addHook("onResponse", gate.leave);
    scope.addHook("onRequestAbort", gate.leave);

    scope.setErrorHandler(async (error: FastifyError, request) => {
      if (error instanceof PlatformError) throw error;
      const status = error.statusCode ?? 500;
      const siteId = (request.params as { site_id?: unknown } | undefined)?.site_id;
      if (status >= 400 && status < 500) {
        const reason = transportReason(error);
        if (typeof siteId === "string") {
          try {
            await recordUnreadableDelivery(ctx, siteId, request.headers, status, reason);
          } catch (recordError) {
            // The answer still tells the sender what was wrong with its request.
            request.log.error({ err: recordError }, "could not record a webhook delivery");
          }
        }
        throw PlatformError.withStatus(status, reason);
      }
      request.log.error({ err: error }, "webhook delivery could not be handled");
      throw new PlatformError(
        "unavailable",
        "failed: the platform could not handle this delivery (an internal error, logged); redeliver it later",
      );
    });

    scope.post(
      `${GIT_WEBHOOK_PATH}/:site_id`,
      {
        schema: { params: WebhookIntakeParams },
        bodyLimit: WEBHOOK_BODY_LIMIT,
        // The intake logs each delivery itself, in one line with its outcome (and records it):
        // Fastify's two request lines would double the logging a delivery costs.
        logLevel: "warn",
        preParsing: async (request) => {
          await siteForWebhook(ctx, request.params.site_id);
          gate.enter(request);
        },
      },
      async (request, reply) => {
        const result = await receiveDelivery(ctx, {
          siteId: request.params.site_id,
          headers: request.headers,
          body: Buffer.isBuffer(request.body) ? request.body : undefined,
        });
        return reply.code(result.statusCode).send(result.body);
      },
    );

    // A GitHub App's one webhook URL: routed to the sites of the connection's account.
    scope.post(
      `${GITHUB_APP_WEBHOOK_PATH}/:connection_id`,
      {
        schema: { params: AppWebhookParams },
        bodyLimit: WEBHOOK_BODY_LIMIT,
        preParsing: async (request) => {
          await appConnection(ctx, request.params.connection_id);
          gate.enter(request);
        },
      },
      async (request, reply) => {
        const result = await receiveAppDelivery(ctx, {
          connectionId: request.params.connection_id,
          headers: request.headers,
          body: Buffer.isBuffer(request.body) ? request.body : undefined,
        });
        return reply.code(result.statusCode).send(result.body);
      },
    );
  });
}

function transportReason(error: FastifyError): string {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return `rejected: payload too large: the body is larger than ${WEBHOOK_BODY_LIMIT / 1024 / 1024} MB`;
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "rejected: malformed payload: the Content-Type header is not a valid media type";
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return "rejected: malformed payload: the Content-Length header does not match the body";
    default:
      return `rejected: malformed request: ${error.message.slice(0, 200)}`;
  }
}

/** `GET /sites/:site_id/webhook_deliveries[/:delivery_id]`: what became of each delivery. */
export function webhookDeliveryRoutes(app: PlatformApp, ctx: PlatformContext): void {
  app.get(
    "/sites/:site_id/webhook_deliveries",
    { schema: { params: DeliveryListParams, querystring: ListDeliveriesQuery } },
    async (request, reply) => {
      const page = readPage({ page: request.query.page, per_page: request.query.per_page ?? 50 });
      const { deliveries, total } = await listDeliveries(
        ctx,
        requireActor(request),
        request.params.site_id,
        { offset: page.offset, limit: page.perPage },
      );
      setPaginationHeaders(request, reply, ctx.config.publicUrl, page, total);
      return deliveries.map(presentDelivery);
    },
  );

  app.get(
    "/sites/:site_id/webhook_deliveries/:delivery_id",
    { schema: { params: DeliveryParams } },
    async (request) =>
      presentDelivery(
        await findDelivery(
          ctx,
          requireActor(request),
          request.params.site_id,
          request.params.delivery_id,
        ),
      ),
  );
}
