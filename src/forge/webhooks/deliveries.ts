import { randomUUID } from "node:crypto";
import type { Transaction } from "kysely";
import { durableTransaction } from "../../lib/database.ts";
import type { ForgeContext, HookDispatcher, MergeRequestEvent, PushEvent } from "../context.ts";
import type { ForgeDatabase, Hook, HookDelivery, User } from "../db/schema.ts";
import {
  healthAfterFailure,
  isExecutable,
  isPermanentlyDisabled,
  retryAt,
  type HookHealth,
} from "./auto-disable.ts";
import { branchFilterMatches } from "./branch-filter.ts";
import { MERGE_REQUEST_HOOK } from "./merge-request-payload.ts";
import {
  buildPushPayloads,
  buildSamplePayload,
  eventHeader,
  loadPushSubjects,
} from "./push-payload.ts";
import { classifyUpdates, withinHookLimit, type RefChange } from "./ref-changes.ts";
import { sendWebhook, type SendResult } from "./sender.ts";
import { localTargetAllowed } from "./targets.ts";

/** Sent as `User-Agent`; GitLab sends `GitLab/<version>`. */
export const USER_AGENT = "GitLab/17.0.0 (Slipway)";
/** The worker looks for due deliveries at least this often (other processes may add some). */
const POLL_INTERVAL_MS = 1000;
/** Deliveries sent at the same time (one per hook at a time). */
const MAX_CONCURRENT_SENDS = 8;
/**
 * A claimed delivery is leased for the timeout plus this margin; if the process dies mid-send,
 * the delivery becomes due again when the lease runs out (at-least-once, same Idempotency-Key).
 */
const LEASE_MARGIN_MS = 30_000;

type Db = Transaction<ForgeDatabase>;

export function createHookDispatcher(base: Omit<ForgeContext, "hooks">): HookDispatcher {
  return new WebhookDispatcher(base);
}

/** `X-Gitlab-Event` → the `trigger` GitLab records in its hook logs. */
export function triggerOf(eventName: string): string {
  if (eventName === MERGE_REQUEST_HOOK) return "merge_request_hooks";
  return eventName === "Tag Push Hook" ? "tag_push_hooks" : "push_hooks";
}

/**
 * Durable hook deliveries. `recordPush` stores one `hook_deliveries` row per (ref change, hook)
 * in one transaction; a worker in this process sends due rows, records every attempt, retries
 * with exponential backoff and moves the hook's auto-disable state. The rows are the queue, so
 * pending deliveries survive a restart.
 */
class WebhookDispatcher implements HookDispatcher {
  readonly #ctx: ForgeContext;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | null = null;
  #tickAgain = false;
  readonly #inFlight = new Map<number, { controller: AbortController; done: Promise<void> }>();
  readonly #busyHooks = new Set<number>();

  constructor(base: Omit<ForgeContext, "hooks">) {
    this.#ctx = { ...base, hooks: this };
  }

  async recordPush(event: PushEvent): Promise<void> {
    const ctx = this.#ctx;
    const interested = await ctx.db
      .selectFrom("hooks")
      .select("id")
      .where("project_id", "=", event.projectId)
      .where((eb) => eb.or([eb("push_events", "=", 1), eb("tag_push_events", "=", 1)]))
      .limit(1)
      .executeTakeFirst();
    if (!interested) return;
    const all = classifyUpdates(event.updates);
    const changes = withinHookLimit(all);
    if (changes.length === 0) return;
    const subjects = await loadPushSubjects(ctx, event.projectId, event.userId);
    if (!subjects) {
      ctx.log.warn(
        { projectId: event.projectId, userId: event.userId },
        "push hooks skipped: no such project or user",
      );
      return;
    }
    const payloads = await buildPushPayloads(ctx, subjects, changes, all);
    const eventUuid = randomUUID();
    // Durable: the push is acknowledged to git once its hook deliveries are stored.
    const inserted = await durableTransaction(ctx.db, async (trx) => {
      const now = ctx.now();
      const stamp = now.toISOString();
      const hooks = await trx
        .selectFrom("hooks")
        .selectAll()
        .where("project_id", "=", event.projectId)
        .orderBy("id")
        .execute();
      const rows = payloads.flatMap((payload, i) => {
        const change = changes[i];
        if (!change) return [];
        const body = JSON.stringify(payload);
        return hooks
          .filter(
            (hook) => wantsChange(hook, change) && isExecutable(hook, ctx.config.webhooks, now),
          )
          .map((hook) => ({
            hook_id: hook.id,
            event_name: eventHeader(payload),
            idempotency_key: randomUUID(),
            event_uuid: eventUuid,
            payload: body,
            state: "pending" as const,
            attempts: 0,
            next_attempt_at: stamp,
            created_at: stamp,
            updated_at: stamp,
          }));
      });
      if (rows.length > 0) await trx.insertInto("hook_deliveries").values(rows).execute();
      return rows.length;
    });
    if (inserted > 0) this.#kick();
  }

