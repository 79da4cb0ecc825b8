import assert from "node:assert/strict";
import type { LookupAddress, LookupAllOptions } from "node:dns";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import {
  addressRefusal,
  createGuardedLookup,
  isPrivateAddress,
  lookup,
  RefusedAddressError,
  refusalForHost,
} from "./net-guard.ts";

describe("isPrivateAddress", () => {
  const refused: Array<[string, string]> = [
    ["127.0.0.1", "a loopback address"],
    ["127.255.1.2", "a loopback address"],
    ["10.0.0.5", "a private address"],
    ["172.16.0.1", "a private address"],
    ["172.31.255.255", "a private address"],
    ["192.168.1.1", "a private address"],
    ["169.254.169.254", "a link-local address"],
    ["100.64.0.1", "a shared (CGNAT) address"],
    ["100.127.255.254", "a shared (CGNAT) address"],
    ["0.0.0.0", "an unspecified address"],
    ["224.0.0.1", "a multicast address"],
    ["255.255.255.255", "a reserved address"],
    ["::", "an unspecified address"],
    ["::1", "a loopback address"],
    ["[::1]", "a loopback address"],
    ["0:0:0:0:0:0:0:1", "a loopback address"],
    ["fc00::1", "a unique local address"],
    ["fd12:3456:789a::1", "a unique local address"],
    ["fe80::1%eth0", "a link-local address"],
    ["fec0::1", "a site-local address"],
    ["ff02::1", "a multicast address"],
    ["::ffff:127.0.0.1", "a loopback address"],
    ["::ffff:7f00:1", "a loopback address"],
    ["::ffff:10.1.2.3", "a private address"],
    ["::ffff:169.254.169.254", "a link-local address"],
    ["64:ff9b::7f00:1", "a loopback address"],
    ["2002:c0a8:0101::1", "a private address"],
    ["2001:db8::1", "a documentation address"],
  ];
  for (const [ip, reason] of refused) {
    it(`refuses ${ip} as ${reason}`, () => {
      assert.equal(isPrivateAddress(ip), true);
      assert.equal(addressRefusal(ip), reason);
    });
  }

  const allowed = [
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",
    "172.15.255.255",
    "100.128.0.1",
    "192.169.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80e::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
  ];
  for (const ip of allowed) {
    it(`allows the public address ${ip}`, () => {
      assert.equal(isPrivateAddress(ip), false);
      assert.equal(addressRefusal(ip), null);
    });
  }

  it("fails closed on anything that is not an IP address", () => {
    for (const text of ["", "example.com", "1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", ":::"]) {
      assert.equal(isPrivateAddress(text), true, text);
    }
  });
});

describe("refusalForHost", () => {
  it("refuses private IP literals and localhost names, and leaves other names to lookup", () => {
    assert.equal(refusalForHost("127.0.0.1")?.message, "127.0.0.1 is a loopback address");
    assert.equal(refusalForHost("[::1]")?.message, "::1 is a loopback address");
    assert.equal(refusalForHost("LocalHost")?.reason, "a loopback address");
    assert.equal(refusalForHost("app.localhost.")?.reason, "a loopback address");
    assert.equal(refusalForHost("10.0.0.5")?.reason, "a private address");
    assert.equal(refusalForHost("8.8.8.8"), null);
    assert.equal(refusalForHost("example.com"), null);
  });

  it("sees through the WHATWG URL parser's number forms (they normalise to dotted quads)", () => {
    for (const url of ["http://2130706433/", "http://0x7f.1/", "http://127.1/"]) {
      assert.equal(refusalForHost(new URL(url).hostname)?.reason, "a loopback address", url);
    }
  });
});

describe("guarded lookup", () => {
  const fakeResolver =
    (answers: LookupAddress[]) =>
    (
      _host: string,
      _options: LookupAllOptions,
      callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
    ) =>
      callback(null, answers);

  const run = (
    fn: ReturnType<typeof createGuardedLookup>,
    all: boolean,
  ): Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family: unknown }> =>
    new Promise((resolve) =>
      fn("example.test", { all }, (err, address, family) => resolve({ err, address, family })),
    );

  it("passes public answers through, in both callback shapes", async () => {
    const fn = createGuardedLookup(fakeResolver([{ address: "93.184.216.34", family: 4 }]));
    const one = await run(fn, false);
    assert.equal(one.err, null);
    assert.equal(one.address, "93.184.216.34");
    assert.equal(one.family, 4);
    const all = await run(fn, true);
    assert.deepEqual(all.address, [{ address: "93.184.216.34", family: 4 }]);
  });

  it("refuses when any answer is private (a rebinding name mixing public and private)", async () => {
    const fn = createGuardedLookup(
      fakeResolver([
        { address: "93.184.216.34", family: 4 },
        { address: "169.254.169.254", family: 4 },
      ]),
    );
    const { err } = await run(fn, false);
    assert.ok(err instanceof RefusedAddressError);
    assert.equal(err.message, "169.254.169.254 is a link-local address");
  });

  it("refuses a real name that resolves to loopback, and http.request never connects", async () => {
    let connections = 0;
    const server = http.createServer((_req, res) => {
      connections++;
      res.end("ok");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const error = await new Promise<Error>((resolve, reject) => {
        const req = http.request({ host: "localhost", port, lookup, agent: false }, () =>
          reject(new Error("connected")),
        );
        req.on("error", resolve);
        req.end();
      });
      assert.ok(error instanceof RefusedAddressError, String(error));
      assert.match(error.message, /is a loopback address$/);
      assert.equal(connections, 0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("reports resolver failures unchanged", async () => {
    const failing = createGuardedLookup((_h, _o, callback) => {
      const err: NodeJS.ErrnoException = new Error("getaddrinfo ENOTFOUND nope.invalid");
      err.code = "ENOTFOUND";
      callback(err, []);
    });
    const { err } = await run(failing, false);
    assert.equal(err?.code, "ENOTFOUND");
  });
});
