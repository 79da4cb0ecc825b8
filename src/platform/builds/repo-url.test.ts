import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  HostNotAllowedError,
  RepoUrlError,
  resolveAllowedAddress,
  validateRepoUrl,
} from "./repo-url.ts";

describe("validateRepoUrl", () => {
  it("accepts ssh://, scp-style and https:// URLs and parses them", () => {
    assert.deepEqual(validateRepoUrl("git@github.com:owner/repo.git"), {
      protocol: "ssh",
      user: "git",
      host: "github.com",
      port: 22,
      path: "owner/repo.git",
      scpStyle: true,
      url: "git@github.com:owner/repo.git",
    });
    assert.deepEqual(validateRepoUrl("ssh://git@gitlab.example.com:2222/group/sub/site.git"), {
      protocol: "ssh",
      user: "git",
      host: "gitlab.example.com",
      port: 2222,
      path: "/group/sub/site.git",
      scpStyle: false,
      url: "ssh://git@gitlab.example.com:2222/group/sub/site.git",
    });
    assert.deepEqual(validateRepoUrl("https://github.com/owner/repo"), {
      protocol: "https",
      host: "github.com",
      port: 443,
      path: "/owner/repo",
      scpStyle: false,
      url: "https://github.com/owner/repo",
    });
  });

  it("handles IPv6 hosts, home-relative paths, workspaces and encoded https paths", () => {
    assert.equal(validateRepoUrl("ssh://git@[::1]:2222/x.git").host, "::1");
    assert.equal(validateRepoUrl("git@[2001:db8::5]:team/x.git").host, "2001:db8::5");
    assert.equal(validateRepoUrl("git@host.example:~/site.git").path, "~/site.git");
    assert.equal(
      validateRepoUrl("ssh://git@host.example/~alice/site.git").path,
      "/~alice/site.git",
    );
    assert.equal(
      validateRepoUrl("git@bitbucket.org:my-workspace/my-repo.git").path,
      "my-workspace/my-repo.git",
    );
    assert.equal(validateRepoUrl("https://h.example/a%20b/c.git").path, "/a%20b/c.git");
    assert.equal(validateRepoUrl("git+ssh://git@h.example/x.git").protocol, "ssh");
    assert.equal(validateRepoUrl("ssh://git@H.Example.COM/x.git").host, "h.example.com");
  });

  const refused: [string, RegExp][] = [
    // option injection
    ["--upload-pack=touch /tmp/pwn", /whitespace|starts with '-'/],
    ["--config=core.sshCommand=touch${IFS}/tmp/pwn", /starts with '-'/],
    ["-oProxyCommand=x", /starts with '-'/],
    ["ssh://-oProxyCommand=touch%20/tmp/pwn/x", /percent-encoding|starts with '-'/],
    ["ssh://-oProxyCommand=x/y", /host starts with '-'/],
    ["git@-oProxyCommand=x:y", /host starts with '-'/],
    ["-oProxyCommand=x:y", /starts with '-'/],
    ["ssh://git@host.example/-x/y.git", /path segment starts with '-'/],
    ["git@host.example:-upload-pack.git", /path segment starts with '-'/],
    ["git@host.example:--upload-pack=x", /path segment starts with '-'/],
    ["ssh://-user@host.example/x.git", /user name|starts with '-'/],
    // remote helpers and local repositories
    ["ext::sh -c touch% /tmp/pwn", /whitespace|remote helper/],
    ["ext::sh%20-c%20id", /remote helper/],
    ["fd::17", /remote helper/],
    ["file:///var/lib/slipway/forge/alice/private.git", /file:\/\//],
    ["FILE:///etc", /file:\/\//],
    ["/var/lib/slipway/forge/alice/private.git", /local paths/],
    ["../x", /local paths/],
    ["./repo", /local paths/],
    ["repo.git", /local paths/],
    ["~/repo.git", /local paths/],
    // transports that do not authenticate the server, and unknown ones
    ["http://github.com/o/r.git", /does not authenticate/],
    ["git://github.com/o/r.git", /does not authenticate/],
    ["ftp://h.example/r.git", /not supported/],
    // credentials, queries, odd characters
    ["https://user:token@github.com/o/r.git", /credentials/],
    ["https://token@github.com/o/r.git", /credentials/],
    ["ssh://git:pw@h.example/x.git", /credentials/],
    ["https://h.example/o/r.git?x=1", /query/],
    ["https://h.example/o/r.git#frag", /query|fragments/],
    ["git@h.example:o/r.git\n--upload-pack=x", /whitespace or control/],
    ["git@h.example:o/r .git", /whitespace/],
    ["git@h.example:o/r\u0000.git", /control/],
    ["ssh://h.example/a/../b.git", /'\.' and '\.\.'/],
    ["git@h.example:../../etc", /'\.' and '\.\.'/],
    ["ssh://h_bad.example/x.git", /not a valid host name/],
    ["ssh:///x.git", /host is empty/],
    ["git@h.example:", /path is empty/],
    ["https://h.example/", /path is empty/],
    ["ssh://git@h.example/o/r$(id).git", /not allowed/],
    ["git@h.example:o/r;id.git", /not allowed/],
    ["git@h.example:o/r`id`.git", /not allowed/],
    ["ssh://git%40x@h.example/x.git", /percent-encoding/],
    ["", /empty/],
  ];

  for (const [input, reason] of refused) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => validateRepoUrl(input),
        (e: unknown) =>
          e instanceof RepoUrlError && e.field === "repo_url" && reason.test(e.reason),
      );
    });
  }
});