  async recordMergeRequest(trx: Db, event: MergeRequestEvent): Promise<void> {
    const ctx = this.#ctx;
    const now = ctx.now();
    const stamp = now.toISOString();
    const hooks = await trx
      .selectFrom("hooks")
      .selectAll()
      .where("project_id", "=", event.projectId)
      .where("merge_requests_events", "=", 1)
      .orderBy("id")
      .execute();
    const body = JSON.stringify(event.payload);
    const eventUuid = randomUUID();
    const rows = hooks
      .filter((hook) => isExecutable(hook, ctx.config.webhooks, now))
      .map((hook) => ({
        hook_id: hook.id,
        event_name: MERGE_REQUEST_HOOK,
        idempotency_key: randomUUID(),
        event_uuid: eventUuid,
        payload: body,
        state: "pending" as const,
        attempts: 0,
        next_attempt_at: stamp,
        created_at: stamp,
        updated_at: stamp,
      }));
    if (rows.length === 0) return;
    await trx.insertInto("hook_deliveries").values(rows).execute();
    // The worker's query waits for this transaction (one connection), so it sees the rows.
    this.#kick();
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#kick();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
    for (const { controller } of this.#inFlight.values()) controller.abort();
    await Promise.allSettled([...this.#inFlight.values()].map((f) => f.done));
  }

  #kick(delayMs = 0): void {
    if (!this.#running) return;
    if (this.#ticking) {
      this.#tickAgain = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#runTick();
    }, delayMs);
    this.#timer.unref();
  }

  #runTick(): void {
    let nextDelay = POLL_INTERVAL_MS;
    this.#ticking = this.#tick()
      .then((delay) => {
        nextDelay = delay;
      })
      .catch((error: unknown) => this.#ctx.log.error({ err: error }, "hook delivery worker failed"))
      .finally(() => {
        this.#ticking = null;
        const again = this.#tickAgain;
        this.#tickAgain = false;
        this.#kick(again ? 0 : nextDelay);
      });
  }

  /** Starts due deliveries; answers how long to sleep before looking again. */
  async #tick(): Promise<number> {
    const { db, config } = this.#ctx;
    const now = this.#ctx.now();
    if (this.#inFlight.size < MAX_CONCURRENT_SENDS) {
      const stamp = now.toISOString();
      // One due delivery per hook (the oldest), so a hook with a backlog starves no other hook.
      const due = await db
        .selectFrom("hook_deliveries")
        .select((eb) => ["hook_id", eb.fn.min("id").as("id")])
        .where("state", "=", "pending")
        .where("next_attempt_at", "<=", stamp)
        .groupBy("hook_id")
        .orderBy("id")
        .limit(MAX_CONCURRENT_SENDS + this.#busyHooks.size)
        .execute();
      for (const row of due) {
        if (!this.#running || this.#inFlight.size >= MAX_CONCURRENT_SENDS) break;
        if (this.#busyHooks.has(row.hook_id)) continue;
        const lease = new Date(now.getTime() + config.webhooks.timeoutMs + LEASE_MARGIN_MS);
        const claimed = await db
          .updateTable("hook_deliveries")
          .set({ next_attempt_at: lease.toISOString() })
          .where("id", "=", row.id)
          .where("state", "=", "pending")
          .where("next_attempt_at", "<=", stamp)
          .executeTakeFirst();
        if (claimed.numUpdatedRows !== 1n) continue;
        if (!this.#running) {
          await release(db, row.id, stamp);
          break;
        }
        this.#launch(row.id, row.hook_id);
      }
    }
    const next = await db
      .selectFrom("hook_deliveries")
      .select((eb) => eb.fn.min("next_attempt_at").as("next"))
      .where("state", "=", "pending")
      .executeTakeFirst();
    if (!next?.next) return POLL_INTERVAL_MS;
    const wait = Date.parse(next.next) - this.#ctx.now().getTime();
    // Due but waiting for a busy hook or a free slot: a finishing send kicks the worker.
    return wait > 0 ? Math.min(wait, POLL_INTERVAL_MS) : POLL_INTERVAL_MS;
  }

  #launch(deliveryId: number, hookId: number): void {
    const controller = new AbortController();
    this.#busyHooks.add(hookId);
    const done = this.#attempt(deliveryId, controller.signal)
      .catch((error: unknown) =>
        this.#ctx.log.error({ err: error, deliveryId }, "hook delivery attempt failed"),
      )
      .finally(() => {
        this.#inFlight.delete(deliveryId);
        this.#busyHooks.delete(hookId);
        this.#kick();
      });
    this.#inFlight.set(deliveryId, { controller, done });
  }

  async #attempt(deliveryId: number, signal: AbortSignal): Promise<void> {
    const ctx = this.#ctx;
    const policy = ctx.config.webhooks;
    const delivery = await ctx.db
      .selectFrom("hook_deliveries")
      .selectAll()
      .where("id", "=", deliveryId)
      .executeTakeFirst();
    if (!delivery || delivery.state !== "pending") return;
    const hook = await ctx.db
      .selectFrom("hooks")
      .selectAll()
      .where("id", "=", delivery.hook_id)
      .executeTakeFirst();
    if (!hook) return;
    const now = ctx.now();
    if (!isExecutable(hook, policy, now)) {
      // Backed off: wait until the hook is executable again. Disabled: give the delivery up.
      await ctx.db
        .updateTable("hook_deliveries")
        .set(
          isPermanentlyDisabled(hook, policy)
            ? { state: "failed", updated_at: now.toISOString() }
            : { next_attempt_at: hook.disabled_until ?? now.toISOString() },
        )
        .where("id", "=", deliveryId)
        .execute();
      return;
    }
    const request = prepareRequest(ctx, hook, delivery);
    const result =
      request.error !== null
        ? failedBeforeSending(request.error)
        : await sendWebhook({
            url: hook.url,
            body: delivery.payload,
            headers: request.headers,
            timeoutMs: policy.timeoutMs,
            verifyTls: hook.enable_ssl_verification === 1,
            allowLocal: localTargetAllowed(ctx.config, hook.url),
            signal,
          });
    await ctx.db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom("hook_deliveries")
        .selectAll()
        .where("id", "=", deliveryId)
        .executeTakeFirst();
      const currentHook = await trx
        .selectFrom("hooks")
        .selectAll()
        .where("id", "=", delivery.hook_id)
        .executeTakeFirst();
      if (!current || !currentHook) return; // the hook was deleted meanwhile
      const finished = ctx.now();
      await insertAttempt(trx, current, hook.url, request, now, result);
      if (result.aborted) {
        await release(trx, current.id, finished.toISOString());
        return;
      }
      const attempts = current.attempts + 1;
      if (isSuccess(result)) {
        await trx
          .updateTable("hook_deliveries")
          .set({ state: "delivered", attempts, updated_at: finished.toISOString() })
          .where("id", "=", current.id)
          .execute();
        await enableHook(trx, currentHook, finished);
        return;
      }
      const health = await backoffHook(ctx, trx, currentHook, finished);
      const disabledUntil = health?.disabled_until ?? null;
      let state: HookDelivery["state"] = "pending";
      let next = retryAt(attempts, policy, finished).toISOString();
      if (attempts >= policy.maxAttempts || (health && isPermanentlyDisabled(health, policy))) {
        state = "failed";
      } else if (disabledUntil !== null && next < disabledUntil) {
        next = disabledUntil;
      }
      await trx
        .updateTable("hook_deliveries")
        .set({ state, attempts, next_attempt_at: next, updated_at: finished.toISOString() })
        .where("id", "=", current.id)
        .execute();
    });
  }
}

