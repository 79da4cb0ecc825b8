import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkRepoHost, isAllowedHost, type ResolveHost } from "./host-guard.ts";
import { parseRepoUrl } from "./repo-url.ts";

describe("parseRepoUrl", () => {
  it("accepts SSH URLs, scp-style addresses and HTTPS URLs, and takes them apart", () => {
    const cases: Array<
      [string, { kind: string; user?: string; host: string; port: number; path: string }]
    > = [
      [
        "https://github.com/a/b.git",
        { kind: "https", host: "github.com", port: 443, path: "/a/b.git" },
      ],
      [
        "https://GitLab.com:8443/group/sub/repo",
        { kind: "https", host: "gitlab.com", port: 8443, path: "/group/sub/repo" },
      ],
      [
        "ssh://git@gitlab.com/group/repo.git",
        { kind: "ssh", user: "git", host: "gitlab.com", port: 22, path: "/group/repo.git" },
      ],
      [
        "ssh://git@git.example.org:2222/a/b.git",
        { kind: "ssh", user: "git", host: "git.example.org", port: 2222, path: "/a/b.git" },
      ],
      [
        "ssh://git@[2001:4860::8888]:22/a.git",
        { kind: "ssh", user: "git", host: "2001:4860::8888", port: 22, path: "/a.git" },
      ],
      [
        "git@github.com:owner/repo.git",
        { kind: "scp", user: "git", host: "github.com", port: 22, path: "owner/repo.git" },
      ],
      [
        "bitbucket.org:workspace/repo.git",
        { kind: "scp", host: "bitbucket.org", port: 22, path: "workspace/repo.git" },
      ],
      ["git@8.8.8.8:x.git", { kind: "scp", user: "git", host: "8.8.8.8", port: 22, path: "x.git" }],
    ];
    for (const [input, expected] of cases) {
      const result = parseRepoUrl(input);
      assert.ok(result.ok, `${input}: ${result.ok ? "" : result.reason}`);
      assert.deepEqual(result.url, { user: undefined, ...expected }, input);
    }
  });

  it("refuses options, transport helpers, local repositories and other transports, saying why", () => {
    const cases: Array<[string, RegExp]> = [
      ["", /must not be empty/],
      ["-oProxyCommand=touch /tmp/pwn", /must not start with "-"/],
      ["--upload-pack=touch /tmp/x", /must not start with "-"/],
      ["ext::sh -c touch% /tmp/pwn", /git remote helpers \("ext::"\)/],
      ["fd::17", /git remote helpers \("fd::"\)/],
      ["file:///etc", /file:\/\/ URLs are not allowed/],
      ["FILE:///srv/forge/1.git", /file:\/\/ URLs are not allowed/],
      ["/srv/repo", /local paths are not allowed/],
      ["./repo", /local paths are not allowed/],
      ["../other.git", /local paths are not allowed/],
      ["~/repo.git", /local paths are not allowed/],
      ["repo.git", /is not a repository URL/],
      ["http://github.com/a/b", /plain http:\/\/ is not allowed/],
      ["git://github.com/a/b", /git:\/\/ is neither authenticated nor encrypted/],
      ["ftp://host/repo", /the ftp:\/\/ transport is not allowed/],
      ["https://github.com/a b", /spaces or control characters/],
      ["https://github.com/a\nb", /spaces or control characters/],
      ["git@-oProxy:x", /the host "-oProxy" must not start with "-"/],
      [
        "ssh://-oProxyCommand=touch%20x/y",
        /the host "-oProxyCommand=touch%20x" must not start with "-"/,
      ],
      ["ssh://git@-oProxyCommand=x/y", /must not start with "-"/],
      ["ssh://-x@host/y", /the user name "-x" is not allowed/],
      ["ssh://github.com", /must include the repository path/],
      ["ssh://github.com/", /must include the repository path/],
      ["ssh://git@host:99999/x", /not a TCP port/],
      ["ssh://git@host/a/../../b", /must not contain "\.\." segments/],
      ["ssh://git@host/a/--upload-pack=x", /no part of the path may start with "-"/],
      ["git@host:-x", /no part of the path may start with "-"/],
      ["git@host:", /must include the repository path after the colon/],
      ["https://user:secret@github.com/a/b.git", /must not contain a user name or password/],
      ["https://token@github.com/a/b.git", /must not contain a user name or password/],
      ["https://github.com\\@evil.com/a", /backslashes/],
      ["https://github.com/a?x=1", /query/],
      ["https://github.com", /must include the repository path/],
      ["https://127.1/a", /not a valid host name or IP address/],
      ["https://2130706433/a", /not a valid host name or IP address/],
      ["https://0x7f.1/a", /not a valid host name or IP address/],
      ["https://exa_mple.com/a", /not a valid host name or IP address/],
      ["ssh://git@[::1/x", /not a valid IPv6 address/],
    ];
    for (const [input, reason] of cases) {
      const result = parseRepoUrl(input);
      assert.equal(result.ok, false, `${JSON.stringify(input)} must be refused`);
      if (!result.ok) assert.match(result.reason, reason, JSON.stringify(input));
    }
  });

  it("never echoes credentials from a refused URL", () => {
    const result = parseRepoUrl("https://user:hunter2secret@github.com/a/b.git");
    assert.equal(result.ok, false);
    if (!result.ok) assert.doesNotMatch(result.reason, /hunter2secret/);
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
