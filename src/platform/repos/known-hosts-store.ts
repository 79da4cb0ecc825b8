import type { Kysely } from "kysely";
import type { PlatformDatabase } from "../db/schema.ts";
import {
  hostKeyFingerprint,
  knownHostsName,
  parseHostKey,
  type HostKey,
  type HostKeyStore,
} from "./host-keys.ts";

/**
 * Pinned SSH host keys on the `known_hosts` table. A build sees the platform-wide pins (scope
 * `*`, e.g. keys a provider publishes) and the keys its own account recorded on first contact;
 * it records new keys under its account only, so one tenant can never pin a host key for
 * another (a tenant pointing a repository at an impostor host affects only itself).
 */
export class DbHostKeyStore implements HostKeyStore {
  constructor(
    private readonly db: Kysely<PlatformDatabase>,
    private readonly accountId: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(host: string, port: number): Promise<readonly HostKey[] | undefined> {
    const rows = await this.db
      .selectFrom("known_hosts")
      .select(["scope", "key_type", "public_key"])
      .where("host", "=", knownHostsName(host, port))
      .where("scope", "in", ["*", this.accountId])
      .orderBy("id")
      .execute();
    // Platform-wide pins win over first-seen ones.
    const pinned = rows.filter((r) => r.scope === "*");
    const chosen = pinned.length > 0 ? pinned : rows;
    const keys = chosen.map((r) => `${r.key_type} ${r.public_key}`);
    return keys.length > 0 ? keys : undefined;
  }

  async save(host: string, port: number, keys: readonly HostKey[]): Promise<void> {
    const created_at = this.now().toISOString();
    const values = keys.flatMap((key) => {
      const parsed = parseHostKey(key);
      return parsed
        ? [
            {
              scope: this.accountId,
              host: knownHostsName(host, port),
              key_type: parsed.type,
              public_key: parsed.base64,
              fingerprint: hostKeyFingerprint(key),
              source: "first_seen" as const,
              created_at,
            },
          ]
        : [];
    });
    if (values.length === 0) return;
    // Two builds meeting a new host at once record the same keys: the first write wins.
    await this.db
      .insertInto("known_hosts")
      .values(values)
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}
