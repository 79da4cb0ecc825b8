import { hostKeyFingerprint, type HostKey } from "./host-keys.ts";

/**
 * The SSH host keys the big hosted providers publish. Fetches from these hosts check the server
 * against these keys only (never against a key first seen on the wire, which an attacker
 * between the platform and the provider could have planted); every other host keeps trust on
 * first use. Each key's SHA-256 fingerprint is also listed as the provider publishes it, and
 * `published-host-keys.test.ts` checks that the keys hash to them.
 *
 * Update when a provider rotates its keys (as GitHub did for RSA in March 2023 and Bitbucket in
 * June 2023).
 */
export interface PublishedHostKeys {
  /** Who publishes them, for messages ("GitHub's published key"). */
  provider: string;
  /** The host names (any port) these keys belong to. */
  hosts: readonly string[];
  /** Where the provider publishes them. */
  source: string;
  keys: readonly HostKey[];
  /** The fingerprints as published (`SHA256:…`), in the order of `keys`. */
  fingerprints: readonly string[];
}

export const PUBLISHED_HOST_KEYS: readonly PublishedHostKeys[] = [
  {
    provider: "GitHub",
    hosts: ["github.com", "ssh.github.com"],
    source:
      "https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/githubs-ssh-key-fingerprints",
    keys: [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
      "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=",
      "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgVsmerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQyytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVruj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6CmK2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk=",
    ],
    fingerprints: [
      "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
      "SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
      "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
    ],
  },
  {
    provider: "GitLab.com",
    hosts: ["gitlab.com", "altssh.gitlab.com"],
    source: "https://docs.gitlab.com/user/gitlab_com/#ssh-host-keys-fingerprints",
    keys: [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf",
      "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFSMqzJeV9rUzU4kWitGjeR4PWSa29SPqJ1fVkhtj3Hw9xjLVXVYrU9QlYWrOLXBpQ6KWjbjTDTdDkoohFzgbEY=",
      "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCsj2bNKTBSpIYDEGk9KxsGh3mySTRgMtXL583qmBpzeQ+jqCMRgBqB98u3z++J1sKlXHWfM9dyhSevkMwSbhoR8XIq/U0tCNyokEi/ueaBMCvbcTHhO7FcwzY92WK4Yt0aGROY5qX2UKSeOvuP4D6TPqKF1onrSzH9bx9XUf2lEdWT/ia1NEKjunUqu1xOB/StKDHMoX4/OKyIzuS0q/T1zOATthvasJFoPrAjkohTyaDUz2LN5JoH839hViyEG82yB+MjcFV5MU3N1l1QL3cVUCh93xSaua1N85qivl+siMkPGbO5xR/En4iEY6K2XPASUEMaieWVNTRCtJ4S8H+9",
    ],
    fingerprints: [
      "SHA256:eUXGGm1YGsMAS7vkcx6JOJdOGHPem5gQp4taiCfCLB8",
      "SHA256:HbW3g8zUjNSksFbqTiUWPWg2Bq1x8xdGUrliXFzSnUw",
      "SHA256:ROQFvPThGrW4RuWLoL9tq9I9zJ42fK4XywyRtbOz/EQ",
    ],
  },
  {
    provider: "Bitbucket Cloud",
    hosts: ["bitbucket.org", "altssh.bitbucket.org"],
    source:
      "https://support.atlassian.com/bitbucket-cloud/docs/configure-ssh-and-two-step-verification/",
    keys: [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIazEu89wgQZ4bqs3d63QSMzYVa0MuJ2e2gKTKqu+UUO",
      "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPIQmuzMBuKdWeF4+a2sjSSpBK0iqitSQ+5BM9KhpexuGt20JpTVM7u5BDZngncgrqDMbWdxMWWOGtZ9UgbqgZE=",
      "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDQeJzhupRu0u0cdegZIa8e86EG2qOCsIsD1Xw0xSeiPDlCr7kq97NLmMbpKTX6Esc30NuoqEEHCuc7yWtwp8dI76EEEB1VqY9QJq6vk+aySyboD5QF61I/1WeTwu+deCbgKMGbUijeXhtfbxSxm6JwGrXrhBdofTsbKRUsrN1WoNgUa8uqN1Vx6WAJw1JHPhglEGGHea6QICwJOAr/6mrui/oB7pkaWKHj3z7d1IC4KWLtY47elvjbaTlkN04Kc/5LFEirorGYVbt15kAUlqGM65pk6ZBxtaO3+30LVlORZkxOh+LKL/BvbZ/iRNhItLqNyieoQj/uh/7Iv4uyH/cV/0b4WDSd3DptigWq84lJubb9t/DnZlrJazxyDCulTmKdOR7vs9gMTo+uoIrPSb8ScTtvw65+odKAlBj59dhnVp9zd7QUojOpXlL62Aw56U4oO+FALuevvMjiWeavKhJqlR7i5n9srYcrNV7ttmDw7kf/97P5zauIhxcjX+xHv4M=",
    ],
    fingerprints: [
      "SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM",
      "SHA256:FC73VB6C4OQLSCrjEayhMp9UMxS97caD/Yyi2bhW/J0",
      "SHA256:46OSHA1Rmj8E8ERTC6xkNcmGOw9oFxYr0WF6zWW8l1E",
    ],
  },
];

/** The published keys of `host` (lowercase, any port), or undefined for other hosts. */
export function publishedHostKeys(host: string): PublishedHostKeys | undefined {
  const name = host.toLowerCase().replace(/\.$/, "");
  return PUBLISHED_HOST_KEYS.find((entry) => entry.hosts.includes(name));
}

/** How a host's key is trusted, as the link status shows it. */
export interface HostKeyTrust {
  trust: "pinned" | "first_use";
  /** `ED25519 SHA256:…` of each key a fetch accepts. */
  fingerprints: string[];
  /** Who published the keys (pinned only). */
  published_by?: string;
  source?: string;
}

/** The trust of the keys a fetch from `host` accepts: published ones, or those first seen. */
export function hostKeyTrust(
  host: string,
  firstSeen: readonly HostKey[] | undefined,
): HostKeyTrust | undefined {
  const published = publishedHostKeys(host);
  if (published) {
    return {
      trust: "pinned",
      fingerprints: published.keys.map(hostKeyFingerprint),
      published_by: published.provider,
      source: published.source,
    };
  }
  if (!firstSeen || firstSeen.length === 0) return undefined;
  return { trust: "first_use", fingerprints: firstSeen.map(hostKeyFingerprint) };
}
