import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../../lib/logger.ts";
import { startTestForge, type TestForge } from "../../../test/helpers/forge.ts";
import { createHttpApp, DEFAULT_HTTP_TIMEOUTS, type ForgeApp } from "./app.ts";

/**
 * The forge's HTTP server does not wait forever for a request: a client that sends its head one
 * byte a second (slow loris) is cut off, and so is one that never finishes its body; a prompt
 * client on another connection is answered meanwhile.
 */

/** The client gives up (the server did not cut it off) after ten times the server's limits. */
const GIVE_UP_MS = 30_000;

/**
 * Writes `first` at once, then `text` one byte a second, until the server closes the
 * connection (or the client gives up); what the server answered.
 */
function trickle(
  port: number,
  first: string,
  text: string,
): Promise<{ cutOff: boolean; sent: number; answer: string }> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, "127.0.0.1", () => socket.write(first));
    let sent = 0;
    let answer = "";
    let gaveUp = false;
    const timer = setInterval(() => {
      if (sent < text.length && !socket.destroyed) socket.write(text[sent++]!);
    }, 1000);
    const giveUp = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, GIVE_UP_MS);
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ cutOff: !gaveUp, sent, answer });
    });
  });
}

describe("the forge's HTTP timeouts", () => {
  let app: ForgeApp;
  let port: number;

  before(async () => {
    app = createHttpApp(createLogger({ name: "forge-test", level: "silent" }), () => "", {
      headersMs: 2000,
      requestMs: 4000,
    });
    app.get("/ok", async () => ({ ok: true }));
    app.post("/upload", async () => ({ ok: true }));
    await app.listen({ host: "127.0.0.1", port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(() => app.close());

  it("cuts off a client that sends its request head one byte a second", async () => {
    const head = `GET /ok HTTP/1.1\r\nHost: forge.test\r\nX-Padding: ${"p".repeat(60)}\r\n\r\n`;
    const slow = trickle(port, "", head);
    // Meanwhile another client is answered at once.
    const prompt = await fetch(`http://127.0.0.1:${port}/ok`);
    assert.equal(prompt.status, 200);
    const { cutOff, sent, answer } = await slow;
    assert.ok(cutOff, "the server cut the client off");
    assert.ok(sent < head.length, `the head was cut off (${sent} of ${head.length} bytes sent)`);
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });

  it("cuts off a client whose body never ends", async () => {
    const head = `POST /upload HTTP/1.1\r\nHost: forge.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
    const { cutOff, answer } = await trickle(port, head, "{" + " ".repeat(998) + "}");
    assert.ok(cutOff, "the server cut the client off");
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });
});

describe("the forge's HTTP server, as started", () => {
  let t: TestForge;
  before(async () => {
    t = await startTestForge();
  });
  after(() => t.stop());

  it("has request and header timeouts", () => {
    assert.equal(t.forge.app.server.headersTimeout, DEFAULT_HTTP_TIMEOUTS.headersMs);
    assert.equal(t.forge.app.server.requestTimeout, DEFAULT_HTTP_TIMEOUTS.requestMs);
  });
});
