import type * as AcmeClient from "acme-client";
import { readFileSync } from "node:fs";
import { Agent, get as httpsGet } from "node:https";
import { rootCertificates } from "node:tls";
import type { AcmeConfig } from "../../config.ts";
import type { PlatformContext } from "../context.ts";
import { putChallenge, removeChallenge } from "./challenges.ts";

/**
 * ACME through `acme-client` (loaded on first use): the account key per directory (sealed with
 * `acme_account:<directory url>`), and one order for a set of names over http-01, whose answers
 * go to `acme_challenges` so that every node serves them. The directory URL is the operator's
 * (`SLIPWAY_ACME_DIRECTORY_URL`), so it is the one outgoing request not held to the address
 * guard; `SLIPWAY_ACME_CA_FILE` adds CA certificates to trust when talking to it.
 */

type AcmeModule = typeof AcmeClient;
let loaded: Promise<AcmeModule> | undefined;
let trustedCaFile: string | undefined | null = null;

async function acmeClient(config: AcmeConfig): Promise<AcmeModule> {
  loaded ??= import("acme-client");
  const acme = await loaded;
  if (trustedCaFile !== config.caFile) {
    // acme-client talks through its own axios instance, process-wide.
    acme.axios.defaults.httpsAgent =
      config.caFile === undefined
        ? undefined
        : new Agent({
            ca: [...rootCertificates, readFileSync(config.caFile, "utf8")],
            keepAlive: false,
          });
    trustedCaFile = config.caFile;
    // A CA that is down or busy: a few short retries (its Retry-After is still honoured); the
    // certificate job itself then backs off for minutes, so nothing waits long in one order.
    const settings = (acme.axios.defaults as { acmeSettings?: Record<string, number> })
      .acmeSettings;
    if (settings) {
      settings.retryMaxAttempts = 3;
      settings.retryDefaultDelay = 2;
    }
  }
  return acme;
}

/** An ACME failure in the CA's own words (`problem.detail`), with its type when it has one. */
export class AcmeOrderError extends Error {
  override name = "AcmeOrderError";
  constructor(
    message: string,
    readonly problemType: string | undefined,
  ) {
    super(message);
  }
}

async function accountKey(
  ctx: PlatformContext,
  acme: AcmeModule,
  directoryUrl: string,
): Promise<{ key: string; url: string | null }> {
  const context = `acme_account:${directoryUrl}`;
  const row = await ctx.db
    .selectFrom("acme_accounts")
    .selectAll()
    .where("directory_url", "=", directoryUrl)
    .executeTakeFirst();
  if (row) return { key: ctx.secrets.open(row.key_sealed, context), url: row.account_url };
  const key = (await acme.crypto.createPrivateEcdsaKey("P-256")).toString();
  await ctx.db
    .insertInto("acme_accounts")
    .values({
      directory_url: directoryUrl,
      key_sealed: ctx.secrets.seal(key, context),
      account_url: null,
      created_at: ctx.now().toISOString(),
    })
    .onConflict((oc) => oc.column("directory_url").doNothing())
    .execute();
  // Another node may have created it first: use whichever is stored.
  const stored = await ctx.db
    .selectFrom("acme_accounts")
    .selectAll()
    .where("directory_url", "=", directoryUrl)
    .executeTakeFirstOrThrow();
  return { key: ctx.secrets.open(stored.key_sealed, context), url: stored.account_url };
}

export interface IssuedCertificate {
  chainPem: string;
  privateKeyPem: string;
}

/** Orders a certificate for `names` (the first is the common name) over http-01. */
export async function orderCertificate(
  ctx: PlatformContext,
  config: AcmeConfig,
  names: readonly string[],
): Promise<IssuedCertificate> {
  const acme = await acmeClient(config);
  const account = await accountKey(ctx, acme, config.directoryUrl);
  const client = new acme.Client({
    directoryUrl: config.directoryUrl,
    accountKey: account.key,
    ...(account.url ? { accountUrl: account.url } : {}),
    backoffAttempts: 10,
    backoffMin: 1000,
    backoffMax: 10_000,
  });
  const [key, csr] = await acme.crypto.createCsr(
    { commonName: names[0]!, altNames: [...names] },
    await acme.crypto.createPrivateEcdsaKey("P-256"),
  );
  try {
    const chainPem = await client.auto({
      csr,
      ...(config.email ? { email: config.email } : {}),
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      // Slipway checked reachability itself, with the configured resolvers.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (challenge.type !== "http-01") throw new Error(`unexpected challenge ${challenge.type}`);
        await putChallenge(ctx.db, {
          token: challenge.token,
          keyAuthorization,
          domain: authz.identifier.value,
          ttlMs: 60 * 60_000,
          now: ctx.now(),
        });
      },
      challengeRemoveFn: async (_authz, challenge) => {
        await removeChallenge(ctx.db, challenge.token);
      },
    });
    if (account.url === null) {
      await ctx.db
        .updateTable("acme_accounts")
        .set({ account_url: client.getAccountUrl() })
        .where("directory_url", "=", config.directoryUrl)
        .execute();
    }
    return { chainPem, privateKeyPem: key.toString() };
  } catch (error) {
    const described = describeAcmeError(error, config.directoryUrl);
    if (described.problemType !== undefined) throw described;
    // acme-client can lose a network error behind its retries: ask the directory once more.
    const down = await directoryUnreachable(config);
    throw down === undefined
      ? described
      : new AcmeOrderError(
          `the ACME server ${config.directoryUrl} cannot be reached (${down}); check SLIPWAY_ACME_DIRECTORY_URL and this machine's network`,
          undefined,
        );
  }
}

/** Why the directory cannot be fetched (a network or TLS error), or undefined when it can. */
function directoryUnreachable(config: AcmeConfig): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = httpsGet(
      config.directoryUrl,
      {
        timeout: 5000,
        ...(config.caFile !== undefined
          ? { ca: [...rootCertificates, readFileSync(config.caFile, "utf8")] }
          : {}),
      },
      (res) => {
        res.resume();
        resolve(undefined);
      },
    );
    req.on("timeout", () =>
      req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })),
    );
    req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** The CA's words out of whatever acme-client or axios threw. */
function describeAcmeError(error: unknown, directoryUrl: string): AcmeOrderError {
  const e = error as {
    message?: string;
    code?: string;
    response?: { data?: { detail?: string; type?: string } };
  };
  const problem = e.response?.data;
  if (problem?.detail) return new AcmeOrderError(problem.detail, problem.type);
  if (e.code === "ECONNREFUSED" || e.code === "ENOTFOUND" || e.code === "ETIMEDOUT") {
    return new AcmeOrderError(
      `the ACME server ${directoryUrl} cannot be reached (${e.code}); check SLIPWAY_ACME_DIRECTORY_URL and this machine's network`,
      undefined,
    );
  }
  if (
    /SELF_SIGNED|UNABLE_TO_VERIFY|CERT_/.test(e.code ?? "") ||
    /self[- ]signed|unable to verify/i.test(e.message ?? "")
  ) {
    return new AcmeOrderError(
      `the ACME server's TLS certificate is not trusted (${e.message}); give its CA with SLIPWAY_ACME_CA_FILE`,
      undefined,
    );
  }
  return new AcmeOrderError(e.message ?? String(error), undefined);
}
