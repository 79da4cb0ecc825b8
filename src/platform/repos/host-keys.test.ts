import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runChecked } from "../../lib/run.ts";
import {
  FileHostKeyStore,
  hostKeyFingerprint,
  knownHostsContent,
  knownHostsName,
  MemoryHostKeyStore,
  parseHostKey,
} from "./host-keys.ts";

let dir: string;
let ed25519: string;
let ecdsa: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "slipway-host-keys-"));
  for (const type of ["ed25519", "ecdsa"]) {
    await runChecked("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", join(dir, type)]);
  }
  const pub = async (name: string) =>
    (await readFile(join(dir, `${name}.pub`), "utf8")).trim().split(" ").slice(0, 2).join(" ");
  ed25519 = await pub("ed25519");
  ecdsa = await pub("ecdsa");
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("host keys", () => {
  it("parses well-formed keys and rejects malformed or mislabelled ones", () => {
    assert.equal(parseHostKey(ed25519)?.type, "ssh-ed25519");
    assert.equal(parseHostKey(`${ecdsa} comment`)?.type, "ecdsa-sha2-nistp256");
    const base64 = ed25519.split(" ")[1]!;
    assert.equal(parseHostKey(`ssh-rsa ${base64}`), undefined); // blob says ed25519
    assert.equal(parseHostKey(`ssh-ed25519 not*base64`), undefined);
    assert.equal(parseHostKey(`ssh-dss ${base64}`), undefined);
    assert.equal(parseHostKey("ssh-ed25519"), undefined);
    assert.equal(parseHostKey(""), undefined);
  });

  it("computes fingerprints exactly as ssh-keygen -l does", async () => {
    for (const name of ["ed25519", "ecdsa"]) {
      const out = await runChecked("ssh-keygen", [
        "-l",
        "-E",
        "sha256",
        "-f",
        join(dir, `${name}.pub`),
      ]);
      const [, fingerprint] = out.trim().split(" ");
      const type = /\((\w+)\)$/.exec(out.trim())?.[1];
      assert.equal(
        hostKeyFingerprint(name === "ed25519" ? ed25519 : ecdsa),
        `${type} ${fingerprint}`,
      );
    }
  });

  it("names hosts the way known_hosts does", () => {
    assert.equal(knownHostsName("gitlab.com", 22), "gitlab.com");
    assert.equal(knownHostsName("127.0.0.1", 2222), "[127.0.0.1]:2222");
    assert.equal(knownHostsContent("h", [ed25519, ecdsa]), `h ${ed25519}\nh ${ecdsa}\n`);
  });

  it("keeps pins per host and port in memory", async () => {
    const store = new MemoryHostKeyStore();
    await store.save("h", 22, [ed25519]);
    assert.deepEqual(await store.get("h", 22), [ed25519]);
    assert.equal(await store.get("h", 2222), undefined);
  });

  it("persists pins in a known_hosts file, replacing only the host's own entries", async () => {
    const path = join(dir, "sites", "site-1", "known_hosts");
    const store = new FileHostKeyStore(path);
    assert.equal(await store.get("git.example.com", 22), undefined);
    await store.save("git.example.com", 22, [ed25519]);
    await store.save("127.0.0.1", 2222, [ecdsa]);
    await store.save("git.example.com", 22, [ed25519, ecdsa]);
    const reopened = new FileHostKeyStore(path);
    assert.deepEqual(await reopened.get("git.example.com", 22), [ed25519, ecdsa]);
    assert.deepEqual(await reopened.get("127.0.0.1", 2222), [ecdsa]);
    assert.equal(
      await readFile(path, "utf8"),
      `[127.0.0.1]:2222 ${ecdsa}\ngit.example.com ${ed25519}\ngit.example.com ${ecdsa}\n`,
    );
  });

  it("ignores garbage lines in a known_hosts file", async () => {
    const path = join(dir, "garbage_known_hosts");
    await writeFile(path, `# comment\n\nh ssh-ed25519 AAAA-broken\nh ${ed25519}\n`);
    assert.deepEqual(await new FileHostKeyStore(path).get("h", 22), [ed25519]);
  });
});
