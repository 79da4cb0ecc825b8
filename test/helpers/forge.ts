import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultWebhookPolicy, type ForgeConfig, type WebhookPolicy } from "../../src/config.ts";
import { createLogger, type Logger } from "../../src/lib/logger.ts";
import { startForge, type RunningForge } from "../../src/forge/server.ts";
import { callJsonApi, type ApiResponse } from "./json-api.ts";
import { waitUntil } from "./wait.ts";

// The forge's tests import it from here.

export type { ApiResponse };

export const ROOT_TOKEN = "glpat-test-root-token-0123456789";

export interface TestForge {
  forge: RunningForge;
  url: string;
  sshPort: number;
  dataDir: string;
  rootToken: string;
  /** Calls `/api/v4${path}` with a token (root's by default; `null` for anonymous). */
  api<T = unknown>(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiResponse<T>>;
  /** Creates a user with an `api`-scoped token. */
  createUser(username: string, options?: { admin?: boolean; scopes?: string[] }): Promise<TestUser>;
  /** Creates a project owned by the given user (`visibility` private by default). */
  createProject(owner: TestUser, path: string, visibility?: string): Promise<TestProject>;
  stop(): Promise<void>;
}

export interface TestUser {
  id: number;
  username: string;
  token: string;
}

export interface TestProject {
  id: number;
  path_with_namespace: string;
  ssh_url_to_repo: string;
  http_url_to_repo: string;
}

export async function startTestForge(
  options: {
    webhooks?: Partial<WebhookPolicy>;
    allowLocalWebhooks?: boolean;
    /**
     * Start on an existing data directory (a restart). The caller owns it: `stop()` leaves it
     * in place. Without it a fresh temporary directory is used and removed by `stop()`.
     */
    dataDir?: string;
    /** Where the forge logs (default: nowhere), for tests that read its request log. */
    logger?: Logger;
    /** `/metrics` (token, own address); default: none. */
    metrics?: ForgeConfig["metrics"];
  } = {},
): Promise<TestForge> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "slipway-forge-")));
  const config: ForgeConfig = {
    dataDir,
    host: "127.0.0.1",
    httpPort: 0,
    sshPort: 0,
    publicUrl: "http://127.0.0.1:0",
    sshHost: "127.0.0.1",
    rootToken: ROOT_TOKEN,
    allowLocalWebhooks: options.allowLocalWebhooks ?? true,
    allowedWebhookHosts: [],
    webhooks: { ...defaultWebhookPolicy(), ...options.webhooks },
    ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
  };
  const forge = await startForge(
    config,
    options.logger ?? createLogger({ name: "forge-test", level: "silent" }),
  );
  const url = forge.url;

  const api: TestForge["api"] = (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? ROOT_TOKEN : opts.token;
    if (token !== null) headers["private-token"] = token;
    return callJsonApi(`${url}/api/v4${path}`, method, headers, opts.body);
  };

  let serial = 0;
  const createUser: TestForge["createUser"] = async (username, userOptions = {}) => {
    const created = await api<{ id: number }>("POST", "/users", {
      body: {
        username,
        name: username,
        email: `${username}@example.test`,
        admin: userOptions.admin ?? false,
      },
    });
    if (created.status !== 201) throw new Error(`createUser: ${created.status} ${created.text}`);
    const token = await api<{ token: string }>(
      "POST",
      `/users/${created.body.id}/personal_access_tokens`,
      {
        body: { name: `t${++serial}`, scopes: userOptions.scopes ?? ["api"] },
      },
    );
    if (token.status !== 201) throw new Error(`createToken: ${token.status} ${token.text}`);
    return { id: created.body.id, username, token: token.body.token };
  };

  const createProject: TestForge["createProject"] = async (owner, path, visibility = "private") => {
    const created = await api<TestProject>("POST", "/projects", {
      token: owner.token,
      body: { name: path, path, visibility },
    });
    if (created.status !== 201) throw new Error(`createProject: ${created.status} ${created.text}`);
    return created.body;
  };

  return {
    forge,
    url,
    sshPort: forge.sshPort,
    dataDir,
    rootToken: ROOT_TOKEN,
    api,
    createUser,
    createProject,
    stop: async () => {
      await forge.stop();
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ReceivedHook {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

/** A local HTTP server standing in for a webhook receiver; it records every request. */
export interface HookReceiver {
  url: string;
  requests: ReceivedHook[];
  /** Decides each answer; replace it to change the receiver's behaviour mid-test. */
  respond: (request: ReceivedHook) => { status: number; body?: string } | "hang";
  /** Waits until at least `count` requests arrived and returns them. */
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedHook[]>;
  close(): Promise<void>;
}

export async function startHookReceiver(
  respond: HookReceiver["respond"] = () => ({ status: 200, body: "ok" }),
): Promise<HookReceiver> {
  const requests: ReceivedHook[] = [];
  const hanging = new Set<ServerResponse>();
  const receiver: HookReceiver = {
    url: "",
    requests,
    respond,
    waitForRequests: (count, timeoutMs) =>
      waitUntil(
        () => (requests.length >= count ? requests.slice() : undefined),
        () => `${count} webhook request(s) (got ${requests.length})`,
        timeoutMs,
      ),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const received: ReceivedHook = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        receivedAt: Date.now(),
      };
      requests.push(received);
      const answer = receiver.respond(received);
      if (answer === "hang") {
        hanging.add(res);
        res.on("close", () => hanging.delete(res));
        return;
      }
      res.writeHead(answer.status, { "content-type": "text/plain" }).end(answer.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}
