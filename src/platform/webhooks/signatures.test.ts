import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  deliveryKey,
  hexSignatureMatches,
  hmacSha256Hex,
  identifySender,
  prefixedSignatureMatches,
  verifySender,
  type RequestHeaders,
} from "./signatures.ts";

const SECRET = "a3f9c0ffee";
const BODY = Buffer.from('{"ref":"refs/heads/main"}');
const SIG = hmacSha256Hex(SECRET, BODY);

describe("webhook signatures", () => {
  it("matches GitHub's documented test vector", () => {
    const secret = "It's a Secret to Everybody";
    const payload = Buffer.from("Hello, World!");
    const header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert.equal(`sha256=${hmacSha256Hex(secret, payload)}`, header);
    assert.equal(prefixedSignatureMatches(header, payload, secret), true);
    const verdict = verifySender(
      "github",
      { "x-hub-signature-256": header, "x-github-event": "ping" },
      payload,
      secret,
    );
    assert.deepEqual(verdict, { ok: true });
    // One flipped byte of the body, of the signature, or of the secret: no match.
    assert.equal(prefixedSignatureMatches(header, Buffer.from("Hello, World?"), secret), false);
    assert.equal(prefixedSignatureMatches(header.replace(/7$/, "6"), payload, secret), false);
    assert.equal(prefixedSignatureMatches(header, payload, `${secret}!`), false);
  });

  it("refuses malformed signature values without throwing", () => {
    const bad = [
      "",
      "sha256=",
      "sha256=ab",
      `sha256=${SIG}00`,
      `sha256=${SIG.slice(0, 63)}`,
      `sha256=${SIG.slice(0, 63)}g`,
      `sha1=${SIG.slice(0, 40)}`,
      `sha512=${SIG}`,
      SIG, // no prefix where one is required
      ` sha256=${SIG}`,
      `sha256=${"x".repeat(1_000_000)}`,
      "sha256=\u00e9".repeat(10),
    ];
    for (const value of bad) {
      assert.equal(prefixedSignatureMatches(value, BODY, SECRET), false, value.slice(0, 40));
    }
    for (const value of ["", "ab", `${SIG}0`, `sha256=${SIG}`, "z".repeat(64)]) {
      assert.equal(hexSignatureMatches(value, BODY, SECRET), false, value.slice(0, 40));
    }
    // Hex case does not matter (it is the same digest).
    assert.equal(prefixedSignatureMatches(`sha256=${SIG.toUpperCase()}`, BODY, SECRET), true);
    assert.equal(hexSignatureMatches(SIG.toUpperCase(), BODY, SECRET), true);
  });

  const cases: Array<{
    name: string;
    provider: Parameters<typeof verifySender>[0];
    valid: RequestHeaders;
    invalid: RequestHeaders;
    missing: RequestHeaders;
  }> = [
    {
      name: "GitLab (X-Gitlab-Token is the secret)",
      provider: "gitlab",
      valid: { "x-gitlab-token": SECRET },
      invalid: { "x-gitlab-token": `${SECRET}x` },
      missing: { "x-gitlab-token": "" },
    },
    {
      name: "GitHub (X-Hub-Signature-256)",
      provider: "github",
      valid: { "x-hub-signature-256": `sha256=${SIG}` },
      invalid: { "x-hub-signature-256": `sha256=${"0".repeat(64)}` },
      missing: { "x-hub-signature": `sha1=${"0".repeat(40)}` },
    },
    {
      name: "Gitea (X-Gitea-Signature, bare hex)",
      provider: "gitea",
      valid: { "x-gitea-signature": SIG },
      invalid: { "x-gitea-signature": hmacSha256Hex("other", BODY) },
      missing: { "x-gitea-signature": "" },
    },
    {
      name: "Forgejo (X-Forgejo-Signature)",
      provider: "gitea",
      valid: { "x-forgejo-signature": SIG },
      invalid: { "x-forgejo-signature": `sha256=${SIG}` },
      missing: {},
    },
    {
      name: "Bitbucket (X-Hub-Signature: sha256=...)",
      provider: "bitbucket",
      valid: { "x-hub-signature": `sha256=${SIG}` },
      invalid: { "x-hub-signature": SIG },
      missing: { "x-hub-signature-256": `sha256=${SIG}` },
    },
  ];
  for (const c of cases) {
    it(`verifies ${c.name}: valid, invalid, missing`, () => {
      assert.deepEqual(verifySender(c.provider, c.valid, BODY, SECRET), { ok: true });
      const invalid = verifySender(c.provider, c.invalid, BODY, SECRET);
      assert.equal(invalid.ok, false);
      assert.equal(!invalid.ok && invalid.missing, false);
      const missing = verifySender(c.provider, c.missing, BODY, SECRET);
      assert.equal(missing.ok, false);
      assert.equal(!missing.ok && missing.missing, true);
      // The same headers do not verify another body.
      const other = verifySender(c.provider, c.valid, Buffer.from("{}"), SECRET);
      assert.equal(other.ok, c.provider === "gitlab", "only GitLab's token is body-independent");
    });
  }

  it("identifies the sender by its event header, Gitea before its GitHub mirrors", () => {
    assert.deepEqual(identifySender({ "x-gitlab-event": "Push Hook" }), {
      provider: "gitlab",
      event: "Push Hook",
    });
    assert.deepEqual(identifySender({ "x-github-event": "push" }), {
      provider: "github",
      event: "push",
    });
    assert.deepEqual(identifySender({ "x-github-event": "push", "x-gitea-event": "push" }), {
      provider: "gitea",
      event: "push",
    });
    assert.deepEqual(identifySender({ "x-forgejo-event": "push" })?.provider, "gitea");
    assert.deepEqual(identifySender({ "x-event-key": "repo:push" })?.provider, "bitbucket");
    assert.equal(identifySender({ "x-github-event": "  " }), undefined);
    assert.equal(identifySender({ "content-type": "application/json" }), undefined);
    assert.equal(identifySender({ "x-github-event": "p".repeat(5000) })?.event.length, 100);
  });

  it("reads each provider's delivery id, never Bitbucket's per-hook X-Hook-UUID", () => {
    assert.equal(deliveryKey("github", { "x-github-delivery": "72d3162e" }), "72d3162e");
    assert.equal(deliveryKey("gitlab", { "idempotency-key": "k-1" }), "k-1");
    assert.equal(deliveryKey("gitea", { "x-forgejo-delivery": "f-1" }), "f-1");
    assert.equal(deliveryKey("bitbucket", { "x-request-uuid": "{r-1}" }), "{r-1}");
    assert.equal(deliveryKey("bitbucket", { "x-hook-uuid": "{hook}" }), null);
    assert.equal(deliveryKey("github", { "idempotency-key": "generic" }), "generic");
    assert.equal(deliveryKey("github", { "x-github-delivery": "x".repeat(201) }), null);
    assert.equal(deliveryKey("github", { "x-github-delivery": "a b" }), null);
  });
});