describe("resolveAllowedAddress", () => {
  const resolver = (answers: Record<string, string[]>) => async (host: string) => {
    const found = answers[host];
    if (!found) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
    return found;
  };

  it("returns a public address, and refuses names that resolve to internal ones", async () => {
    const dns = resolver({
      "git.example.com": ["140.82.112.3"],
      "evil.example.com": ["127.0.0.1"],
    });
    assert.equal(await resolveAllowedAddress("git.example.com", 22, false, dns), "140.82.112.3");
    await assert.rejects(
      resolveAllowedAddress("evil.example.com", 22, false, dns),
      (e: unknown) =>
        e instanceof HostNotAllowedError &&
        e.address === "127.0.0.1" &&
        /loopback, private/.test(e.message),
    );
    await assert.rejects(
      resolveAllowedAddress("169.254.169.254", 22, false, dns),
      HostNotAllowedError,
    );
  });

  it("refuses every non-public form of an address, IP literals included", async () => {
    const dns = resolver({});
    for (const address of [
      "127.0.0.1",
      "10.0.0.5",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "::1",
      "::",
      "fe80::1",
      "fd12:3456::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
    ]) {
      await assert.rejects(
        resolveAllowedAddress(address, 22, false, dns),
        (e: unknown) => e instanceof HostNotAllowedError && e.address === address,
        address,
      );
    }
    for (const address of ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]) {
      assert.equal(await resolveAllowedAddress(address, 22, false, dns), address);
    }
  });

  it("prefers a public address when a name has several", async () => {
    const dns = resolver({ "mixed.example.com": ["10.0.0.1", "140.82.112.3"] });
    assert.equal(await resolveAllowedAddress("mixed.example.com", 22, false, dns), "140.82.112.3");
  });

  it("lets the administrator allow internal hosts, wholesale or one by one", async () => {
    const dns = resolver({ "forge.internal": ["10.1.2.3"] });
    assert.equal(await resolveAllowedAddress("forge.internal", 2222, true, dns), "10.1.2.3");
    const onlyForge = (host: string, address: string, port: number) =>
      host === "forge.internal" && address === "10.1.2.3" && port === 2222;
    assert.equal(await resolveAllowedAddress("forge.internal", 2222, onlyForge, dns), "10.1.2.3");
    await assert.rejects(
      resolveAllowedAddress("forge.internal", 22, onlyForge, dns),
      HostNotAllowedError,
    );
    await assert.rejects(
      resolveAllowedAddress("127.0.0.1", 2222, onlyForge, dns),
      HostNotAllowedError,
    );
  });

  it("says when a name does not resolve", async () => {
    await assert.rejects(
      resolveAllowedAddress("nope.example.com", 22, false, resolver({})),
      (e: unknown) =>
        e instanceof HostNotAllowedError && e.address === undefined && /ENOTFOUND/.test(e.message),
    );
  });
});
