import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Cleanup } from "./cleanup.ts";
import { execChecked, type Env } from "./proc.ts";
import {
  linkForgeSite,
  platformApi,
  startSlipwayChild,
  type BuildBody,
  type LinkedSite,
  type LogLine,
  type SlipwayChild,
} from "./slipway.ts";

/**
 * The set-up the push-to-live benchmarks share: `slipway start` (forge + platform in one child,
 * as deployed; no HTTPS listener, whose fixed port another run may hold), a site linked with
 * the forge and its first build live, a plain bare repository as the by-hand baseline's remote,
 * and the reads each round makes: the edge until it serves a marker, the finished build of a
 * commit, its log.
 */

export interface LinkedSiteBench {
  root: string;
  slipway: SlipwayChild;
  site: LinkedSite;
  /** A plain bare repository holding the site's commits (push to it with `site.repo.pushTo`). */
  baselineRepo: string;
  /** Polls `GET /index.html` at the site's host until the body has `marker`. */
  waitServed(marker: string, timeoutMs?: number): Promise<void>;
  /**
   * Resolves once the build's live log (its SSE stream: one quiet connection) has a line
   * matching `pattern` or of the `deploying` section, or the build ended. Reading the edge only
   * from then on keeps a long build's cores for the build.
   */
  waitLogLine(buildId: string, pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** The finished build of `sha`. */
  findBuild(sha: string): Promise<BuildBody>;
  buildLog(buildId: string): Promise<LogLine[]>;
}

export async function startLinkedSite(options: {
  cleanup: Cleanup;
  /** Names the temporary directory (`slipway-bench-<prefix>-`). */
  prefix: string;
  siteName: string;
  files: ReadonlyMap<string, Buffer | string>;
  cmd: string;
  publishDir: string;
  webhook: boolean;
  env?: Env;
  /** Leave the temporary directory for a look afterwards. */
  keep?: boolean;
  /** Between two reads of the edge (default 2 ms). */
  pollMs?: number;
}): Promise<LinkedSiteBench> {
  const { cleanup } = options;
  const root = await mkdtemp(join(tmpdir(), `slipway-bench-${options.prefix}-`));
  cleanup.defer(`remove ${root}`, async () => {
    if (options.keep === true) console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanup.defer("close the HTTP agent", () => agent.destroy());
  const slipway = await startSlipwayChild({
    command: "start",
    dir: join(root, "slipway"),
    pin: [],
    cleanup,
    logLevel: "info",
    env: { SLIPWAY_HTTPS_PORT: "off", SLIPWAY_ACME_DIRECTORY_URL: "off", ...options.env },
  });
  if (!slipway.forge) throw new Error("slipway start gave no forge");
  const site = await linkForgeSite({
    platform: slipway,
    forge: slipway.forge,
    dir: join(root, "work"),
    siteName: options.siteName,
    files: options.files,
    cmd: options.cmd,
    publishDir: options.publishDir,
    webhook: options.webhook,
  });
  const baselineRepo = join(root, "baseline.git");
  await execChecked("git", ["init", "-q", "--bare", "--initial-branch=main", baselineRepo]);
  await site.repo.pushTo(baselineRepo);
  const pollMs = options.pollMs ?? 2;

  return {
    root,
    slipway,
    site,
    baselineRepo,
    async waitServed(marker, timeoutMs = 120_000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        // A keep-alive socket the server closed while a baseline ran is reset: ask again.
        const body = await get(slipway.port, site.host, agent).catch(
          (error: NodeJS.ErrnoException) => {
            if (error.code === "ECONNRESET") return "";
            throw error;
          },
        );
        if (body.includes(marker)) return;
        if (!slipway.daemon.running) throw new Error(slipway.daemon.describeExit());
        if (performance.now() > deadline) {
          throw new Error(
            `timed out after ${timeoutMs} ms waiting for "${marker}" at ${site.host}`,
          );
        }
        await sleep(pollMs);
      }
    },
    async waitLogLine(buildId, pattern, timeoutMs = 120_000) {
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), timeoutMs);
      try {
        const response = await fetch(`${slipway.url}/api/v1/builds/${buildId}/log/stream`, {
          headers: { authorization: `Bearer ${site.tenantToken}` },
          signal: stop.signal,
        });
        if (!response.ok || !response.body) {
          throw new Error(`the log stream of build ${buildId}: ${response.status}`);
        }
        const decoder = new TextDecoder();
        let text = "";
        for await (const chunk of response.body) {
          text += decoder.decode(chunk as Uint8Array, { stream: true });
          for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
            const event = text.slice(0, end);
            text = text.slice(end + 2);
            if (/^event: end$/m.test(event)) return;
            const data = /^data: (.*)$/m.exec(event)?.[1];
            if (data === undefined || !/^event: line$/m.test(event)) continue;
            const line = JSON.parse(data) as LogLine;
            if (line.section === "deploying" || pattern.test(line.message)) return;
          }
        }
      } finally {
        clearTimeout(timer);
        stop.abort();
      }
    },
    async findBuild(sha) {
      for (let attempt = 0; attempt < 200; attempt++) {
        const builds = await platformApi<BuildBody[]>(
          slipway,
          "GET",
          `/sites/${site.siteId}/builds`,
          site.tenantToken,
        );
        const build = builds.find((b) => b.sha === sha && b.done);
        if (build) return build;
        await sleep(50);
      }
      throw new Error(`no finished build of ${sha}`);
    },
    buildLog: (buildId) =>
      platformApi<LogLine[]>(slipway, "GET", `/builds/${buildId}/log`, site.tenantToken),
  };
}

function get(port: number, host: string, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/index.html", agent, headers: { host: `${host}:${port}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", reject);
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error(`GET ${host}/index.html timed out`)));
    req.on("error", reject);
    req.end();
  });
}
