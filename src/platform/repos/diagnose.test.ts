import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  deployKeyPlace,
  diagnoseGitFailure,
  GitFetchError,
  type DiagnoseContext,
} from "./diagnose.ts";
import { validateRepoUrl } from "./repo-url.ts";

const FINGERPRINT = "ED25519 SHA256:Dw4z2hWJGRQRq27mNM4btsfTgRT+7TjIz7HXL3vK4D0";
const gitlab: DiagnoseContext = {
  repo: validateRepoUrl("git@gitlab.com:acme/www/site.git"),
  branch: "prod",
  keyFingerprint: FINGERPRINT,
  provider: "gitlab",
};
const TRAILER =
  "fatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n";

describe("diagnoseGitFailure", () => {
  it("turns the seed's bare 'Permission denied (publickey)' into which key and where to add it", () => {
    // The build log from the Netlify support thread (seed 1), verbatim.
    const stderr =
      "Warning: Permanently added 'gitlab.com' (ECDSA) to the list of known hosts.\r\n" +
      "git@gitlab.com: Permission denied (publickey,keyboard-interactive).\r\n" +
      TRAILER;
    const d = diagnoseGitFailure(stderr, gitlab);
    assert.equal(d.code, "auth_failed");
    assert.ok(d.message.includes(FINGERPRINT));
    assert.match(d.message, /gitlab\.com refused Slipway's deploy key/);
    assert.match(d.message, /deploy key of the repository acme\/www\/site\.git/);
    assert.match(d.message, /https:\/\/gitlab\.com\/acme\/www\/site\/-\/settings\/repository/);
    assert.match(d.message, /not to a user's SSH keys/);
    assert.match(d.detail, /Permission denied \(publickey,keyboard-interactive\)/);
  });

  it("says where deploy keys go at each provider", () => {
    const at = (url: string, provider: DiagnoseContext["provider"], repoWebUrl?: string) =>
      deployKeyPlace({
        repo: validateRepoUrl(url),
        provider,
        ...(repoWebUrl ? { repoWebUrl } : {}),
      });
    assert.match(
      at("git@github.com:octo/site.git", "github"),
      /Deploy keys.*https:\/\/github\.com\/octo\/site\/settings\/keys/,
    );
    assert.match(
      at("git@bitbucket.org:my-workspace/site.git", "bitbucket"),
      /Access keys.*https:\/\/bitbucket\.org\/my-workspace\/site\/admin\/access-keys\//,
    );
    assert.match(
      at("ssh://git@gitea.example.com:2222/o/site.git", "gitea"),
      /Deploy keys.*https:\/\/gitea\.example\.com\/o\/site\/settings\/keys/,
    );
    assert.match(
      at("ssh://git@127.0.0.1:2222/alice/site.git", "forge", "http://127.0.0.1:3000/alice/site"),
      /Slipway forge.*\/api\/v4\/projects\/:id\/deploy_keys.*http:\/\/127\.0\.0\.1:3000\/alice\/site/,
    );
    assert.match(
      at("git@git.example.com:o/site.git", "git"),
      /deploy keys \(some hosts call them access keys\) at git\.example\.com/,
    );
  });

  it("recognizes 'project not found' from GitLab, GitHub, Bitbucket and plain git", () => {
    for (const stderr of [
      "ERROR: The project you were looking for could not be found or you don't have permission to view it.\n\n" +
        TRAILER,
      "ERROR: Repository not found.\n" + TRAILER,
      "conq: repository does not exist.\n" + TRAILER,
      "fatal: '/srv/git/site.git' does not appear to be a git repository\n" + TRAILER,
      "remote: Repository not found.\nfatal: repository 'https://github.com/o/r.git/' not found\n",
    ]) {
      const d = diagnoseGitFailure(stderr, gitlab);
      assert.equal(d.code, "repo_not_found", stderr);
      assert.match(
        d.message,
        /accepted Slipway's deploy key .* does not exist or this key may not read it/,
      );
      assert.ok(d.message.includes(FINGERPRINT));
    }
  });

  it("recognizes a key that authenticates but may not read the project (the forge's message)", () => {
    const d = diagnoseGitFailure(
      "\n========================================================================\n\n" +
        "ERROR: You are not allowed to download code from this project.\n\n" +
        "========================================================================\n\n" +
        TRAILER,
      { ...gitlab, provider: "forge" },
    );
    assert.equal(d.code, "repo_not_found");
    assert.match(d.message, /refused access to acme\/www\/site\.git/);
    assert.match(d.message, /Slipway forge/);
    assert.match(d.detail, /You are not allowed to download code from this project\./);
    assert.doesNotMatch(d.detail, /^\s*$/m);
  });

  it("lists the branches that exist when the branch is missing", () => {
    const stderr = "fatal: couldn't find remote ref refs/heads/prod\n";
    const d = diagnoseGitFailure(stderr, { ...gitlab, remoteBranches: ["dev", "main"] });
    assert.equal(d.code, "ref_not_found");
    assert.match(
      d.message,
      /The branch "prod" does not exist in git@gitlab\.com:acme\/www\/site\.git\. Branches that exist: dev, main\./,
    );

    const many = Array.from({ length: 25 }, (_, i) => `b${String(i).padStart(2, "0")}`);
    assert.match(
      diagnoseGitFailure(stderr, { ...gitlab, remoteBranches: many }).message,
      /b19 and 5 more\./,
    );
    assert.match(
      diagnoseGitFailure(stderr, { ...gitlab, remoteBranches: [] }).message,
      /no branches at all yet/,
    );
    const { branch: _omit, ...noBranch } = gitlab;
    assert.match(diagnoseGitFailure(stderr, noBranch).message, /The branch "prod"/);
  });

  it("says the host key changed, with the pinned and the presented fingerprints", () => {
    const stderr = [
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
      "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
      "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!",
      "The fingerprint for the ED25519 key sent by the remote host is",
      "SHA256:DsAHMhqnQE/Ulic2fDN6uG6qogPk9WtdV75rnfWjaBA.",
      "Host key for gitlab.com has changed and you have requested strict checking.",
      "Host key verification failed.",
      TRAILER,
    ].join("\n");
    const d = diagnoseGitFailure(stderr, { ...gitlab, pinnedHostKeys: ["ED25519 SHA256:old"] });
    assert.equal(d.code, "host_key_changed");
    assert.match(d.message, /host key of gitlab\.com has changed/);
    assert.match(d.message, /pinned: ED25519 SHA256:old/);
    assert.match(
      d.message,
      /now presents ED25519 SHA256:DsAHMhqnQE\/Ulic2fDN6uG6qogPk9WtdV75rnfWjaBA/,
    );
    assert.match(d.message, /reset the site's pinned host key/);
    assert.doesNotMatch(d.detail, /^@+$/m);
  });

  it("tells a different key type apart from an unknown host", () => {
    const stderr =
      "No ED25519 host key is known for gitlab.com and you have requested strict checking.\nHost key verification failed.\n" +
      TRAILER;
    assert.equal(
      diagnoseGitFailure(stderr, { ...gitlab, pinnedHostKeys: ["RSA SHA256:x"] }).code,
      "host_key_changed",
    );
    assert.equal(diagnoseGitFailure(stderr, gitlab).code, "host_key_unknown");
  });

  it("reports network problems in words", () => {
    const cases: [string, RegExp][] = [
      [
        "ssh: Could not resolve hostname gitlab.exmaple.com: Name or service not known\n",
        /could not be resolved/,
      ],
      ["ssh: connect to host gitlab.com port 22: Connection refused\n", /connection refused/],
      ["ssh: connect to host gitlab.com port 22: Connection timed out\n", /timed out/],
      ["Connection timed out during banner exchange\n", /timed out/],
      ["ssh: connect to host gitlab.com port 22: Network is unreachable\n", /cannot be reached/],
      ["kex_exchange_identification: Connection closed by remote host\n", /closed the connection/],
      [
        "fatal: unable to access 'https://h/x.git/': Could not resolve host: h\n",
        /could not be resolved/,
      ],
    ];
    for (const [stderr, expected] of cases) {
      const d = diagnoseGitFailure(stderr + TRAILER, gitlab);
      assert.equal(d.code, "network", stderr);
      assert.match(d.message, expected);
    }
  });

  it("explains that HTTPS authentication is not how private repositories are fetched", () => {
    const d = diagnoseGitFailure(
      "fatal: could not read Username for 'https://github.com': terminal prompts disabled\n",
      {
        repo: validateRepoUrl("https://github.com/octo/private.git"),
        provider: "github",
        keyFingerprint: FINGERPRINT,
      },
    );
    assert.equal(d.code, "auth_failed");
    assert.match(d.message, /link the SSH URL \(for example git@github\.com:octo\/private\.git\)/);
    assert.match(d.message, /settings\/keys/);
  });

  it("reports a time-out, a refused transport and anything else", () => {
    assert.equal(
      diagnoseGitFailure("", { ...gitlab, timedOut: true, timeoutMs: 600_000 }).code,
      "timeout",
    );
    assert.match(
      diagnoseGitFailure("", { ...gitlab, timedOut: true, timeoutMs: 600_000 }).message,
      /\(600 s\)/,
    );
    assert.equal(
      diagnoseGitFailure("fatal: transport 'file' not allowed\n", gitlab).code,
      "not_allowed",
    );
    const other = diagnoseGitFailure("error: something odd happened\n" + TRAILER, gitlab);
    assert.equal(other.code, "unknown");
    assert.match(other.message, /failed: something odd happened\./);
  });

  it("wraps a diagnosis in an error carrying its code and detail", () => {
    const error = new GitFetchError(
      diagnoseGitFailure("fatal: couldn't find remote ref refs/heads/prod\n", gitlab),
    );
    assert.equal(error.code, "ref_not_found");
    assert.equal(error.name, "GitFetchError");
    assert.match(error.detail, /couldn't find remote ref/);
  });
});
