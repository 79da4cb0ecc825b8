import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, type SecureVersion } from "node:tls";
import { connect as connectHttp2, type Http2SecureServer } from "node:http2";
import { missingAcmeTools, selfSigned } from "../../../test/helpers/acme.ts";
import {
  createHttpsServer,
  SecureContextCache,
  type HandshakeCounts,
  type HttpsIdleLimits,
} from "./tls.ts";

/**
 * The HTTPS listener's handshakes: sessions resume through the context its SNI callback picks
 * (so returning clients skip the full key exchange), the context is built once per certificate,
 * not per handshake, and the listener counts its handshakes and the resumed ones for /metrics.
 */
const missing = (await missingAcmeTools())?.includes("openssl")
  ? "openssl is not installed"
  : undefined;

interface Answer {
  resumed: boolean;
  session: Buffer | undefined;
  body: string;
}

/** One HTTP/1.1 request on a new TLS connection, offering `session` to resume. */
function get(
  port: number,
  ca: string,
  servername: string,
  maxVersion: SecureVersion,
  session?: Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    let body = "";
    const socket = connect(
      { host: "127.0.0.1", port, servername, ca, maxVersion, ALPNProtocols: ["http/1.1"], session },
      () => {
        socket.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
      },
    );
    // TLS 1.3 hands the ticket over after the handshake: keep the last one that arrived.
    socket.on("session", (ticket: Buffer) => (latest = ticket));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (body += chunk));
    socket.on("end", () => resolve({ resumed: socket.isSessionReused(), session: latest, body }));
    socket.on("error", reject);
  });
}

describe("HTTPS handshakes", { skip: missing }, () => {
  let dir: string;
  let ca: string;
  let server: Http2SecureServer;
  let port: number;
  let lookups = 0;
  const counts: HandshakeCounts = { handshakes: 0, resumed: 0 };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-tls-"));
    const cert = await selfSigned(dir, ["a.test"], { name: "a" });
    ca = cert.certPem;
    const cache = new SecureContextCache({
      sitesDomain: "sites.test",
      certificateForHost: async (host) => {
        lookups++;
        return host === "a.test"
          ? {
              ok: true,
              siteId: "site-a",
              version: "1",
              certificatePem: cert.certPem,
              privateKeyPem: cert.keyPem,
            }
          : { ok: false, reason: "no certificate" };
      },
    });
    server = createHttpsServer(cache, (_req, res) => res.end("hello"), counts);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
    it(`resumes a ${version} session through the SNI-selected context, and counts it`, async () => {
      const before = { ...counts };
      const first = await get(port, ca, "a.test", version);
      assert.match(first.body, /hello$/);
      assert.equal(first.resumed, false);
      assert.ok(first.session, "the server handed out a session");
      const second = await get(port, ca, "a.test", version, first.session);
      assert.match(second.body, /hello$/);
      assert.equal(second.resumed, true, "the second connection resumed the first one's session");
      assert.deepEqual(
        {
          handshakes: counts.handshakes - before.handshakes,
          resumed: counts.resumed - before.resumed,
        },
        { handshakes: 2, resumed: 1 },
      );
    });
  }

  it("builds the name's context once, not per handshake", async () => {
    const before = lookups;
    for (let i = 0; i < 3; i++) await get(port, ca, "a.test", "TLSv1.3");
    assert.ok(lookups - before <= 1, `${lookups - before} certificate look-ups for 3 handshakes`);
  });
});

/** Resolves when `emitter` closes, or fails after `ms`: the server never closed it. */
function closedWithin(emitter: { once(event: "close", fn: () => void): unknown }, ms: number) {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    emitter.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe("HTTPS idle connections", { skip: missing }, () => {
  let dir: string;
  let ca: string;
  let server: Http2SecureServer;
  let port: number;
  const limits: HttpsIdleLimits = { keepAliveMs: 200, idleMs: 400 };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "slipway-tls-idle-"));
    const cert = await selfSigned(dir, ["a.test"], { name: "a" });
    ca = cert.certPem;
    const cache = new SecureContextCache({
      sitesDomain: "sites.test",
      certificateForHost: async () => ({
        ok: true,
        siteId: "site-a",
        version: "1",
        certificatePem: cert.certPem,
        privateKeyPem: cert.keyPem,
      }),
    });
    server = createHttpsServer(cache, (_req, res) => res.end("hello"), undefined, limits);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it("closes an HTTP/1.1 keep-alive connection that sends no next request", async () => {
    const socket = connect({ host: "127.0.0.1", port, servername: "a.test", ca });
    socket.on("error", () => undefined);
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.once("secureConnect", () =>
      socket.write("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n"),
    );
    // Ten times the limit: without one the server keeps it open for good.
    await closedWithin(socket, limits.keepAliveMs * 10);
    assert.match(answer, /hello$/, "the request was answered before the close");
  });

  it("closes an idle HTTP/2 session", async () => {
    const session = connectHttp2(`https://a.test:${port}`, {
      ca,
      servername: "a.test",
      host: "127.0.0.1",
    });
    session.on("error", () => undefined);
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ":path": "/" });
      let text = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => (text += chunk));
      stream.on("end", () => resolve(text));
      stream.on("error", reject);
    });
    assert.equal(body, "hello");
    await closedWithin(session, limits.idleMs * 10);
  });
});
