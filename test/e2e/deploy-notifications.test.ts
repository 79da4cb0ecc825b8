import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { jwtVerify } from "jose";
import { SMTPServer } from "smtp-server";
import {
  addForgeDeployKey,
  COPY_TO_DIST,
  createPushedProject,
  repoWithDeployKey,
  type WorkingCopy,
} from "../helpers/e2e.ts";
import { startTestForge, type TestForge } from "../helpers/forge.ts";
import { startTestPlatform, type Tenant, type TestPlatform } from "../helpers/platform.ts";
import { sandboxSkip } from "../helpers/sandbox-testbed.ts";
import {
  createDeployKey,
  createSite,
  waitForBuild,
  type BuildBody,
  type SiteBody,
} from "../helpers/sites.ts";
import { poll } from "../helpers/wait.ts";
import { slackEscape } from "../../src/platform/notifications/deliver.ts";

/**
 * Deploy notifications end to end: a real build on the forge's repository notifies a receiver
 * written the way Netlify's docs say (the JWS in `X-Webhook-Signature` verified with the hook's
 * secret and `jose`, its `sha256` claim matching the body), a Slack-compatible receiver and a
 * local SMTP server (`smtp-server`, strict about the protocol). A receiver that fails twice is
 * retried with backoff and its failures are listed in the hook's delivery log; a receiver
 * whose name resolves to a private address is refused by the guard, once, without a retry.
 */

const SECRET = "receiver-shared-secret-0123456789abcdef";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface DeliveryBody {
  attempt: number;
  outcome: string;
  status_code: number | null;
  error: string | null;
  event: string;
  deploy_id: string;
  next_attempt_at: string | null;
  created_at: string;
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

/** Listens on a free loopback port; returns it. */
async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return (server.address() as AddressInfo).port;
}

