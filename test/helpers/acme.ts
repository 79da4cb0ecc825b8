import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { promisify } from "node:util";
import type { TestPlatform } from "./platform.ts";
import { waitUntil } from "./wait.ts";

/**
 * Real ACME for tests: Debian's `pebble` (a small ACME server) and `pebble-challtestsrv` (its
 * DNS server, resolving test domains to 127.0.0.1), on free ports, with a TLS certificate for
 * pebble made by openssl at test time. `scripts/setup.sh` installs both; `missingAcmeTools()`
 * says why a test skips where they are not there.
 */

const run = promisify(execFile);

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function has(command: string): Promise<boolean> {
  try {
    await run("sh", ["-c", 'command -v "$1"', "sh", command]);
    return true;
  } catch {
    return false;
  }
}

/** Why the real-ACME tests cannot run here, or undefined. */
export async function missingAcmeTools(): Promise<string | undefined> {
  const missing: string[] = [];
  for (const tool of ["pebble", "pebble-challtestsrv", "openssl"]) {
    if (!(await has(tool))) missing.push(tool);
  }
  return missing.length === 0
    ? undefined
    : `${missing.join(", ")} not installed (Debian packages pebble and openssl; scripts/setup.sh installs them)`;
}

/** A self-signed certificate from openssl: `{certPem, keyPem, certFile, keyFile}`. */
export async function selfSigned(
  dir: string,
  names: string[],
  options: {
    days?: number;
    ips?: string[];
    name?: string;
    startDate?: string;
    endDate?: string;
  } = {},
): Promise<{ certPem: string; keyPem: string; certFile: string; keyFile: string }> {
  const base = options.name ?? createHash("sha1").update(names.join(",")).digest("hex").slice(0, 8);
  const certFile = join(dir, `${base}.crt`);
  const keyFile = join(dir, `${base}.key`);
  const san = [
    ...names.map((n) => `DNS:${n}`),
    ...(options.ips ?? []).map((ip) => `IP:${ip}`),
  ].join(",");
  if (options.endDate !== undefined) {
    // Explicit dates (an expired certificate): OpenSSL 3.0 has them only on `openssl ca`.
    const csr = join(dir, `${base}.csr`);
    await run("openssl", [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      csr,
      "-subj",
      `/CN=${names[0]}`,
      "-addext",
      `subjectAltName=${san}`,
    ]);
    const caDir = await mkdtemp(join(dir, "ca-"));
    await writeFile(join(caDir, "index.txt"), "");
    await writeFile(join(caDir, "serial"), "01\n");
    await writeFile(
      join(caDir, "ca.cnf"),
      "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nserial = serial\nnew_certs_dir = .\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n[p]\ncommonName = supplied\n",
    );
    await run(
      "openssl",
      [
        "ca",
        "-batch",
        "-notext",
        "-config",
        "ca.cnf",
        "-selfsign",
        "-keyfile",
        keyFile,
        "-in",
        csr,
        "-out",
        certFile,
        "-startdate",
        options.startDate ?? "20200101000000Z",
        "-enddate",
        options.endDate,
      ],
      { cwd: caDir },
    );
  } else {
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      String(options.days ?? 30),
      "-subj",
      `/CN=${names[0]}`,
      "-addext",
      `subjectAltName=${san}`,
    ]);
  }
  return {
    certPem: await readFile(certFile, "utf8"),
    keyPem: await readFile(keyFile, "utf8"),
    certFile,
    keyFile,
  };
}

