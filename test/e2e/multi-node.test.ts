import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { freePort } from "../helpers/acme.ts";
import {
  addForgeDeployKey,
  COPY_TO_DIST,
  createPushedProject,
  edgeGet,
  repoWithDeployKey,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import {
  startTestForge,
  type TestForge,
  type TestProject,
  type TestUser,
} from "../helpers/forge.ts";
import { callJsonApi } from "../helpers/json-api.ts";
import { ADMIN_TOKEN, type TestPlatform } from "../helpers/platform.ts";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { startTestS3, type TestS3 } from "../helpers/s3.ts";
import {
  createDeployKey,
  createSite,
  waitForBuild,
  webhookDeliveries,
  type SiteBody,
} from "../helpers/sites.ts";
import { waitUntil } from "../helpers/wait.ts";
import { postWebhook, randomSha, signedHeaders } from "../helpers/webhooks.ts";

/**
 * Slipway scaled out, as docs/scale-out.md describes it, with real processes: one PostgreSQL
 * cluster, one S3-compatible server (the strict fake), two `slipway platform` nodes that run no
 * builds (`SLIPWAY_BUILD_WORKERS=0`) and two `slipway worker` processes, all four started at
 * once on an empty database. The nodes keep host → deploy answers for 10 minutes
 * (`SLIPWAY_EDGE_HOST_CACHE_MS`), so that only the publish notifications (`LISTEN/NOTIFY`) can
 * make a node serve a deploy another process published.
 */

const BIN = join(import.meta.dirname, "..", "..", "bin", "slipway.js");
const LEASE_SECONDS = 3;
/** How long a node may take to serve a publish made elsewhere: generous, not a measure. */
const SWITCH_DEADLINE_MS = 5000;

interface SlipwayProcess {
  name: string;
  child: ChildProcess;
  /** The API's base URL (platform nodes). */
  url: string;
  output(): string;
  exited: Promise<number | null>;
}

async function startSlipway(
  command: "platform" | "worker",
  name: string,
  env: Record<string, string>,
): Promise<SlipwayProcess> {
  const child = spawn(process.execPath, [BIN, command], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-200_000);
  };
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const ready =
    command === "platform"
      ? /Slipway platform \(Netlify API\) (\S+)\/api\/v1/
      : /Slipway worker ready()/;
  const url = await waitUntil(
    () => {
      if (child.exitCode !== null) throw new Error(`${name} exited: ${output}`);
      return ready.exec(output)?.[1];
    },
    () => `${name} to start: ${output}`,
    120_000, // four processes loading the platform on a busy machine
    50,
  );
  return { name, child, url, output: () => output, exited };
}

/** The pid's parent, from /proc (0 once it is gone). */
async function parentOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

/** The worker whose descendant runs a command line containing `marker` (the build's command). */
async function workerRunning(
  marker: string,
  workers: SlipwayProcess[],
): Promise<SlipwayProcess | undefined> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (!cmdline.split("\0").join(" ").includes(marker)) continue;
    for (let pid = Number(entry), depth = 0; pid > 1 && depth < 64; depth++) {
      const worker = workers.find((w) => w.child.pid === pid);
      if (worker) return worker;
      pid = await parentOf(pid);
    }
  }
  return undefined;
}

/** A node's API as the shared test helpers call it. */
function nodeApi(url: string): Pick<TestPlatform, "api"> {
  return {
    api: (method, path, options = {}) => {
      const headers: Record<string, string> = { ...options.headers };
      const token = options.token === undefined ? ADMIN_TOKEN : options.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      return callJsonApi(`${url}/api/v1${path}`, method, headers, options.body);
    },
  };
}