/** Who wants a change: push hooks (branch filter applied) or tag push hooks. */
function wantsChange(hook: Hook, change: RefChange): boolean {
  if (change.kind === "tag") return hook.tag_push_events === 1;
  return (
    hook.push_events === 1 &&
    branchFilterMatches(hook.branch_filter_strategy, hook.push_events_branch_filter, change.name)
  );
}

interface PreparedRequest {
  headers: Record<string, string>;
  /** The headers as logged: the token replaced by `[REDACTED]`. */
  logged: Record<string, string>;
  webhookUuid: string;
  error: string | null;
}

/** GitLab's WebHookService headers (custom headers are not supported). */
function prepareRequest(
  ctx: ForgeContext,
  hook: Hook,
  delivery: Pick<HookDelivery, "event_name" | "idempotency_key" | "event_uuid">,
): PreparedRequest {
  const webhookUuid = randomUUID();
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "User-Agent": USER_AGENT,
    "Idempotency-Key": delivery.idempotency_key,
    "X-Gitlab-Event": delivery.event_name,
    "X-Gitlab-Webhook-UUID": webhookUuid,
    "X-Gitlab-Instance": ctx.config.publicUrl,
    "X-Gitlab-Event-UUID": delivery.event_uuid,
  };
  const logged = { ...headers };
  let error: string | null = null;
  if (hook.token_sealed !== null) {
    try {
      headers["X-Gitlab-Token"] = ctx.secrets.open(hook.token_sealed).replace(/[\r\n]/g, "");
      logged["X-Gitlab-Token"] = "[REDACTED]";
    } catch {
      error =
        "the hook's secret token cannot be decrypted (was the forge's secret.key replaced?); set the token again";
    }
  }
  return { headers, logged, webhookUuid, error };
}