export interface Pebble {
  dir: string;
  /** `https://127.0.0.1:<port>/dir` */
  directoryUrl: string;
  /** pebble's own TLS certificate (for SLIPWAY_ACME_CA_FILE). */
  caFile: string;
  /** `127.0.0.1:<port>` of challtestsrv's DNS server (for SLIPWAY_DNS_SERVERS). */
  dnsServer: string;
  /** Makes `host` resolve to `addresses` in challtestsrv. */
  addA(host: string, addresses?: string[]): Promise<void>;
  /** Starts pebble itself, validating http-01 on `httpPort` (the platform's, known once it runs). */
  start(httpPort: number): Promise<void>;
  /** The root that signs pebble's certificates (changes at every start of pebble). */
  root(): Promise<string>;
  /** Stops pebble alone (challtestsrv keeps answering DNS): the CA is down. */
  stopCa(): Promise<void>;
  /** Everything pebble and challtestsrv printed so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * challtestsrv now (its DNS is needed by the platform's config), pebble on `start(httpPort)`;
 * pebble's directory port is chosen now so that the platform can be configured first.
 */
export async function preparePebble(): Promise<Pebble> {
  const dir = await mkdtemp(join(tmpdir(), "slipway-pebble-"));
  const [dnsPort, mgmtPort, acmePort, pebbleMgmt, tlsPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const tlsCert = await selfSigned(dir, ["localhost"], { ips: ["127.0.0.1"], name: "pebble" });
  const children: ChildProcess[] = [];
  let output = "";
  const start = (
    command: string,
    args: string[],
    env: Record<string, string> = {},
  ): ChildProcess => {
    const child = spawn(command, args, {
      cwd: dir,
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (output += c.toString()));
    children.push(child);
    return child;
  };
  start("pebble-challtestsrv", [
    "-defaultIPv4",
    "",
    "-defaultIPv6",
    "",
    "-http01",
    "",
    "-https01",
    "",
    "-tlsalpn01",
    "",
    "-dns01",
    `127.0.0.1:${dnsPort}`,
    "-management",
    `127.0.0.1:${mgmtPort}`,
  ]);
  const mgmt = `http://127.0.0.1:${mgmtPort}`;
  await waitUntil(
    () =>
      fetch(`${mgmt}/add-a`, {
        method: "POST",
        body: JSON.stringify({ host: "probe.invalid.", addresses: ["127.0.0.1"] }),
      }).then(
        (r) => r.ok,
        () => false,
      ),
    () => `pebble-challtestsrv to start:\n${output}`,
    10_000,
    50,
  );
  const pebble: Pebble = {
    dir,
    directoryUrl: `https://127.0.0.1:${acmePort}/dir`,
    caFile: tlsCert.certFile,
    dnsServer: `127.0.0.1:${dnsPort}`,
    addA: async (host, addresses = ["127.0.0.1"]) => {
      const res = await fetch(`${mgmt}/add-a`, {
        method: "POST",
        body: JSON.stringify({ host: host.endsWith(".") ? host : `${host}.`, addresses }),
      });
      if (!res.ok) throw new Error(`challtestsrv add-a: ${res.status}`);
    },
    start: async (httpPort) => {
      const config = {
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${pebbleMgmt}`,
          certificate: tlsCert.certFile,
          privateKey: tlsCert.keyFile,
          httpPort,
          tlsPort,
          ocspResponderURL: "",
          externalAccountBindingRequired: false,
        },
      };
      await writeFile(join(dir, "pebble.json"), JSON.stringify(config));
      start("pebble", ["-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dnsPort}`], {
        PEBBLE_VA_NOSLEEP: "1",
        PEBBLE_WFE_NONCEREJECT: "0",
        PEBBLE_AUTHZREUSE: "0",
      });
      await waitUntil(
        () => output.includes("ACME directory available"),
        () => `pebble to start:\n${output}`,
        15_000,
        50,
      );
    },
    root: async () => {
      const res = await fetchInsecureRoot(pebbleMgmt, tlsCert.certPem);
      return res;
    },
    log: async () => output,
    stopCa: async () => {
      const ca = children[1];
      if (ca === undefined || ca.exitCode !== null || ca.signalCode !== null) return;
      ca.kill("SIGTERM");
      await new Promise((r) => ca.once("exit", r));
    },
    stop: async () => {
      for (const child of children) child.kill("SIGTERM");
      await Promise.all(
        children.map((c) =>
          c.exitCode !== null || c.signalCode !== null
            ? undefined
            : new Promise((r) => c.once("exit", r)),
        ),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
  return pebble;
}

/** GET pebble's root CA from its management port (TLS with pebble's own certificate). */
function fetchInsecureRoot(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      socket.write(`GET /roots/0 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    });
    let data = "";
    socket.on("data", (c: Buffer) => (data += c.toString()));
    socket.on("end", () => {
      const body = data.slice(data.indexOf("\r\n\r\n") + 4);
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(body)?.[0];
      if (pem === undefined) reject(new Error(`no root from pebble: ${data.slice(0, 200)}`));
      else resolve(pem + "\n");
    });
    socket.on("error", reject);
  });
}

export interface TlsGet {
  status: number;
  body: string;
  headers: Record<string, string>;
  certificate: PeerCertificate;
}

/** One HTTPS GET over a fresh TLS connection with SNI `servername`, trusting `ca`. */
export function tlsGet(port: number, servername: string, ca: string, path = "/"): Promise<TlsGet> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: "127.0.0.1", port, servername, ca, ALPNProtocols: ["http/1.1"] },
      () => {
        socket.write(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
      },
    );
    let data = Buffer.alloc(0);
    let certificate: PeerCertificate | undefined;
    socket.on("secureConnect", () => (certificate = socket.getPeerCertificate()));
    socket.on("data", (c: Buffer) => (data = Buffer.concat([data, c])));
    socket.on("end", () => {
      if (certificate === undefined) reject(new Error(`no TLS session with ${servername}`));
      else resolve(parseResponse(data.toString("utf8"), certificate));
    });
    socket.on("error", reject);
  });
}

function parseResponse(text: string, certificate: PeerCertificate): TlsGet {
  const [head = "", ...rest] = text.split("\r\n\r\n");
  const lines = head.split("\r\n");
  const status = Number(lines[0]?.split(" ")[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = rest.join("\r\n\r\n");
  if (headers["transfer-encoding"] === "chunked") {
    let out = "";
    let rem = body;
    for (;;) {
      const nl = rem.indexOf("\r\n");
      const size = parseInt(rem.slice(0, nl), 16);
      if (!size) break;
      out += rem.slice(nl + 2, nl + 2 + size);
      rem = rem.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  return { status, body, headers, certificate };
}

/** Publishes `files` to a site through the digest protocol (as netlify-cli does). */
export async function publishFiles(
  t: TestPlatform,
  token: string,
  siteId: string,
  files: Record<string, string>,
  /** `branch`: a branch deploy (served at `{branch}--{site}`, not published). */
  options: { branch?: string } = {},
): Promise<string> {
  const sha1 = (s: string): string => createHash("sha1").update(s).digest("hex");
  const created = await t.api<{ id: string }>("POST", `/sites/${siteId}/deploys`, {
    token,
    body: {
      draft: false,
      ...options,
      files: Object.fromEntries(Object.entries(files).map(([p, d]) => [p, sha1(d)])),
    },
  });
  if (created.status !== 200) throw new Error(`create deploy: ${created.status} ${created.text}`);
  for (const [path, data] of Object.entries(files)) {
    const res = await fetch(`${t.url}/api/v1/deploys/${created.body.id}/files/${encodeURI(path)}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body: Buffer.from(data),
    });
    if (res.status !== 200) throw new Error(`upload ${path}: ${res.status} ${await res.text()}`);
  }
  await waitUntil(
    async () =>
      (
        await t.api<{ state: string }>("GET", `/sites/${siteId}/deploys/${created.body.id}`, {
          token,
        })
      ).body.state === "ready",
    "the deploy to be ready",
  );
  return created.body.id;
}