describe("two platform nodes and two workers on Postgres and S3", () => {
  let cluster: TestPostgres;
  let databaseUrl: string;
  let s3: TestS3;
  let forge: TestForge;
  let owner: TestUser;
  let project: TestProject;
  let repo: WorkingCopy;
  let root: string;
  let nodeA: SlipwayProcess;
  let nodeB: SlipwayProcess;
  let workers: SlipwayProcess[] = [];
  const processes: SlipwayProcess[] = [];
  let token: string;
  let site: SiteBody;
  const host = "fleet.localhost";

  const a = () => nodeApi(nodeA.url);
  const b = () => nodeApi(nodeB.url);
  const logs = () => processes.map((p) => `--- ${p.name}\n${p.output().slice(-4000)}`).join("\n");

  /** The site's builds by state, read from the database every node shares. */
  const buildStates = async (): Promise<Map<string, number>> => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ state: string; n: string }>(
        "select state, count(*) as n from builds where site_id = $1 group by state",
        [site.id],
      );
      return new Map(rows.map((r) => [r.state, Number(r.n)]));
    } finally {
      await client.end();
    }
  };
  const settled = async (): Promise<boolean> => {
    const states = await buildStates();
    return !states.has("enqueued") && !states.has("building");
  };

  /** Polls both nodes (10 ms apart) until each serves `body`; the lag of each from now. */
  const bothServe = async (body: string, what: string): Promise<number[]> => {
    const start = performance.now();
    return Promise.all(
      [nodeA, nodeB].map(async (node) => {
        await waitUntil(
          async () => (await edgeGet(node.url, host)).body === body,
          `${node.name} to serve ${what}`,
          SWITCH_DEADLINE_MS,
          10,
        );
        return Math.round(performance.now() - start);
      }),
    );
  };

  before(async () => {
    const setUpStart = performance.now();
    cluster = await startTestPostgres();
    databaseUrl = await cluster.createDatabase();
    s3 = await startTestS3();
    forge = await startTestForge();
    ({ owner, project, repo } = await createPushedProject(forge, "mara", "fleet", {
      "index.html": "<p>one</p>\n",
      "build.sh": COPY_TO_DIST,
    }));
    root = await mkdtemp(join(tmpdir(), "slipway-multi-node-"));
    const common: Record<string, string> = {
      SLIPWAY_HOST: "127.0.0.1",
      SLIPWAY_HTTPS_PORT: "0",
      SLIPWAY_LOG_LEVEL: "info",
      SLIPWAY_DATABASE_URL: databaseUrl,
      SLIPWAY_BLOB_STORE: "s3",
      SLIPWAY_S3_BUCKET: s3.bucket,
      SLIPWAY_S3_ENDPOINT: s3.config.endpoint!,
      SLIPWAY_S3_FORCE_PATH_STYLE: "true",
      AWS_REGION: s3.fake.region,
      AWS_ACCESS_KEY_ID: s3.fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.fake.credentials.secretAccessKey,
      // Every node and worker: the same master key and administrator token.
      SLIPWAY_MASTER_KEY: randomBytes(32).toString("base64"),
      SLIPWAY_ADMIN_TOKEN: ADMIN_TOKEN,
      SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS: `127.0.0.1:${forge.sshPort}`,
      SLIPWAY_JOB_LEASE_SECONDS: String(LEASE_SECONDS),
      SLIPWAY_EDGE_HOST_CACHE_MS: "600000",
      SLIPWAY_BUILD_TIMEOUT: "60",
      SLIPWAY_MIN_FREE_DISK: "0",
    };
    const platformEnv = async (name: string): Promise<Record<string, string>> => ({
      ...common,
      SLIPWAY_DATA_DIR: join(root, name),
      SLIPWAY_PORT: String(await freePort()),
      SLIPWAY_BUILD_WORKERS: "0",
    });
    const workerEnv = (name: string): Record<string, string> => ({
      ...common,
      SLIPWAY_DATA_DIR: join(root, name),
      SLIPWAY_BUILD_WORKERS: "1",
    });
    const processesStart = performance.now();
    // All four at once on the empty database: migrations and first writes take turns.
    const started = await Promise.allSettled([
      platformEnv("a").then((env) => startSlipway("platform", "node A", env)),
      platformEnv("b").then((env) => startSlipway("platform", "node B", env)),
      startSlipway("worker", "worker 1", workerEnv("w1")),
      startSlipway("worker", "worker 2", workerEnv("w2")),
    ]);
    for (const result of started) if (result.status === "fulfilled") processes.push(result.value);
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    [nodeA, nodeB, ...workers] = processes as [SlipwayProcess, SlipwayProcess, SlipwayProcess];
    process.stderr.write(
      `multi-node set-up: ${Math.round(performance.now() - setUpStart)} ms (processes ${Math.round(performance.now() - processesStart)} ms)\n`,
    );
  });

  after(async () => {
    const tearDownStart = performance.now();
    for (const p of processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
      await p.exited;
    }
    await repo?.cleanup();
    await forge?.stop();
    await s3?.stop();
    await cluster?.stop();
    if (root) await rm(root, { recursive: true, force: true });
    process.stderr.write(
      `multi-node tear-down: ${Math.round(performance.now() - tearDownStart)} ms\n`,
    );
  });

  it("links a site through node A, builds on a worker, and both nodes serve each push", async () => {
    const created = await a().api<{ token: string }>("POST", "/admin/users", {
      body: { email: "mara@example.test", full_name: "Mara" },
    });
    assert.equal(created.status, 201, created.text);
    token = created.body.token;
    const key = await createDeployKey(a(), token);
    await addForgeDeployKey(forge, project, owner, key.public_key);
    site = await createSite(a(), token, {
      name: "fleet",
      repo: repoWithDeployKey(project, key.id, {
        repo_path: project.path_with_namespace,
        id: project.id,
      }),
    });
    assert.ok(site.git_webhook && site.build_id);
    const hook = await forge.api("POST", `/projects/${project.id}/hooks`, {
      token: owner.token,
      body: { url: site.git_webhook.url, token: site.git_webhook.secret, push_events: true },
    });
    assert.equal(hook.status, 201, hook.text);

    // Node B answers for what node A created; the nodes run no builds, so a worker ran it.
    const first = await waitForBuild(b(), site.build_id, token);
    assert.equal(first.state, "done", `${first.error ?? ""}\n${logs()}`);
    await bothServe("<p>one</p>\n", "the first deploy");
    // The deploy's files are in the bucket, not on a node's disk.
    assert.ok((await s3.keys()).length > 0, "the bucket holds the deploy");

    // A push: the forge's hook reaches node A, a worker builds, both nodes switch.
    const second = await repo.commit({ "index.html": "<p>two</p>\n" });
    await repo.push("main");
    const delivery = await waitUntil(
      async () => (await webhookDeliveries(b(), site.id, token)).find((d) => d.sha === second),
      "the push's delivery",
      20_000,
      50,
    );
    assert.equal(delivery.outcome, "built", delivery.reason);
    const built = await waitForBuild(b(), delivery.build_id!, token);
    assert.equal(built.state, "done", built.error ?? "");
    await bothServe("<p>two</p>\n", "the pushed deploy");
  });

  it("publishes a rollback through node B, and both nodes switch at once", async (t) => {
    // Both nodes have the site's host cached (for 10 minutes) from the polls above.
    const rollback = await b().api("PUT", `/sites/${site.id}/rollback`, { token });
    assert.equal(rollback.status, 204, rollback.text);
    const [lagA, lagB] = await bothServe("<p>one</p>\n", "the rolled-back deploy");
    t.diagnostic(
      `multi-node: after the rollback's answer, node A served it in ${lagA} ms, node B in ${lagB} ms`,
    );
    // And forward again through node A.
    const deploys = await a().api<{ id: string; commit_ref: string | null }[]>(
      "GET",
      `/sites/${site.id}/deploys`,
      { token },
    );
    const newest = deploys.body.find((d) => d.commit_ref !== null && d.commit_ref !== "")!;
    const restore = await a().api("POST", `/sites/${site.id}/deploys/${newest.id}/restore`, {
      token,
    });
    assert.equal(restore.status, 201, restore.text);
    const [againA, againB] = await bothServe("<p>two</p>\n", "the restored deploy");
    t.diagnostic(
      `multi-node: after the restore's answer: node A ${againA} ms, node B ${againB} ms`,
    );
  });

  it("turns a storm of 200 signed deliveries, with duplicates, over both nodes into one build per commit", async (t) => {
    await waitUntil(settled, "the builds so far to settle", 30_000, 100);
    const earlierStates = await buildStates();
    const hook = site.git_webhook!;
    const urls = [nodeA, nodeB].map((node) => new URL(new URL(hook.url).pathname, node.url).href);
    const commits: string[] = [];
    const stormStart = performance.now();
    const statuses = new Map<number, number>();
    // 25 commits, 8 deliveries each, all of a commit's at once over both nodes: a provider's
    // redeliveries (the same delivery id, 3 times) and the same push under 5 new ids.
    for (let c = 0; c < 25; c++) {
      const sha = randomSha();
      commits.push(sha);
      const body = JSON.stringify({
        object_kind: "push",
        ref: "refs/heads/main",
        before: randomSha(),
        after: sha,
        commits: [{ id: sha, title: "storm", message: "storm\n" }],
      });
      const redelivered = randomBytes(8).toString("hex");
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          postWebhook(
            urls[i % 2]!,
            signedHeaders("gitlab", hook.secret, body, i < 3 ? { id: redelivered } : {}),
            body,
          ),
        ),
      );
      for (const answer of answers) {
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        assert.ok(answer.status < 300, `${answer.status} ${answer.text}`);
      }
    }
    assert.equal(
      [...statuses.values()].reduce((n, k) => n + k, 0),
      200,
    );
    const stormMs = Math.round(performance.now() - stormStart);

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ sha: string; n: string }>(
        "select sha, count(*) as n from builds where site_id = $1 and sha = any($2) group by sha",
        [site.id, commits],
      );
      assert.deepEqual(
        rows.map((r) => [r.sha, Number(r.n)]).sort(),
        commits.map((sha) => [sha, 1]).sort(),
        "exactly one build per commit",
      );
      const total = [...(await buildStates()).values()].reduce((n, k) => n + k, 0);
      const earlier = [...earlierStates.values()].reduce((n, k) => n + k, 0);
      assert.equal(total - earlier, commits.length, "no other builds");
    } finally {
      await client.end();
    }
    // The storm's commits do not exist: their builds end (superseded or failed), none hangs.
    await waitUntil(settled, () => `the storm's builds to end\n${logs()}`, 60_000, 200);
    t.diagnostic(
      `multi-node: 200 deliveries answered in ${stormMs} ms (${JSON.stringify(Object.fromEntries(statuses))}); builds ended ${Math.round(performance.now() - stormStart)} ms after the first`,
    );
  });

  it("finishes a build on the other worker after one is killed mid-build; none stays building", async () => {
    const marker = `sleep 4.${String(randomBytes(2).readUInt16BE() % 1000).padStart(3, "0")}`;
    const third = await repo.commit({
      "index.html": "<p>three</p>\n",
      "build.sh": `echo started; ${marker}; ${COPY_TO_DIST}`,
    });
    await repo.push("main");
    const delivery = await waitUntil(
      async () => (await webhookDeliveries(b(), site.id, token)).find((d) => d.sha === third),
      "the push's delivery",
      20_000,
      50,
    );
    assert.equal(delivery.outcome, "built", delivery.reason);
    const buildId = delivery.build_id!;
    const running = await waitUntil(
      () => workerRunning(marker, workers),
      () => `a worker to run the build's command\n${logs()}`,
      60_000,
      50,
    );
    running.child.kill("SIGKILL");
    await running.exited;
    const survivor = workers.find((w) => w !== running)!;
    assert.equal(survivor.child.exitCode, null, "the other worker is running");

    // Until the other worker takes the build over (after the lease expired), the previous
    // deploy is served.
    assert.equal((await edgeGet(nodeA.url, host)).body, "<p>two</p>\n");
    const finished = await waitForBuild(b(), buildId, token, 60_000);
    assert.equal(finished.state, "done", `${finished.error ?? ""}\n${logs()}`);
    assert.equal(finished.attempts, 2);
    await bothServe("<p>three</p>\n", "the build the other worker finished");
    await waitUntil(settled, "every build to end", 10_000, 100);
    const states = await buildStates();
    assert.equal(states.get("building"), undefined, "no build stays building");
  });

  it("keeps serving and accepting webhooks on node B when node A stops", async () => {
    nodeA.child.kill("SIGTERM");
    assert.equal(await nodeA.exited, 0, nodeA.output().slice(-2000));
    assert.equal((await edgeGet(nodeB.url, host)).body, "<p>three</p>\n");

    const fourth = await repo.commit({
      "index.html": "<p>four</p>\n",
      "build.sh": COPY_TO_DIST,
    });
    await repo.push("main");
    // The forge's hook points at node A: the load balancer would send it to B, as here.
    const hook = site.git_webhook!;
    const body = JSON.stringify({
      object_kind: "push",
      ref: "refs/heads/main",
      before: randomSha(),
      after: fourth,
      commits: [{ id: fourth, title: "four", message: "four\n" }],
    });
    const answer = await postWebhook(
      new URL(new URL(hook.url).pathname, nodeB.url).href,
      signedHeaders("gitlab", hook.secret, body),
      body,
    );
    assert.equal(answer.status, 202, answer.text);
    const delivery = await waitUntil(
      async () => (await webhookDeliveries(b(), site.id, token)).find((d) => d.sha === fourth),
      "the delivery at node B",
      10_000,
      50,
    );
    const built = await waitForBuild(b(), delivery.build_id!, token);
    assert.equal(built.state, "done", built.error ?? "");
    await waitUntil(
      async () => (await edgeGet(nodeB.url, host)).body === "<p>four</p>\n",
      "node B to serve the new deploy",
      SWITCH_DEADLINE_MS,
      10,
    );
  });
});
