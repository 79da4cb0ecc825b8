import type { Kysely } from "kysely";
import { objectId, OBJECT_ID } from "../../lib/ids.ts";
import { fingerprintSha256, generateEd25519KeyPair } from "../../lib/ssh-keys.ts";
import type { Actor } from "../accounts/tokens.ts";
import { recordAudit, type AuditAction } from "../audit/record.ts";
import { isoNow, type PlatformContext } from "../context.ts";
import type { DeployKey, PlatformDatabase, Site } from "../db/schema.ts";
import { invalidField, notFound, PlatformError } from "../errors.ts";
import { authorize, can, visibleAccountIds, type Ability } from "../accounts/policies.ts";

/** The associated data a deploy key's private half is sealed with. */
const sealContext = (id: string): string => `deploy_key:${id}`;

/**
 * Generates an Ed25519 key pair in OpenSSH format (ssh2 writes `OPENSSH PRIVATE KEY`, which
 * OpenSSH accepts; Node's PKCS#8 Ed25519 PEM it refuses) for an account. The private half is
 * sealed at once and never returned.
 */
export async function createDeployKey(
  ctx: PlatformContext,
  actor: Actor,
  accountId: string,
): Promise<DeployKey> {
  authorize(actor, "update", { account_id: accountId }, "Account");
  const id = objectId();
  const pair = generateEd25519KeyPair(`slipway-deploy-key-${id}`);
  const blob = Buffer.from(pair.public.split(" ")[1] ?? "", "base64");
  const key: DeployKey = {
    id,
    account_id: accountId,
    created_by: actor.user.id,
    public_key: pair.public,
    fingerprint: fingerprintSha256(blob),
    private_key_sealed: ctx.secrets.seal(pair.private, sealContext(id)),
    created_at: isoNow(ctx),
  };
  await ctx.db.transaction().execute(async (trx) => {
    await trx.insertInto("deploy_keys").values(key).execute();
    await auditKey(trx, "deploy_key.create", key);
  });
  return key;
}

/** The deploy keys of every account the actor belongs to, oldest first. */
export async function listDeployKeys(ctx: PlatformContext, actor: Actor): Promise<DeployKey[]> {
  const ids = visibleAccountIds(actor);
  if (ids.length === 0) return [];
  return ctx.db
    .selectFrom("deploy_keys")
    .selectAll()
    .where("account_id", "in", ids)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
}

/** A deploy key the actor may `ability`; a key of another account is a 404. */
export async function findDeployKey(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
  ability: Ability = "read",
): Promise<DeployKey> {
  const key = OBJECT_ID.test(id)
    ? await ctx.db.selectFrom("deploy_keys").selectAll().where("id", "=", id).executeTakeFirst()
    : undefined;
  if (!key) throw notFound("Deploy key");
  authorize(actor, ability, key, "Deploy key");
  return key;
}

/** Deletes a deploy key no site uses; otherwise says which sites must let go of it first. */
export async function deleteDeployKey(
  ctx: PlatformContext,
  actor: Actor,
  id: string,
): Promise<void> {
  const key = await findDeployKey(ctx, actor, id, "delete");
  const users = await ctx.db
    .selectFrom("sites")
    .select("name")
    .where("deploy_key_id", "=", key.id)
    .orderBy("name")
    .execute();
  if (users.length > 0) {
    throw new PlatformError(
      "conflict",
      `The deploy key is used by ${users.length === 1 ? "site" : "sites"} ${users.map((s) => s.name).join(", ")}; give them another deploy_key_id or unlink them first`,
    );
  }
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom("deploy_keys").where("id", "=", key.id).execute();
    await auditKey(trx, "deploy_key.delete", key);
  });
}

function auditKey(trx: Kysely<PlatformDatabase>, action: AuditAction, key: DeployKey) {
  return recordAudit(trx, {
    action,
    accountId: key.account_id,
    target: { type: "deploy_key", id: key.id, name: key.fingerprint },
  });
}

/**
 * For `repo.deploy_key_id`: the key must belong to the site's own account. A key the actor
 * cannot see is reported exactly like a key that does not exist.
 */
export async function deployKeyForSite(
  ctx: PlatformContext,
  actor: Actor,
  field: string,
  id: string,
  siteAccountId: string,
): Promise<DeployKey> {
  const key = OBJECT_ID.test(id)
    ? await ctx.db.selectFrom("deploy_keys").selectAll().where("id", "=", id).executeTakeFirst()
    : undefined;
  if (!key || !can(actor, "read", key)) {
    throw invalidField(
      field,
      `there is no deploy key ${JSON.stringify(id.slice(0, 40))} in your accounts; create one with POST /api/v1/deploy_keys`,
    );
  }
  if (key.account_id !== siteAccountId) {
    throw invalidField(
      field,
      "the deploy key belongs to another of your accounts; create one in the site's account with POST /api/v1/deploy_keys?account_slug=<the site's account_slug>",
    );
  }
  return key;
}

/**
 * The private key in OpenSSH format, for the build worker's fetch only (written to a 0600 file
 * in a private per-build directory). Never put it in a response, a log line or an error.
 */
export function openPrivateKey(ctx: PlatformContext, key: DeployKey): string {
  return ctx.secrets.open(key.private_key_sealed, sealContext(key.id));
}

/** The deploy key a site clones with (in the site's own account), if it has one. */
export async function deployKeyOfSite(
  ctx: PlatformContext,
  site: Pick<Site, "deploy_key_id" | "account_id">,
): Promise<DeployKey | undefined> {
  if (site.deploy_key_id === null) return undefined;
  return ctx.db
    .selectFrom("deploy_keys")
    .selectAll()
    .where("id", "=", site.deploy_key_id)
    .where("account_id", "=", site.account_id)
    .executeTakeFirst();
}
