import assert from "node:assert/strict";
import type { TestPlatform } from "./platform.ts";
import { poll } from "./wait.ts";

/**
 * Sites, deploy keys, builds and webhook deliveries through the platform's API, as the tests
 * set them up and wait for them. Each call asserts the status it needs, so that a set-up step
 * that fails says so where it failed. `token` is the caller's (the administrator's when left
 * out).
 */

/** The fields of a site that set-up steps read. */
export interface SiteBody {
  id: string;
  name: string;
  build_id: string | null;
  deploy_id: string | null;
  git_webhook: { url: string; secret: string } | null;
}

/** A build as `GET /builds/:id` shows it. */
export interface BuildBody {
  id: string;
  deploy_id: string;
  site_id: string;
  sha: string | null;
  branch: string;
  state: string;
  done: boolean;
  error: string | null;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
}

/** A recorded webhook delivery as `GET /sites/:id/webhook_deliveries` lists it. */
export interface DeliveryBody {
  id: string;
  site_id: string;
  provider: string | null;
  event: string | null;
  delivery_key: string | null;
  ref: string | null;
  branch: string | null;
  sha: string | null;
  outcome: string;
  reason: string;
  status_code: number;
  build_id: string | null;
  duplicate_of: string | null;
  received_at: string;
}

/** `POST /sites` that must succeed (201); returns the site. */
export async function createSite<T = SiteBody>(
  t: Pick<TestPlatform, "api">,
  token: string | undefined,
  body: unknown,
): Promise<T> {
  const res = await t.api<T>("POST", "/sites", { token, body });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

/** A new deploy key of the caller's account (`POST /deploy_keys`). */
export async function createDeployKey(
  t: Pick<TestPlatform, "api">,
  token?: string,
): Promise<{ id: string; public_key: string }> {
  const key = await t.api<{ id: string; public_key: string }>("POST", "/deploy_keys", { token });
  assert.equal(key.status, 201, key.text);
  return key.body;
}

/** Polls the build until it is done (whatever its state), and returns it. */
export function waitForBuild(
  t: Pick<TestPlatform, "api">,
  id: string,
  token?: string,
  timeoutMs = 60_000,
): Promise<BuildBody> {
  return poll(
    async () => {
      const build = await t.api<BuildBody>("GET", `/builds/${id}`, { token });
      assert.equal(build.status, 200, build.text);
      return build.body.done ? build.body : undefined;
    },
    `build ${id} to finish`,
    timeoutMs,
  );
}

/** The site's recorded webhook deliveries, newest first; `query` such as `per_page=1`. */
export async function webhookDeliveries(
  t: Pick<TestPlatform, "api">,
  siteId: string,
  token?: string,
  query = "",
): Promise<DeliveryBody[]> {
  const path = `/sites/${siteId}/webhook_deliveries${query === "" ? "" : `?${query}`}`;
  const res = await t.api<DeliveryBody[]>("GET", path, { token });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** One recorded delivery, by the id an intake answer named. */
export async function webhookDelivery(
  t: Pick<TestPlatform, "api">,
  siteId: string,
  id: unknown,
  token?: string,
): Promise<DeliveryBody> {
  assert.equal(typeof id, "string", "the answer names its delivery");
  const res = await t.api<DeliveryBody>(
    "GET",
    `/sites/${siteId}/webhook_deliveries/${String(id)}`,
    { token },
  );
  assert.equal(res.status, 200, res.text);
  return res.body;
}
