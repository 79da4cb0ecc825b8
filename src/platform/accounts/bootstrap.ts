import { join } from "node:path";
import { readOrCreateSecretFile } from "../../lib/files.ts";
import { generateToken } from "../../lib/tokens.ts";
import { createUser } from "./users.ts";
import type { PlatformContext } from "../context.ts";
import { TOKEN_PREFIX } from "./tokens.ts";

/**
 * At first start (no users yet), creates the platform's administrator with its account and an
 * access token: the configured `SLIPWAY_ADMIN_TOKEN`, or a generated one written to
 * `<data>/platform/admin-token` (0600) and returned so that the caller prints it once.
 */
export async function bootstrapAdmin(ctx: PlatformContext): Promise<string | undefined> {
  const existing = await ctx.db.selectFrom("users").select("id").limit(1).executeTakeFirst();
  if (existing) return undefined;
  const configured = ctx.config.adminToken;
  const token =
    configured ??
    readOrCreateSecretFile(join(ctx.config.dataDir, "admin-token"), () =>
      generateToken(TOKEN_PREFIX, 32),
    ).value;
  await createUser(
    ctx,
    { email: "admin@localhost", full_name: "Administrator", admin: true },
    token,
  );
  return configured === undefined ? token : undefined;
}
