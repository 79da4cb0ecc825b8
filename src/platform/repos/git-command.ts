import { run } from "../../lib/run.ts";
import { shellQuote } from "../../lib/shell.ts";
import { hostKeyFingerprint } from "./host-keys.ts";

/**
 * How git and ssh are invoked for a site's repository: the hardening settings and environment of
 * every git command (nothing from the machine, the user or the platform's own environment), the
 * locked-down GIT_SSH_COMMAND, and the deploy key's fingerprint for the build log.
 */

/**
 * git's settings for every command: nothing from the machine's or a user's config, only ssh and
 * https, no credential helpers or prompts, no redirects (a validated URL must not lead elsewhere),
 * no submodules, no hooks.
 */
export const HARDENING_CONFIG: readonly string[] = [
  "-c", "protocol.allow=never",
  "-c", "protocol.ssh.allow=always",
  "-c", "protocol.https.allow=always",
  "-c", "http.followRedirects=false",
  "-c", "credential.helper=",
  "-c", "core.askPass=",
  "-c", "core.hooksPath=/dev/null",
  "-c", "core.fsmonitor=false",
  "-c", "submodule.recurse=false",
  "-c", "fetch.recurseSubmodules=false",
  "-c", "core.autocrlf=false",
  "-c", "gc.auto=0",
  "-c", "maintenance.auto=false",
]; // prettier-ignore

/** The environment of every git command: nothing inherited from the platform. */
export function gitEnvironment(home: string): NodeJS.ProcessEnv {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    LC_ALL: "C",
    LANG: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ALLOW_PROTOCOL: "ssh:https",
    GIT_PROTOCOL_FROM_USER: "0",
    GIT_LFS_SKIP_SMUDGE: "1",
  };
}

interface SshCommandParts {
  keyPath: string;
  knownHostsPath: string;
  alias: string;
  address: string;
  connectTimeout: number;
}

/**
 * GIT_SSH_COMMAND (git runs it through `sh -c`): every value is ours — temp paths, a validated
 * host, an IP address — and each is single-quoted anyway.
 */
export function sshCommand(parts: SshCommandParts): string {
  const words = [
    "ssh",
    "-F", "/dev/null",
    "-i", parts.keyPath,
    "-o", "IdentitiesOnly=yes",
    "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${parts.knownHostsPath}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", `HostKeyAlias=${parts.alias}`,
    "-o", `HostName=${parts.address}`,
    "-o", "CheckHostIP=no",
    "-o", "UpdateHostKeys=no",
    "-o", "PasswordAuthentication=no",
    "-o", "KbdInteractiveAuthentication=no",
    "-o", "PreferredAuthentications=publickey",
    "-o", "ForwardAgent=no",
    "-o", "ForwardX11=no",
    "-o", "ClearAllForwardings=yes",
    "-o", "PermitLocalCommand=no",
    "-o", "ControlMaster=no",
    "-o", "ControlPath=none",
    "-o", `ConnectTimeout=${parts.connectTimeout}`,
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=4",
  ]; // prettier-ignore
  // Words the shell reads literally (options, paths, ports) stay bare; the rest are quoted.
  return words
    .map((word) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : shellQuote(word)))
    .join(" ");
}

/** `ED25519 SHA256:…` of the deploy key, from its public half (no passphrase support needed). */
export async function deployKeyFingerprint(
  privateKey: string,
  keyPath?: string,
): Promise<string | undefined> {
  const publicBlob = openSshPublicBlob(privateKey);
  if (publicBlob) {
    const typeLength = publicBlob.readUInt32BE(0);
    const type = publicBlob.subarray(4, 4 + typeLength).toString("latin1");
    return hostKeyFingerprint(`${type} ${publicBlob.toString("base64")}`);
  }
  if (keyPath === undefined) return undefined;
  // Other formats (PEM RSA/ECDSA): ask ssh-keygen for the public key.
  const result = await run("ssh-keygen", ["-y", "-f", keyPath], {
    env: { PATH: "/usr/bin:/bin", LC_ALL: "C" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return result.code === 0 ? hostKeyFingerprint(result.stdout.trim()) : undefined;
}

function openSshPublicBlob(privateKey: string): Buffer | undefined {
  const match =
    /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]+?)-----END OPENSSH PRIVATE KEY-----/.exec(
      privateKey,
    );
  if (!match) return undefined;
  const data = Buffer.from(match[1]!.replace(/\s+/g, ""), "base64");
  const magic = "openssh-key-v1\0";
  if (data.subarray(0, magic.length).toString("latin1") !== magic) return undefined;
  let offset = magic.length;
  const readString = (): Buffer | undefined => {
    if (offset + 4 > data.length) return undefined;
    const length = data.readUInt32BE(offset);
    offset += 4;
    if (offset + length > data.length) return undefined;
    const value = data.subarray(offset, offset + length);
    offset += length;
    return value;
  };
  readString(); // cipher
  readString(); // kdf
  readString(); // kdf options
  if (offset + 4 > data.length || data.readUInt32BE(offset) < 1) return undefined;
  offset += 4;
  const blob = readString();
  return blob && blob.length >= 4 ? blob : undefined;
}