describe("deploy notifications", { skip: sandboxSkip }, () => {
  let forge: TestForge;
  let platform: TestPlatform;
  let repo: WorkingCopy | undefined;
  let alice: Tenant;
  let site: SiteBody;
  let receiverPort: number;
  const received: Received[] = [];
  const mails: Array<{ from: string; to: string[]; raw: string }> = [];
  let flakyCalls = 0;

  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      received.push({ path: req.url ?? "", headers: req.headers, body });
      if (req.url === "/flaky" && ++flakyCalls <= 2) {
        res.writeHead(500).end("down for a moment");
        return;
      }
      res.writeHead(200).end("ok");
    });
  });
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const from = session.envelope.mailFrom;
        mails.push({
          from: from === false ? "" : from.address,
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          raw: Buffer.concat(chunks).toString("utf8"),
        });
        callback();
      });
    },
  });

  const createHook = async (type: string, event: string, data: Record<string, unknown>) => {
    const res = await platform.api<{ id: string }>("POST", `/hooks?site_id=${site.id}`, {
      token: alice.token,
      body: { type, event, data },
    });
    assert.equal(res.status, 201, res.text);
    return res.body.id;
  };
  const deliveries = async (hookId: string): Promise<DeliveryBody[]> => {
    const res = await platform.api<DeliveryBody[]>("GET", `/hooks/${hookId}/deliveries`, {
      token: alice.token,
    });
    assert.equal(res.status, 200, res.text);
    return res.body;
  };

  before(async () => {
    receiverPort = await listen(receiver);
    await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", () => resolve()));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    forge = await startTestForge();
    platform = await startTestPlatform({
      config: {
        allowedPrivateRepoHosts: [`127.0.0.1:${forge.sshPort}`],
        notifications: {
          smtpUrl: `smtp://127.0.0.1:${smtpPort}`,
          smtpFrom: "deploys@slipway.test",
          // The allow seam: this receiver only (a name resolving elsewhere stays refused).
          allowedPrivateHosts: [`127.0.0.1:${receiverPort}`],
          retryDelayMs: 200,
        },
      },
    });
    const pushed = await createPushedProject(forge, "owner", "notified", {
      "index.html": "<h1>notified</h1>\n",
      "build.sh": COPY_TO_DIST,
    });
    repo = pushed.repo;
    alice = await platform.createTenant("alice");
    const key = await createDeployKey(platform, alice.token);
    await addForgeDeployKey(forge, pushed.project, pushed.owner, key.public_key);
    site = await createSite(platform, alice.token, {
      name: "notified",
      repo: repoWithDeployKey(pushed.project, key.id),
    });
    // The first build (at creation) runs before any hook exists.
    assert.equal((await waitForBuild(platform, site.build_id!, alice.token)).state, "done");
  });

  after(async () => {
    await platform?.stop();
    await forge?.stop();
    await repo?.cleanup();
    receiver.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  it("notifies every kind of receiver of a real build, signed, retried and logged", async () => {
    const url = `http://127.0.0.1:${receiverPort}`;
    const signed: Record<string, string> = {};
    for (const event of ["deploy_created", "deploy_building", "deploy_succeeded"]) {
      signed[event] = await createHook("url", event, {
        url: `${url}/signed`,
        signature_secret: SECRET,
      });
    }
    const flaky = await createHook("url", "deploy_succeeded", { url: `${url}/flaky` });
    const slack = await createHook("slack", "deploy_succeeded", { url: `${url}/slack` });
    const email = await createHook("email", "deploy_succeeded", { email: "ops@example.test" });
    // Resolves to 10.1.2.3 (test/helpers/platform.ts): not allowed, so refused at connect time.
    const rebind = await createHook("url", "deploy_succeeded", {
      url: `http://rebind.example:${receiverPort}/rebind`,
    });
    const unrelated = await createHook("url", "deploy_failed", { url: `${url}/failed` });

    const started = await platform.api<BuildBody>("POST", `/sites/${site.id}/builds`, {
      token: alice.token,
    });
    assert.equal(started.status, 200, started.text);
    const build = await waitForBuild(platform, started.body.id, alice.token);
    assert.equal(build.state, "done", build.error ?? "");

    const signedCalls = await poll(
      async () => {
        const calls = received.filter((call) => call.path === "/signed");
        return calls.length >= 3 ? calls : undefined;
      },
      () => `three signed notifications (got ${JSON.stringify(received.map((c) => c.path))})`,
    );
    const states: Record<string, string> = {};
    for (const call of signedCalls) {
      const token = call.headers["x-webhook-signature"];
      assert.equal(typeof token, "string", "signed with a JWS");
      // What a Netlify receiver does: verify the JWS with the shared secret, then the body's hash.
      const { payload, protectedHeader } = await jwtVerify(
        token as string,
        new TextEncoder().encode(SECRET),
        { issuer: "netlify", algorithms: ["HS256"] },
      );
      assert.equal(protectedHeader.alg, "HS256");
      assert.equal(payload.sha256, sha256(call.body));
      await assert.rejects(
        jwtVerify(token as string, new TextEncoder().encode("another secret"), {
          issuer: "netlify",
        }),
        "another secret does not verify it",
      );
      assert.equal(call.headers["content-type"], "application/json");
      const deploy = JSON.parse(call.body) as {
        id: string;
        site_id: string;
        state: string;
        name: string;
      };
      assert.equal(deploy.id, build.deploy_id);
      assert.equal(deploy.site_id, site.id);
      assert.equal(deploy.name, "notified");
      states[String(call.headers["x-slipway-event"])] = deploy.state;
    }
    // Each event carries the deploy as it was then.
    assert.deepEqual(Object.keys(states).sort(), [
      "deploy_building",
      "deploy_created",
      "deploy_succeeded",
    ]);
    assert.equal(states.deploy_building, "building");
    assert.equal(states.deploy_succeeded, "ready");

    // 500, 500, then 200: three attempts, the failures listed with their status.
    const flakyLog = await poll(async () => {
      const log = await deliveries(flaky);
      return log.some((d) => d.outcome === "delivered") ? log : undefined;
    }, "the flaky receiver's delivery");
    assert.deepEqual(
      flakyLog.map((d) => [d.attempt, d.outcome, d.status_code]),
      [
        [3, "delivered", 200],
        [2, "retrying", 500],
        [1, "retrying", 500],
      ],
    );
    assert.match(flakyLog[1]!.error ?? "", /answered 500/);
    // Exponential backoff: the retries were scheduled 200 ms, then 400 ms after each failure.
    const scheduledAfter = (d: DeliveryBody): number =>
      Date.parse(d.next_attempt_at ?? "") - Date.parse(d.created_at);
    assert.deepEqual([scheduledAfter(flakyLog[2]!), scheduledAfter(flakyLog[1]!)], [200, 400]);
    assert.equal(flakyLog[0]!.next_attempt_at, null);
    assert.equal(received.filter((call) => call.path === "/flaky").length, 3);

    const slackCall = await poll(
      async () => received.find((call) => call.path === "/slack"),
      "the Slack message",
    );
    const message = JSON.parse(slackCall.body) as { text: string };
    assert.deepEqual(Object.keys(message), ["text"]);
    assert.match(
      message.text,
      /^Deploy succeeded for \*notified\* \(production, main@[0-9a-f]{7}\)/,
    );
    assert.ok(message.text.includes(`/sites/notified/deploys/${build.deploy_id}|deploy `));
    assert.equal(slackCall.headers["x-webhook-signature"], undefined);

    const mail = await poll(async () => mails[0], "the e-mail");
    assert.equal(mail.from, "deploys@slipway.test");
    assert.deepEqual(mail.to, ["ops@example.test"]);
    assert.match(mail.raw, /^Subject: \[Slipway\] Deploy succeeded for notified\r?$/m);
    // The text is quoted-printable: long lines are broken with soft line breaks.
    const text = mail.raw.replace(/=\r?\n/g, "");
    assert.ok(text.includes(`/sites/notified/deploys/${build.deploy_id}`), text);
    // The receivers answered; their deliveries are recorded right after.
    for (const hook of [slack, email]) {
      const log = await poll(async () => {
        const entries = await deliveries(hook);
        return entries.length > 0 ? entries : undefined;
      }, "a recorded delivery");
      assert.deepEqual(
        log.map((d) => [d.attempt, d.outcome]),
        [[1, "delivered"]],
      );
    }

    // The guard: refused once (no retry can change an address), nothing reached the receiver.
    const refused = await poll(async () => {
      const log = await deliveries(rebind);
      return log.length > 0 ? log : undefined;
    }, "the refused delivery");
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.outcome, "failed");
    assert.match(refused[0]!.error ?? "", /10\.1\.2\.3.*SLIPWAY_ALLOW_PRIVATE_NOTIFICATION_HOSTS/);
    assert.equal(received.filter((call) => call.path === "/rebind").length, 0);

    for (const event of Object.keys(signed)) {
      const log = await poll(async () => {
        const entries = await deliveries(signed[event]!);
        return entries.length > 0 ? entries : undefined;
      }, `the ${event} delivery`);
      assert.deepEqual(
        log.map((d) => [d.event, d.outcome]),
        [[event, "delivered"]],
      );
    }
    assert.deepEqual(await deliveries(unrelated), [], "a hook of another event stays quiet");
    // Secrets stay out of the platform's log.
    assert.ok(!platform.logs.some((line) => line.includes(SECRET)));
  });

  it("notifies a failed build and a lock and unlock of its deploy", async () => {
    const url = `http://127.0.0.1:${receiverPort}`;
    await createHook("url", "deploy_failed", { url: `${url}/failed-build` });
    await createHook("slack", "deploy_failed", { url: `${url}/slack-failed` });
    const locked = await createHook("url", "deploy_locked", { url: `${url}/locked` });
    await createHook("url", "deploy_unlocked", { url: `${url}/unlocked` });

    const changed = await platform.api("PATCH", `/sites/${site.id}`, {
      token: alice.token,
      body: { repo: { cmd: "exit 3" } },
    });
    assert.equal(changed.status, 200, changed.text);
    const started = await platform.api<BuildBody>("POST", `/sites/${site.id}/builds`, {
      token: alice.token,
    });
    assert.equal(started.status, 200, started.text);
    const build = await waitForBuild(platform, started.body.id, alice.token);
    assert.equal(build.state, "error");

    const failed = await poll(
      async () => received.find((call) => call.path === "/failed-build"),
      "the failed deploy's notification",
    );
    const deploy = JSON.parse(failed.body) as { id: string; state: string; error_message: string };
    assert.equal(deploy.id, build.deploy_id);
    assert.equal(deploy.state, "error");
    assert.ok(deploy.error_message.length > 0);
    const slackFailed = await poll(
      async () => received.find((call) => call.path === "/slack-failed"),
      "the Slack message of the failure",
    );
    const { text } = JSON.parse(slackFailed.body) as { text: string };
    assert.match(text, /^Deploy failed for \*notified\* \(production, main@[0-9a-f]{7}\)/);
    // The reason's first line follows (escaped for Slack: slackText's own test).
    assert.equal(text.split("\n")[1], slackEscape(deploy.error_message.split("\n")[0]!));

    for (const action of ["lock", "unlock"]) {
      const res = await platform.api("POST", `/deploys/${site.deploy_id}/${action}`, {
        token: alice.token,
      });
      assert.equal(res.status, 200, res.text);
    }
    const lockCalls = await poll(async () => {
      const calls = received.filter((c) => c.path === "/locked" || c.path === "/unlocked");
      return calls.length >= 2 ? calls : undefined;
    }, "the lock and unlock notifications");
    const lockedStates = Object.fromEntries(
      lockCalls.map((c) => [c.path, (JSON.parse(c.body) as { locked: boolean }).locked]),
    );
    assert.deepEqual(lockedStates, { "/locked": true, "/unlocked": false });
    const lockLog = await poll(async () => {
      const entries = await deliveries(locked);
      return entries.length > 0 ? entries : undefined;
    }, "the lock's recorded delivery");
    assert.deepEqual(
      lockLog.map((d) => [d.event, d.outcome]),
      [["deploy_locked", "delivered"]],
    );
  });
});
