import { isoNow, type PlatformContext } from "../context.ts";
import type { DomainState, SiteCertificate, SiteDomain } from "../db/schema.ts";
import type { JobHandler, JobResult } from "../jobs/workers.ts";
import type { LeasedJob } from "../jobs/queue.ts";
import { AcmeOrderError, orderCertificate } from "./acme.ts";
import { sweepChallenges } from "./challenges.ts";
import { enqueueCertificateWork } from "./claims.ts";
import {
  certificateDomains,
  certificateServes,
  materialFromIssued,
  storeCertificate,
} from "./certificates.ts";
import { checkReachability } from "./reachability.ts";

/**
 * The certificate job of a site, run by the durable queue (`certificate`): check that each
 * domain reaches this Slipway, order one certificate for those that do, store it sealed, and
 * say per domain what happened. States: `pending_dns` → `verifying` → `issuing` → `active` or
 * `failed` (with the CA's words and what to do) → `renewing` at two thirds of the lifetime.
 * Failures back off (the next attempt's time is stored); a sweep enqueues whatever is due, so
 * renewals and retries survive restarts and run on whichever node has workers.
 */

export interface CertificateServices {
  /** A site's certificate changed (the TLS listener of this process drops its cached context). */
  onChanged?: (siteId: string) => void;
  /** The port the CA fetches http-01 on when the config does not fix one: the live HTTP port. */
  challengePort: () => number;
}

const MINUTE = 60_000;
/** After a refused or failed order: the CA's rate limits count failures, so wait long. */
const ORDER_BACKOFF = [5, 15, 60, 180, 360, 720, 1440].map((m) => m * MINUTE);
/** After a domain that does not reach Slipway: no order was placed, so check sooner. */
const DNS_BACKOFF = [1, 2, 5, 10, 30, 60].map((m) => m * MINUTE);

const backoff = (table: number[], attempts: number): number =>
  table[Math.min(Math.max(attempts, 1), table.length) - 1]!;

export function createCertificateHandler(
  ctx: PlatformContext,
  services: CertificateServices,
): JobHandler {
  return {
    maxRunMs: 10 * MINUTE,
    run: async (job: LeasedJob): Promise<JobResult> => {
      const payload = job.payload as { siteId?: unknown; force?: unknown } | null;
      if (typeof payload?.siteId !== "string") return "done";
      await obtainCertificate(ctx, services, payload.siteId, { force: payload.force === true });
      return "done";
    },
  };
}

async function setDomain(
  ctx: PlatformContext,
  domain: string,
  state: DomainState,
  reason: string | null,
): Promise<void> {
  await ctx.db
    .updateTable("site_domains")
    .set({ state, reason, checked_at: isoNow(ctx), updated_at: isoNow(ctx) })
    .where("domain", "=", domain)
    .execute();
}

async function setCertificate(
  ctx: PlatformContext,
  siteId: string,
  changes: Partial<
    Pick<SiteCertificate, "state" | "reason" | "attempts" | "next_attempt_at" | "renewal_failures">
  >,
): Promise<void> {
  await ctx.db
    .updateTable("site_certificates")
    .set({ ...changes, updated_at: isoNow(ctx) })
    .where("site_id", "=", siteId)
    .execute();
}

/**
 * Sets each domain's state from the certificate the site has, without ordering anything: what it
 * covers is `active`; a wildcard or a name an uploaded certificate misses says what to do.
 */
export async function applyCoverage(ctx: PlatformContext, siteId: string): Promise<void> {
  const now = ctx.now();
  const rows = await ctx.db
    .selectFrom("site_domains")
    .selectAll()
    .where("site_id", "=", siteId)
    .execute();
  const cert = await ctx.db
    .selectFrom("site_certificates")
    .selectAll()
    .where("site_id", "=", siteId)
    .executeTakeFirst();
  for (const row of rows) {
    if (cert && certificateServes(cert, row.domain, now)) {
      if (row.state !== "active" || row.reason !== null)
        await setDomain(ctx, row.domain, "active", null);
      continue;
    }
    if (cert?.source === "custom") {
      await setDomain(
        ctx,
        row.domain,
        "failed",
        `the uploaded certificate (for ${certificateDomains(cert).join(", ")}) does not cover ${row.domain}; ${row.domain} is served over HTTP only. Upload one that covers it with POST /api/v1/sites/${siteId}/ssl, or remove the uploaded one (DELETE /api/v1/sites/${siteId}/ssl) to let Slipway obtain one`,
      );
    } else if (row.kind === "wildcard") {
      await setDomain(
        ctx,
        row.domain,
        "failed",
        `${row.domain} is served over HTTP; a wildcard certificate cannot be obtained over http-01 (it needs DNS-01): upload one with POST /api/v1/sites/${siteId}/ssl`,
      );
    }
  }
}

