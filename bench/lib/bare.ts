import { join } from "node:path";
import { pinned } from "./baselines.ts";
import type { Cleanup } from "./cleanup.ts";
import { Daemon, freePort, waitForPort } from "./proc.ts";

/**
 * Starts `bare-server.ts` (HTTP, or HTTPS with `tls`: `node:https`, or with `http2` the
 * `node:http2` secure server with HTTP/1.1 fallback and SNI) serving the files of `root`, pinned.
 * `load`: a module of this project the server imports first and never uses (`bare-server.ts`).
 */
export async function startBareServer(options: {
  logFile: string;
  root: string;
  pin: readonly string[];
  cleanup: Cleanup;
  tls?: { certFile: string; keyFile: string; http2?: boolean };
  load?: string;
  /** Options for node itself (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
}): Promise<{ port: number; pid: number | undefined }> {
  const port = await freePort();
  const { command, args } = pinned(options.pin, process.execPath, [
    ...(options.nodeArgs ?? []),
    "--import",
    "tsx",
    join(import.meta.dirname, "bare-server.ts"),
  ]);
  const daemon = Daemon.start("bare node server", options.logFile, command, args, {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: "production",
      BARE_ROOT: options.root,
      BARE_PORT: String(port),
      ...(options.tls ? { BARE_CERT: options.tls.certFile, BARE_KEY: options.tls.keyFile } : {}),
      ...(options.tls?.http2 === true ? { BARE_HTTP2: "1" } : {}),
      ...(options.load !== undefined ? { BARE_LOAD: options.load } : {}),
    },
  });
  options.cleanup.defer("stop the bare server", () => daemon.stop());
  await waitForPort(port, { timeoutMs: 20_000, daemon, what: "the bare server to listen" });
  return { port, pid: daemon.pid };
}
