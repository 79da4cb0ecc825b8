import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkRepoHost,
  HostNotAllowedError,
  isAllowedHost,
  resolveAllowedAddress,
  type ResolveHost,
} from "./host-guard.ts";
import { RepoUrlError, validateRepoUrl, type RepoUrl } from "./repo-url.ts";

/** The reason `input` is refused for, or undefined if it is accepted. */
function refusal(input: string): string | undefined {
  try {
    validateRepoUrl(input);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof RepoUrlError, String(error));
    assert.equal(error.field, "repo_url");
    assert.equal(error.message, `repo_url is not allowed: ${error.reason}`);
    return error.reason;
  }
}

describe("validateRepoUrl", () => {
  it("accepts SSH URLs, scp-style addresses and HTTPS URLs, and takes them apart", () => {
    const cases: Array<[string, Omit<RepoUrl, "url">]> = [
      [
        "https://github.com/a/b.git",
        { protocol: "https", host: "github.com", port: 443, path: "/a/b.git", scpStyle: false },
      ],
      [
        "https://GitLab.com:8443/group/sub/repo",
        {
          protocol: "https",
          host: "gitlab.com",
          port: 8443,
          path: "/group/sub/repo",
          scpStyle: false,
        },
      ],
      [
        "https://github.com/owner/repo",
        { protocol: "https", host: "github.com", port: 443, path: "/owner/repo", scpStyle: false },
      ],
      [
        "ssh://git@gitlab.com/group/repo.git",
        {
          protocol: "ssh",
          user: "git",
          host: "gitlab.com",
          port: 22,
          path: "/group/repo.git",
          scpStyle: false,
        },
      ],
      [
        "ssh://git@git.example.org:2222/a/b.git",
        {
          protocol: "ssh",
          user: "git",
          host: "git.example.org",
          port: 2222,
          path: "/a/b.git",
          scpStyle: false,
        },
      ],
      [
        "ssh://git@gitlab.example.com:2222/group/sub/site.git",
        {
          protocol: "ssh",
          user: "git",
          host: "gitlab.example.com",
          port: 2222,
          path: "/group/sub/site.git",
          scpStyle: false,
        },
      ],
      [
        "ssh://git@[2001:4860::8888]:22/a.git",
        {
          protocol: "ssh",
          user: "git",
          host: "2001:4860::8888",
          port: 22,
          path: "/a.git",
          scpStyle: false,
        },
      ],
      [
        "git@github.com:owner/repo.git",
        {
          protocol: "ssh",
          user: "git",
          host: "github.com",
          port: 22,
          path: "owner/repo.git",
          scpStyle: true,
        },
      ],
      [
        "bitbucket.org:workspace/repo.git",
        {
          protocol: "ssh",
          host: "bitbucket.org",
          port: 22,
          path: "workspace/repo.git",
          scpStyle: true,
        },
      ],
      [
        "git@8.8.8.8:x.git",
        { protocol: "ssh", user: "git", host: "8.8.8.8", port: 22, path: "x.git", scpStyle: true },
      ],
    ];
    for (const [input, expected] of cases) {
      assert.equal(refusal(input), undefined, input);
      assert.deepEqual(validateRepoUrl(input), { ...expected, url: input }, input);
    }
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
    assert.equal(validateRepoUrl("ssh://git@H.Example.COM/x.git").host, "h.example.com");
    assert.equal(validateRepoUrl("ssh://git@h.example/o/r.git/").path, "/o/r.git");
  });

  const refused: Array<[string, RegExp]> = [
    ["", /must not be empty/],
    // option injection
    ["-oProxyCommand=touch /tmp/pwn", /must not start with "-"/],
    ["--upload-pack=touch /tmp/x", /must not start with "-"/],
    ["--upload-pack=touch /tmp/pwn", /must not start with "-"/],
    ["--config=core.sshCommand=touch${IFS}/tmp/pwn", /must not start with "-"/],
    ["-oProxyCommand=x", /must not start with "-"/],
    ["-oProxyCommand=x:y", /must not start with "-"/],
    ["git@-oProxy:x", /the host "-oProxy" must not start with "-"/],
    ["git@-oProxyCommand=x:y", /the host "-oProxyCommand=x" must not start with "-"/],
    [
      "ssh://-oProxyCommand=touch%20x/y",
      /the host "-oProxyCommand=touch%20x" must not start with "-"/,
    ],
    ["ssh://-oProxyCommand=touch%20/tmp/pwn/x", /must not start with "-"/],
    ["ssh://-oProxyCommand=x/y", /the host "-oProxyCommand=x" must not start with "-"/],
    ["ssh://git@-oProxyCommand=x/y", /must not start with "-"/],
    ["ssh://-x@host/y", /the user name "-x" is not allowed/],
    ["ssh://-user@host.example/x.git", /the user name "-user" is not allowed/],
    ["ssh://git@host/a/--upload-pack=x", /no part of the path may start with "-"/],
    ["ssh://git@host.example/-x/y.git", /no part of the path may start with "-"/],
    ["git@host:-x", /no part of the path may start with "-"/],
    ["git@host.example:-upload-pack.git", /no part of the path may start with "-"/],
    ["git@host.example:--upload-pack=x", /no part of the path may start with "-"/],
    // remote helpers and local repositories
    ["ext::sh -c touch% /tmp/pwn", /git remote helpers \("ext::"\)/],
    ["ext::sh%20-c%20id", /git remote helpers \("ext::"\)/],
    ["fd::17", /git remote helpers \("fd::"\)/],
    ["file:///etc", /file:\/\/ URLs are not allowed/],
    ["FILE:///srv/forge/1.git", /file:\/\/ URLs are not allowed/],
    ["FILE:///etc", /file:\/\/ URLs are not allowed/],
    ["file:///var/lib/slipway/forge/alice/private.git", /file:\/\/ URLs are not allowed/],
    ["/srv/repo", /local paths are not allowed/],
    ["/var/lib/slipway/forge/alice/private.git", /local paths are not allowed/],
    ["./repo", /local paths are not allowed/],
    ["../other.git", /local paths are not allowed/],
    ["../x", /local paths are not allowed/],
    ["~/repo.git", /local paths are not allowed/],
    ["repo.git", /is not a repository URL/],
    // transports that do not authenticate the server, and unknown ones
    ["http://github.com/a/b", /plain http:\/\/ is not allowed/],
    ["http://github.com/o/r.git", /plain http:\/\/ is not allowed/],
    ["git://github.com/a/b", /git:\/\/ is neither authenticated nor encrypted/],
    ["ftp://host/repo", /the ftp:\/\/ transport is not allowed/],
    ["ftp://h.example/r.git", /the ftp:\/\/ transport is not allowed/],
    ["git+ssh://git@h.example/x.git", /the git\+ssh:\/\/ transport is not allowed/],
    // whitespace and control characters
    ["https://github.com/a b", /spaces or control characters/],
    ["https://github.com/a\nb", /spaces or control characters/],
    ["git@h.example:o/r.git\n--upload-pack=x", /spaces or control characters/],
    ["git@h.example:o/r .git", /spaces or control characters/],
    ["git@h.example:o/r\u0000.git", /spaces or control characters/],
    ["git@h.example:o/r\u00a0.git", /spaces or control characters/],
    // credentials, queries, odd characters
    ["https://user:secret@github.com/a/b.git", /must not contain a user name or password/],
    ["https://user:token@github.com/o/r.git", /credentials in the URL/],
    ["https://token@github.com/a/b.git", /must not contain a user name or password/],
    ["ssh://git:pw@h.example/x.git", /must not contain a password: credentials/],
    ["ssh://git%40x@h.example/x.git", /percent-encoding/],
    ["ssh://git@[fe80::1%25eth0]/x.git", /percent-encoding/],
    ["ssh://git@h.example/a%20b.git", /percent-encoding is not allowed in ssh paths/],
    ["https://github.com\\@evil.com/a", /backslashes/],
    ["git@h.example:a\\b.git", /backslashes/],
    ["https://github.com/a?x=1", /query/],
    ["https://h.example/o/r.git?x=1", /query/],
    ["https://h.example/o/r.git#frag", /fragment/],
    ["ssh://git@h.example/o/r.git?x=1", /query/],
    [
      "ssh://git@h.example/o/r$(id).git",
      /the path part "r\$\(id\).git" contains characters that are not allowed/,
    ],
    ["git@h.example:o/r;id.git", /contains characters that are not allowed/],
    ["git@h.example:o/r`id`.git", /contains characters that are not allowed/],
    ["git@h.example:o/r:x.git", /contains characters that are not allowed/],
    ["https://h.example/o/r$(id).git", /contains characters that are not allowed/],
    // paths
    ["ssh://git@host/a/../../b", /must not contain "\.\." segments/],
    ["ssh://h.example/a/../b.git", /must not contain "\.\." segments/],
    ["git@h.example:../../etc", /must not contain "\.\." segments/],
    ["ssh://h.example/./b.git", /must not contain "\." segments/],
    ["ssh://h.example/a//b.git", /empty parts/],
    ["ssh://github.com", /must include the repository path/],
    ["ssh://github.com/", /must include the repository path/],
    ["git@host:", /must include the repository path after the colon/],
    ["git@h.example:", /must include the repository path after the colon/],
    ["git@h.example:/", /must include the repository path/],
    ["https://github.com", /must include the repository path/],
    ["https://h.example/", /must include the repository path/],
    // hosts and ports
    ["ssh://git@host:99999/x", /not a TCP port/],
    ["ssh://git@host:/x", /empty port/],
    ["ssh:///x.git", /has no host/],
    ["https://127.1/a", /not a valid host name or IP address/],
    ["ssh://127.1/a", /not a valid host name or IP address/],
    ["https://2130706433/a", /not a valid host name or IP address/],
    ["https://0x7f.1/a", /not a valid host name or IP address/],
    ["https://exa_mple.com/a", /not a valid host name or IP address/],
    ["ssh://h_bad.example/x.git", /not a valid host name/],
    ["https://github.com./a/b.git", /not a valid host name/],
    ["https://exämple.com/a", /not a valid host name/],
    ["ssh://git@[::1/x", /not a valid IPv6 address/],
  ];

  for (const [input, reason] of refused) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      const why = refusal(input);
      assert.notEqual(why, undefined, `${JSON.stringify(input)} must be refused`);
      assert.match(why!, reason, JSON.stringify(input));
    });
  }

  it("never echoes credentials from a refused URL", () => {
    for (const input of [
      "https://user:hunter2secret@github.com/a/b.git",
      "ssh://git:hunter2secret@github.com/a/b.git",
    ]) {
      const why = refusal(input);
      assert.notEqual(why, undefined, input);
      assert.doesNotMatch(why!, /hunter2secret/, input);
    }
  });
});

