import type { BuildRequest, BuildRequestResult } from "../builds/service.ts";
import type { Site } from "../db/schema.ts";
import type { RefUpdate } from "./payloads.ts";

/** A pushed branch's build request, and what came of it, as the intake answers about it. */
export interface Started {
  update: RefUpdate;
  buildId: string;
  deployId: string;
  coalesced: boolean;
}

export const buildRequest = (site: Site, update: RefUpdate, deliveryId: string): BuildRequest => ({
  siteId: site.id,
  branch: update.name,
  sha: update.after ?? undefined,
  trigger: "webhook",
  title: update.title ?? undefined,
  webhookDeliveryId: deliveryId,
});

export const started = (update: RefUpdate, result: BuildRequestResult): Started => ({
  update,
  buildId: result.coalescedWith ?? result.build.id,
  deployId: result.deploy.id,
  coalesced: result.coalescedWith !== undefined,
});
