import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { startTestPlatform, type TestPlatform } from "../../../../test/helpers/platform.ts";
import { waitUntil } from "../../../../test/helpers/wait.ts";

/**
 * Webhook bodies are read only for a delivery whose site exists, and only so many at once: an
 * unknown site is answered before its body arrives, and past the cap a delivery is answered 503
 * with Retry-After, while the slow senders hold their places.
 */

const CAP = 2;

/** Sends a POST head announcing a body it does not send (yet); the socket and its answer. */
function openUpload(port: number, path: string): { socket: Socket; answer: Promise<string> } {
  const socket = connect(port, "127.0.0.1", () =>
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `X-GitHub-Event: push\r\nContent-Length: 100000\r\n\r\n{"ref":`,
    ),
  );
  const answer = new Promise<string>((resolve) => {
    let text = "";
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n\r\n")) resolve(text);
    });
    socket.on("error", () => resolve(text));
    socket.on("close", () => resolve(text));
    // No answer while the body is awaited: the client gives up (and the test fails).
    setTimeout(() => resolve(text), 20_000).unref();
  });
  return { socket, answer };
}

describe("webhook bodies", () => {
  let t: TestPlatform;
  let port: number;
  let siteId: string;

  before(async () => {
    t = await startTestPlatform({
      config: { webhookBodyConcurrency: CAP },
      platform: { buildWorkers: false },
    });
    port = Number(new URL(t.url).port);
    const site = await t.api<{ id: string }>("POST", "/sites", { body: { name: "gate" } });
    assert.equal(site.status, 201, site.text);
    siteId = site.body.id;
  });
  after(() => t.stop());

  it("answers a delivery for an unknown site before reading its body", async () => {
    const upload = openUpload(
      port,
      `/webhooks/sites/${"0".repeat(8)}-0000-4000-8000-${"0".repeat(12)}`,
    );
    const answer = await upload.answer;
    upload.socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 404 /);
  });

  it("reads only so many bodies at once, and answers the next 503 with Retry-After", async () => {
    const slow = [
      openUpload(port, `/webhooks/sites/${siteId}`),
      openUpload(port, `/webhooks/sites/${siteId}`),
    ];
    const probe = async (): Promise<Response | false> => {
      const res = await fetch(`${t.url}/webhooks/sites/${siteId}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "push" },
        body: "{}",
      });
      return res.status === 503 ? res : (await res.arrayBuffer(), false);
    };
    const busy = await waitUntil(probe, "a 503 while two bodies are being read");
    assert.equal(busy.headers.get("retry-after"), "5");
    const body = (await busy.json()) as { message: string };
    assert.match(body.message, /SLIPWAY_WEBHOOK_BODY_CONCURRENCY/);
    // The slow senders go away: their places are free again.
    for (const upload of slow) upload.socket.destroy();
    await waitUntil(async () => {
      const res = await fetch(`${t.url}/webhooks/sites/${siteId}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "push" },
        body: "{}",
      });
      await res.arrayBuffer();
      return res.status !== 503;
    }, "the gate to open again");
  });
});