describe("checkRepoHost", () => {
  const table: Record<string, string[]> = {
    "github.com": ["140.82.121.4"],
    "forge.internal": ["10.0.0.7"],
    "mixed.example": ["140.82.121.4", "192.168.0.9"],
    localhost: ["127.0.0.1", "::1"],
  };
  const resolve: ResolveHost = async (host) => {
    const found = table[host];
    if (!found)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return found;
  };

  it("passes public hosts and refuses names that resolve to any private address", async () => {
    assert.deepEqual(await checkRepoHost({ resolve, allowed: [] }, "github.com", 443), {
      ok: true,
      addresses: ["140.82.121.4"],
    });
    const mixed = await checkRepoHost({ resolve, allowed: [] }, "mixed.example", 22);
    assert.equal(mixed.ok, false);
    if (!mixed.ok) assert.match(mixed.reason, /resolves to 192\.168\.0\.9, a private address/);
    for (const address of [
      "127.0.0.1",
      "::1",
      "::ffff:127.0.0.1",
      "10.0.0.5",
      "fd00::1",
      "0.0.0.0",
    ]) {
      const refused = await checkRepoHost({ resolve, allowed: [] }, address, 22);
      assert.equal(refused.ok, false, address);
    }
    const literal = await checkRepoHost({ resolve, allowed: [] }, "169.254.169.254", 443);
    assert.equal(literal.ok, false);
    if (!literal.ok) {
      assert.match(literal.reason, /is a link-local address/);
      assert.match(literal.reason, /SLIPWAY_ALLOW_PRIVATE_REPO_HOSTS=169\.254\.169\.254:443/);
    }
  });

  it("lets a name that does not resolve now through (the connect-time check decides)", async () => {
    assert.deepEqual(await checkRepoHost({ resolve, allowed: [] }, "nowhere.example", 22), {
      ok: true,
      addresses: [],
    });
  });

  it("honours the allow-list by name, by name and port, and by resolved address", async () => {
    const byName = await checkRepoHost(
      { resolve, allowed: ["forge.internal"] },
      "forge.internal",
      2222,
    );
    assert.equal(byName.ok, true);
    const wrongPort = await checkRepoHost(
      { resolve, allowed: ["forge.internal:22"] },
      "forge.internal",
      2222,
    );
    assert.equal(wrongPort.ok, false);
    const byAddress = await checkRepoHost(
      { resolve, allowed: ["127.0.0.1:2222", "[::1]:2222"] },
      "localhost",
      2222,
    );
    assert.equal(byAddress.ok, true);
    const halfAllowed = await checkRepoHost(
      { resolve, allowed: ["127.0.0.1:2222"] },
      "localhost",
      2222,
    );
    assert.equal(halfAllowed.ok, false, "every private address must be allowed, ::1 is not");
    assert.equal(isAllowedHost(["[::1]:22"], "::1", 22), true);
  });
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