function failedBeforeSending(error: string): SendResult {
  return { status: null, body: "", error, durationMs: 0, aborted: false };
}

/** 2xx and 3xx count as delivered, as in GitLab (redirects are not followed). */
function isSuccess(result: SendResult): boolean {
  return result.status !== null && result.status >= 200 && result.status < 400;
}

async function insertAttempt(
  trx: Db,
  delivery: Pick<HookDelivery, "id" | "hook_id">,
  url: string,
  request: PreparedRequest,
  startedAt: Date,
  result: SendResult,
): Promise<void> {
  await trx
    .insertInto("hook_attempts")
    .values({
      delivery_id: delivery.id,
      hook_id: delivery.hook_id,
      started_at: startedAt.toISOString(),
      duration_ms: result.durationMs,
      response_status: result.status,
      response_body: result.status === null ? null : result.body,
      error: result.error,
      url: redactPassword(url),
      request_headers: JSON.stringify(request.logged),
      webhook_uuid: request.webhookUuid,
    })
    .execute();
}

/** The URL as logged: a password in its user info is replaced, as the token is. */
function redactPassword(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password === "") return raw;
    url.password = "REDACTED";
    return url.toString();
  } catch {
    return raw;
  }
}

async function release(
  db: Pick<Db, "updateTable">,
  deliveryId: number,
  nextAttemptAt: string,
): Promise<void> {
  await db
    .updateTable("hook_deliveries")
    .set({ next_attempt_at: nextAttemptAt })
    .where("id", "=", deliveryId)
    .where("state", "=", "pending")
    .execute();
}

/**
 * GitLab's `enable!`: clears the failure count and the backoff. Deliveries that were waiting
 * for the backoff to end become due now.
 */
async function enableHook(trx: Db, hook: Hook, now: Date): Promise<void> {
  if (hook.recent_failures === 0 && hook.disabled_until === null && hook.backoff_count === 0) {
    return;
  }
  await trx
    .updateTable("hooks")
    .set({ recent_failures: 0, backoff_count: 0, disabled_until: null })
    .where("id", "=", hook.id)
    .execute();
  if (hook.disabled_until !== null) {
    await trx
      .updateTable("hook_deliveries")
      .set({ next_attempt_at: now.toISOString() })
      .where("hook_id", "=", hook.id)
      .where("state", "=", "pending")
      .where("next_attempt_at", ">", now.toISOString())
      .where("next_attempt_at", "<=", hook.disabled_until)
      .execute();
  }
}

