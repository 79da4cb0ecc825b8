import type { Kysely } from "kysely";
import type { ForgeConfig } from "../config.ts";
import type { Logger } from "../lib/logger.ts";
import type { SecretBox } from "../lib/secret-box.ts";
import type { ForgeDatabase } from "./db/schema.ts";
import type { RepositoryStore } from "./git/repositories.ts";
import type { HookDispatcher } from "./webhooks/dispatcher.ts";

/** What every forge service needs; built once in `server.ts`, the composition root. */
export interface ForgeContext {
  db: Kysely<ForgeDatabase>;
  config: ForgeConfig;
  log: Logger;
  secrets: SecretBox;
  repositories: RepositoryStore;
  hooks: HookDispatcher;
  now: () => Date;
}

export const isoNow = (ctx: Pick<ForgeContext, "now">): string => ctx.now().toISOString();
