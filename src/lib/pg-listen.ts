import type pg from "pg";
import type { Logger } from "./logger.ts";

/**
 * One Postgres connection of its own that `LISTEN`s on a channel, for as long as the process
 * runs: a pooled connection would be handed to other queries and lose its `LISTEN`. A lost
 * connection (a Postgres restart, a failover, a dead network found by the ping) is opened again
 * with backoff, and `onListening(true)` says so: notifications sent meanwhile are lost, and the
 * caller catches up from the database.
 */
export interface PgListener {
  stop(): Promise<void>;
}

export interface PgListenOptions {
  url: string;
  channel: string;
  log: Logger;
  onNotification(payload: string): void;
  /** After each `LISTEN`: `reconnected` is false the first time. */
  onListening?(reconnected: boolean): void;
  /** How often the connection is checked with a query (default 10 s). */
  pingMs?: number;
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;
const MAX_BACKOFF_MS = 5000;

/** Listens once connected (rejects when the first connection fails), then stays listening. */
export async function pgListen(options: PgListenOptions): Promise<PgListener> {
  if (!CHANNEL.test(options.channel)) throw new Error(`not a channel name: ${options.channel}`);
  const { default: pgModule } = await import("pg"); // on Postgres only (`postgres.ts`)
  let stopped = false;
  let client: pg.Client | undefined;
  let ping: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let backoffMs = 100;

  const connect = async (reconnected: boolean): Promise<void> => {
    const next = new pgModule.Client({
      connectionString: options.url,
      keepAlive: true,
      query_timeout: 5000,
    });
    let listening = false;
    let lost = false;
    const onLost = (error?: Error): void => {
      // Before `LISTEN` answered, a failure is the rejection below (the caller retries).
      if (!listening || lost) return;
      lost = true;
      clearInterval(ping);
      if (stopped) return;
      options.log.warn({ err: error, channel: options.channel }, "LISTEN connection lost");
      void next.end().catch(() => undefined);
      retry = setTimeout(() => void reconnect(), backoffMs);
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    };
    next.on("error", onLost);
    next.on("end", () => onLost());
    next.on("notification", (message) => {
      if (message.channel === options.channel && message.payload !== undefined) {
        options.onNotification(message.payload);
      }
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${options.channel}`);
    } catch (error) {
      await next.end().catch(() => undefined);
      throw error;
    }
    if (stopped) {
      await next.end().catch(() => undefined);
      return;
    }
    listening = true;
    client = next;
    backoffMs = 100;
    ping = setInterval(() => {
      next.query("select 1").catch((error: Error) => onLost(error));
    }, options.pingMs ?? 10_000);
    ping.unref();
    options.onListening?.(reconnected);
  };

  const reconnect = async (): Promise<void> => {
    if (stopped) return;
    try {
      await connect(true);
    } catch (error) {
      options.log.warn({ err: error, channel: options.channel }, "LISTEN reconnect failed");
      retry = setTimeout(() => void reconnect(), backoffMs);
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    }
  };

  await connect(false);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(retry);
      clearInterval(ping);
      await client?.end().catch(() => undefined);
    },
  };
}
