import type { FastifyRequest } from "fastify";
import { PlatformError } from "../../errors.ts";

/**
 * At most `limit` webhook bodies being read at once (each may be 25 MB): past it a delivery is
 * answered 503 with `Retry-After` before a byte of its body is read, so a flood of slow
 * senders cannot hold the platform's memory. A request leaves the gate once its body is read,
 * or when it ends or is aborted, whichever comes first.
 */
export class BodyGate {
  private reading = 0;
  private readonly inside = new WeakSet<FastifyRequest>();

  constructor(private readonly limit: number) {}

  /** For `preParsing`: lets the request read its body, or refuses it. */
  enter(request: FastifyRequest): void {
    if (this.reading >= this.limit) {
      throw new PlatformError(
        "unavailable",
        `busy: ${this.limit} webhook deliveries are being received right now (SLIPWAY_WEBHOOK_BODY_CONCURRENCY); redeliver in a few seconds`,
        undefined,
        { "retry-after": "5" },
      );
    }
    this.reading++;
    this.inside.add(request);
  }

  /** For `preValidation`, `onResponse` and `onRequestAbort`: counted once. */
  leave = async (request: FastifyRequest): Promise<void> => {
    if (this.inside.delete(request)) this.reading--;
  };
}
