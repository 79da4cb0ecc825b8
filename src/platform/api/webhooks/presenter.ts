import type { WebhookDelivery } from "../../db/schema.ts";

/**
 * One request to a site's git webhook URL and what became of it. `delivery_key` is the
 * provider's own id of the delivery (`X-GitHub-Delivery`, GitLab's `Idempotency-Key`, ...), to
 * find it in the provider's hook log. Headers and body are not kept: a secret token would be
 * among them.
 */
export function presentDelivery(delivery: WebhookDelivery) {
  const branch = delivery.ref?.startsWith("refs/heads/") ? delivery.ref.slice(11) : null;
  return {
    id: delivery.id,
    site_id: delivery.site_id,
    provider: delivery.provider,
    event: delivery.event,
    delivery_key: delivery.delivery_key,
    ref: delivery.ref,
    branch,
    sha: delivery.sha,
    outcome: delivery.outcome,
    reason: delivery.reason,
    status_code: delivery.status_code,
    build_id: delivery.build_id,
    duplicate_of: delivery.duplicate_of,
    received_at: delivery.received_at,
  };
}

/** One git webhook delivery (`GET /sites/:id/webhook_deliveries`). */
export type DeliveryJson = ReturnType<typeof presentDelivery>;