/**
 * GitLab's `backoff!`. While the hook is backed off its other pending deliveries wait until
 * `disabled_until`; once it is disabled they are given up.
 */
async function backoffHook(
  ctx: ForgeContext,
  trx: Db,
  hook: Hook,
  now: Date,
): Promise<HookHealth | null> {
  const policy = ctx.config.webhooks;
  const health = healthAfterFailure(hook, policy, now);
  if (!health) return null;
  await trx.updateTable("hooks").set(health).where("id", "=", hook.id).execute();
  if (isPermanentlyDisabled(health, policy)) {
    await trx
      .updateTable("hook_deliveries")
      .set({ state: "failed", updated_at: now.toISOString() })
      .where("hook_id", "=", hook.id)
      .where("state", "=", "pending")
      .execute();
    ctx.log.warn(
      { hookId: hook.id, failures: health.recent_failures },
      "hook disabled after repeated failures",
    );
  } else if (health.disabled_until !== null) {
    await trx
      .updateTable("hook_deliveries")
      .set({ next_attempt_at: health.disabled_until })
      .where("hook_id", "=", hook.id)
      .where("state", "=", "pending")
      .where("next_attempt_at", "<", health.disabled_until)
      .execute();
  }
  return health;
}

export type TestTrigger = "push_events" | "tag_push_events";

export type TestOutcome = { ok: true } | { ok: false; message: string };

/**
 * `POST /projects/:id/hooks/:hook_id/test/:trigger`: sends GitLab's sample push (the last
 * commits of the default branch) right away, whatever the hook's state, and records it like any
 * delivery. Success (2xx) re-enables the hook; a failure counts like any other.
 */
export async function testHook(
  ctx: ForgeContext,
  hook: Hook,
  user: User,
  trigger: TestTrigger,
): Promise<TestOutcome> {
  const subjects = await loadPushSubjects(ctx, hook.project_id, user.id);
  if (!subjects) return { ok: false, message: "Ensure the project exists." };
  const payload = await buildSamplePayload(ctx, subjects, trigger === "tag_push_events");
  const delivery = {
    event_name: trigger === "tag_push_events" ? "Tag Push Hook" : "Push Hook",
    idempotency_key: randomUUID(),
    event_uuid: randomUUID(),
  };
  const request = prepareRequest(ctx, hook, delivery);
  const body = JSON.stringify(payload);
  const startedAt = ctx.now();
  const result =
    request.error !== null
      ? failedBeforeSending(request.error)
      : await sendWebhook({
          url: hook.url,
          body,
          headers: request.headers,
          timeoutMs: ctx.config.webhooks.timeoutMs,
          verifyTls: hook.enable_ssl_verification === 1,
          allowLocal: localTargetAllowed(ctx.config, hook.url),
        });
  await ctx.db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom("hooks")
      .selectAll()
      .where("id", "=", hook.id)
      .executeTakeFirst();
    if (!current) return;
    const finished = ctx.now().toISOString();
    const row = await trx
      .insertInto("hook_deliveries")
      .values({
        hook_id: hook.id,
        ...delivery,
        payload: body,
        state: isSuccess(result) ? "delivered" : "failed",
        attempts: 1,
        next_attempt_at: finished,
        created_at: startedAt.toISOString(),
        updated_at: finished,
      })
      .returning(["id", "hook_id"])
      .executeTakeFirstOrThrow();
    await insertAttempt(trx, row, hook.url, request, startedAt, result);
    if (isSuccess(result)) await enableHook(trx, current, ctx.now());
    else await backoffHook(ctx, trx, current, ctx.now());
  });
  if (result.status !== null && result.status >= 200 && result.status < 300) return { ok: true };
  if (result.status !== null) {
    return { ok: false, message: result.body !== "" ? result.body : `HTTP ${result.status}` };
  }
  return { ok: false, message: result.error ?? "the request failed" };
}
