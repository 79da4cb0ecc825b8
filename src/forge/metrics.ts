import { Counter, type Registry } from "prom-client";
import { createMetricsRegistry } from "../lib/metrics.ts";

export type GitTransport = "ssh" | "http";
export type GitCommand = "upload-pack" | "receive-pack" | "upload-archive";

/**
 * The forge's metrics (docs/operations.md): Node's process metrics and git operations by
 * transport and command, in a registry of this server instance's own.
 */
export class ForgeMetrics {
  readonly registry: Registry = createMetricsRegistry();
  private readonly gitOperations = new Counter({
    name: "slipway_forge_git_operations_total",
    help: "Git operations the forge ran (fetches and clones: upload-pack; pushes: receive-pack), by transport.",
    labelNames: ["transport", "command"],
    registers: [this.registry],
  });

  /** One git command allowed and started (an HTTP ref advertisement alone is not one). */
  gitOperation(transport: GitTransport, command: GitCommand): void {
    this.gitOperations.inc({ transport, command });
  }
}