function orderHint(error: AcmeOrderError, names: readonly string[]): string {
  const type = error.problemType ?? "";
  if (type.endsWith(":rateLimited")) {
    return "The CA's rate limit was reached; Slipway waits before asking again (see the CA's rate-limit documentation)";
  }
  if (/:(unauthorized|connection|dns|incorrectResponse|caa)$/.test(type)) {
    return `The CA could not validate ${names.join(", ")} over http://<domain>/.well-known/acme-challenge/: check that the A/AAAA records point at this Slipway, that port 80 reaches it, that no proxy answers that path itself, and that no CAA record forbids this CA`;
  }
  if (type.endsWith(":rejectedIdentifier")) {
    return "The CA will not issue for this name (its policy refuses it)";
  }
  return "Check SLIPWAY_ACME_DIRECTORY_URL and the log of the platform";
}

/** One run of a site's certificate work (idempotent; the queue may run it again). */
export async function obtainCertificate(
  ctx: PlatformContext,
  services: CertificateServices,
  siteId: string,
  options: { force?: boolean } = {},
): Promise<void> {
  const log = ctx.log.child({ component: "certificates", siteId });
  const rows = await ctx.db
    .selectFrom("site_domains")
    .selectAll()
    .where("site_id", "=", siteId)
    .execute();
  const cert = await ctx.db
    .selectFrom("site_certificates")
    .selectAll()
    .where("site_id", "=", siteId)
    .executeTakeFirst();
  if (rows.length === 0 || !cert) return;
  const acme = ctx.config.domains?.acme ?? null;
  if (cert.source === "custom" || acme === null) {
    // An uploaded certificate is the user's to replace; without ACME there is nothing to order.
    await applyCoverage(ctx, siteId);
    await setCertificate(ctx, siteId, { next_attempt_at: null });
    return;
  }
  const now = ctx.now();
  const nowIso = now.toISOString();
  const plain = rows.filter((r) => r.kind !== "wildcard");
  const valid = cert.certificate_pem !== null && cert.not_after !== null && cert.not_after > nowIso;
  const covered = (row: SiteDomain): boolean => valid && certificateServes(cert, row.domain, now);
  const renewalDue = valid && cert.renew_at !== null && cert.renew_at <= nowIso;
  const uncovered = plain.filter((r) => !covered(r));
  if (!options.force && !renewalDue && uncovered.length === 0) {
    await applyCoverage(ctx, siteId);
    await setCertificate(ctx, siteId, { state: "active", reason: null, next_attempt_at: null });
    return;
  }
  const renewing = valid && (renewalDue || options.force === true);

  // 1. Does each name reach this Slipway? (No order for names that do not.)
  const domainsConfig = ctx.config.domains!;
  const port = acme.challengePort ?? services.challengePort();
  const ready: SiteDomain[] = [];
  const unreachable: SiteDomain[] = [];
  for (const row of plain) {
    await setDomain(ctx, row.domain, covered(row) && renewing ? "renewing" : "verifying", null);
    const reach = await checkReachability(ctx, row.domain, {
      dnsServers: domainsConfig.dnsServers,
      publicAddresses: domainsConfig.publicAddresses,
      port,
    });
    if (reach.ok) ready.push(row);
    else {
      unreachable.push(row);
      await setDomain(ctx, row.domain, "failed", reach.reason);
      log.info(
        { domain: row.domain, reason: reach.reason },
        "domain does not reach this Slipway; no certificate ordered for it",
      );
    }
  }
  await applyCoverage(ctx, siteId).catch(() => undefined);
  if (ready.length === 0) {
    const attempts = cert.attempts + 1;
    await setCertificate(ctx, siteId, {
      state: valid ? "renewing" : "failed",
      reason: "no domain of the site reaches this Slipway yet (see each domain's reason)",
      attempts,
      next_attempt_at: new Date(now.getTime() + backoff(DNS_BACKOFF, attempts)).toISOString(),
    });
    return;
  }

  // 2. One order for every name that reaches us, the primary domain first.
  const order = { primary: 0, www: 1, alias: 2, wildcard: 3 } as const;
  const names = ready.sort((a, b) => order[a.kind] - order[b.kind]).map((r) => r.domain);
  for (const row of ready) {
    await setDomain(ctx, row.domain, covered(row) && renewing ? "renewing" : "issuing", null);
  }
  await setCertificate(ctx, siteId, { state: renewing ? "renewing" : "issuing", reason: null });
  log.info({ names, renewing }, "ordering a certificate");
  try {
    const issued = await orderCertificate(ctx, acme, names);
    await storeCertificate(
      ctx,
      siteId,
      "acme",
      materialFromIssued(issued.chainPem, issued.privateKeyPem),
    );
    for (const row of ready) await setDomain(ctx, row.domain, "active", null);
    if (unreachable.length > 0) {
      await setCertificate(ctx, siteId, {
        next_attempt_at: new Date(now.getTime() + backoff(DNS_BACKOFF, 3)).toISOString(),
      });
    }
    services.onChanged?.(siteId);
    log.info({ names }, renewing ? "certificate renewed" : "certificate issued");
  } catch (error) {
    const failure =
      error instanceof AcmeOrderError
        ? error
        : new AcmeOrderError((error as Error).message, undefined);
    const attempts = cert.attempts + 1;
    const next = new Date(now.getTime() + backoff(ORDER_BACKOFF, attempts)).toISOString();
    const renewalFailures = cert.renewal_failures + (valid ? 1 : 0);
    const reason = valid
      ? `renewal failed (${renewalFailures} in a row): ${failure.message}. ${orderHint(failure, names)}. The current certificate stays in use until ${cert.not_after}; Slipway tries again at ${next}`
      : `the CA did not issue the certificate: ${failure.message}. ${orderHint(failure, names)}. Slipway tries again at ${next}`;
    for (const row of ready)
      await setDomain(ctx, row.domain, valid ? "renewing" : "failed", reason);
    await setCertificate(ctx, siteId, {
      state: valid ? "renewing" : "failed",
      reason,
      attempts,
      next_attempt_at: next,
      renewal_failures: renewalFailures,
    });
    log.warn(
      { names, err: failure.message, problemType: failure.problemType },
      "certificate order failed",
    );
  }

  // 3. Names changed while this ran: run again now (the change's own job was deduplicated).
  const after = await ctx.db
    .selectFrom("site_domains")
    .select("domain")
    .where("site_id", "=", siteId)
    .execute();
  const before = new Set(rows.map((r) => r.domain));
  if (after.length !== before.size || after.some((r) => !before.has(r.domain))) {
    await setCertificate(ctx, siteId, { next_attempt_at: isoNow(ctx) });
  }
}

/** Enqueues the certificate work that is due (retries, renewals); forgets stale challenges. */
export async function enqueueDueCertificates(ctx: PlatformContext): Promise<number> {
  const now = isoNow(ctx);
  await sweepChallenges(ctx.db, ctx.now());
  if (ctx.config.domains?.acme == null) return 0;
  const due = await ctx.db
    .selectFrom("site_certificates")
    .select("site_id")
    .where((eb) =>
      eb.or([
        eb("next_attempt_at", "<=", now),
        eb.and([eb("renew_at", "<=", now), eb("next_attempt_at", "is", null)]),
      ]),
    )
    .limit(500)
    .execute();
  for (const { site_id } of due) await enqueueCertificateWork(ctx, site_id);
  if (due.length > 0) ctx.jobs.wake();
  return due.length;
}

/** The periodic sweep (where workers run): due renewals and retries become durable jobs. */
export function startCertificateSweeps(
  ctx: PlatformContext,
  intervalMs: number,
): { stop(): Promise<void> } {
  let running: Promise<unknown> | undefined;
  const tick = (): void => {
    if (running) return;
    running = enqueueDueCertificates(ctx)
      .catch((error: unknown) => ctx.log.warn({ err: error }, "certificate sweep failed"))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
