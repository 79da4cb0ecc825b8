import { createHash } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { SignJWT } from "jose";
import {
  HostNotAllowedError,
  isAllowedHost,
  resolveAllowedAddress,
  type ResolveHost,
} from "../repos/host-guard.ts";

/**
 * How a notification leaves: an HTTP POST to an address the guard allowed (the address checked
 * is the address connected to; no redirects), or an e-mail through the operator's SMTP server.
 */

/** What became of one attempt; `retry` false when another attempt cannot help. */
export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  retry: boolean;
}

const TIMEOUT_MS = 10_000;
/** What is read of a receiver's answer (it is not kept; reading lets the connection close). */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Netlify's payload signature: a JWS (HS256) whose payload is `{iss: "netlify", sha256: <hex of
 * the body>}`, so receivers written for Netlify verify Slipway's deliveries unchanged.
 */
export async function signBody(body: string, secret: string): Promise<string> {
  const sha256 = createHash("sha256").update(body).digest("hex");
  return new SignJWT({ sha256 })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer("netlify")
    .setIssuedAt()
    .sign(new TextEncoder().encode(secret));
}

export interface PostOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  resolveHost: ResolveHost;
  allowedPrivateHosts: readonly string[];
}

export async function postJson(options: PostOptions): Promise<SendResult> {
  const url = new URL(options.url);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  let address: string;
  try {
    address = await resolveAllowedAddress(
      hostname,
      port,
      (host, resolved, p) =>
        isAllowedHost(options.allowedPrivateHosts, host, p) ||
        isAllowedHost(options.allowedPrivateHosts, resolved, p),
      options.resolveHost,
    );
  } catch (error) {
    if (error instanceof HostNotAllowedError && error.address !== undefined) {
      return {
        ok: false,
        statusCode: null,
        error: `refused: ${hostname} is or resolves to ${error.address}, a loopback, private or link-local address; allow it with SLIPWAY_ALLOW_PRIVATE_NOTIFICATION_HOSTS=${hostname}:${port} if it is yours`,
        retry: false,
      };
    }
    return { ok: false, statusCode: null, error: (error as Error).message, retry: true };
  }
  const lookup: LookupFunction = (_host, opts, callback) => {
    const family = address.includes(":") ? 6 : 4;
    if (opts.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
  const payload = Buffer.from(options.body);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<SendResult>((resolve) => {
    const outgoing = send(
      url,
      {
        method: "POST",
        lookup,
        timeout: TIMEOUT_MS,
        servername: hostname,
        headers: {
          "content-type": "application/json",
          "content-length": String(payload.length),
          "user-agent": "Slipway",
          ...options.headers,
        },
      },
      (res) => {
        let read = 0;
        res.on("data", (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) res.destroy();
        });
        const settle = (): void => {
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          resolve({
            ok,
            statusCode: status,
            error: ok ? null : `the receiver answered ${status}`,
            // A refusal other than "later" or "too many" will not change on its own.
            retry: !ok && (status >= 500 || status === 408 || status === 429 || status < 200),
          });
        };
        res.on("end", settle);
        res.on("close", settle);
        res.on("error", settle);
      },
    );
    outgoing.on("timeout", () =>
      outgoing.destroy(new Error(`${url.host} did not answer within ${TIMEOUT_MS / 1000} s`)),
    );
    outgoing.on("error", (error) =>
      resolve({ ok: false, statusCode: null, error: error.message, retry: true }),
    );
    outgoing.end(payload);
  });
}

export interface MailOptions {
  smtpUrl: string;
  from: string;
  to: string;
  subject: string;
  text: string;
}

/** One message through the operator's SMTP server (trusted: the operator configured it). */
export async function sendMail(options: MailOptions): Promise<SendResult> {
  const { default: nodemailer } = await import("nodemailer"); // only where mail is configured
  const transport = nodemailer.createTransport(options.smtpUrl);
  try {
    await transport.sendMail({
      from: options.from,
      to: options.to,
      subject: options.subject,
      text: options.text,
    });
    return { ok: true, statusCode: null, error: null, retry: false };
  } catch (error) {
    const smtp = error as { responseCode?: number; message?: string };
    // 5xx is the server's final word on this message; anything else may pass later.
    const permanent = smtp.responseCode !== undefined && smtp.responseCode >= 500;
    return {
      ok: false,
      statusCode: smtp.responseCode ?? null,
      error: `the SMTP server refused or could not be reached: ${smtp.message ?? String(error)}`,
      retry: !permanent,
    };
  } finally {
    transport.close();
  }
}
