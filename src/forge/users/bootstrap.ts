import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateToken } from "../../lib/tokens.ts";
import { createUser } from "./users.ts";
import type { ForgeContext } from "../context.ts";
import { createPersonalAccessToken } from "./tokens.ts";

/**
 * At first start, creates the admin user `root` with a personal access token: the configured
 * `SLIPWAY_FORGE_ROOT_TOKEN`, or a generated one written to `<data>/root-token` (0600) and
 * returned so the caller can print it once.
 */
export async function bootstrapRoot(ctx: ForgeContext): Promise<string | undefined> {
  const existing = await ctx.db.selectFrom("users").select("id").limit(1).executeTakeFirst();
  if (existing) return undefined;
  const root = await createUser(ctx, {
    username: "root",
    name: "Administrator",
    email: "root@localhost",
    admin: true,
  });
  const configured = ctx.config.rootToken;
  const token = configured ?? generateToken("glpat-");
  await createPersonalAccessToken(
    ctx,
    {
      userId: root.id,
      name: "root",
      scopes: ["api", "read_repository", "write_repository"],
      expiresAt: null,
    },
    token,
  );
  if (configured !== undefined) return undefined;
  writeFileSync(join(ctx.config.dataDir, "root-token"), token + "\n", { mode: 0o600 });
  return token;
}
