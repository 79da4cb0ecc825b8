import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Cleanup } from "./cleanup.ts";
import {
  Daemon,
  exec,
  execChecked,
  findExecutable,
  freePort,
  waitForPort,
  waitUntil,
} from "./proc.ts";

/** A baseline that cannot run here (missing package, not root): reported, not fatal. */
export class SkipError extends Error {
  override name = "SkipError";
}

export interface Pinning {
  /** Prefix for server commands, e.g. ["taskset", "-c", "1"], or [] without pinning. */
  server: readonly string[];
  client: readonly string[];
}

/**
 * Servers on CPU 1 and the load generator or git client on CPU 0 (`taskset`), as in
 * perf-anchors; unpinned, with the reason, when that is off or impossible.
 */
export function choosePinning(options: {
  disabled?: boolean;
  client: string;
}): Pinning & { note: string } {
  if (options.disabled === true) return { server: [], client: [], note: "not pinned (--no-pin)" };
  if (!findExecutable("taskset")) {
    return {
      server: [],
      client: [],
      note: "not pinned: taskset not found (apt-get install util-linux)",
    };
  }
  if (availableParallelism() < 2) {
    return { server: [], client: [], note: "not pinned: fewer than 2 CPUs available" };
  }
  return {
    server: ["taskset", "-c", "1"],
    client: ["taskset", "-c", "0"],
    note: `servers on CPU 1, ${options.client} on CPU 0 (taskset)`,
  };
}

export function pinned(prefix: readonly string[], command: string, args: readonly string[]) {
  const [head, ...rest] = [...prefix, command, ...args];
  return { command: head ?? command, args: rest };
}

function requireExecutable(name: string, aptPackage: string, what: string): string {
  const path = findExecutable(name);
  if (!path) {
    throw new SkipError(`${what} skipped: ${name} not found (apt-get install ${aptPackage})`);
  }
  return path;
}

/** The dedicated system user OpenSSH serves the repository to, with git-shell as its shell. */
export const SSH_USER = "slipway-bench";
const USER_COMMENT = "Slipway bench (temporary)";

async function ensureGitShellUser(home: string, cleanup: Cleanup): Promise<void> {
  const gitShell = requireExecutable("git-shell", "git", "OpenSSH baseline");
  const existing = await exec("getent", ["passwd", SSH_USER]);
  if (existing.code === 0) {
    const fields = existing.stdout.trim().split(":");
    if (fields[6] !== gitShell) {
      throw new SkipError(
        `OpenSSH baseline skipped: user ${SSH_USER} exists with shell ${fields[6]}, not ${gitShell}`,
      );
    }
    // Left over from an interrupted run of this benchmark: adopt it, and remove it at the end.
    if (fields[4] === USER_COMMENT) {
      await execChecked("usermod", ["-d", home, SSH_USER]);
      cleanup.defer(`userdel ${SSH_USER}`, () => removeUser());
    }
    return;
  }
  const useradd = requireExecutable("useradd", "passwd", "OpenSSH baseline");
  await execChecked(useradd, [
    "-r",
    "-M",
    "-d",
    home,
    "-s",
    gitShell,
    "-c",
    USER_COMMENT,
    SSH_USER,
  ]);
  cleanup.defer(`userdel ${SSH_USER}`, () => removeUser());
  // A locked account ("!") is refused by sshd without PAM; "*" allows public-key login only.
  await execChecked("usermod", ["-p", "*", SSH_USER]);
}

async function removeUser(): Promise<void> {
  await execChecked("userdel", [SSH_USER]);
}

export interface OpenSshBaseline {
  port: number;
  url: string;
  daemon: Daemon;
}

/**
 * Plain OpenSSH: `sshd -D` on a free loopback port with its own host key and a config in
 * `dir`, public keys only, serving `repoPath` to SSH_USER (login shell git-shell).
 */
export async function startOpenSsh(options: {
  dir: string;
  repoPath: string;
  clientPublicKey: string;
  pin: Pinning;
  cleanup: Cleanup;
}): Promise<OpenSshBaseline> {
  const { dir, cleanup } = options;
  const sshd = requireExecutable("sshd", "openssh-server", "OpenSSH baseline");
  const sshKeygen = requireExecutable("ssh-keygen", "openssh-client", "OpenSSH baseline");
  if (process.getuid?.() !== 0) {
    throw new SkipError(
      "OpenSSH baseline skipped: needs root (to run sshd and add a git-shell user)",
    );
  }
  mkdirSync(dir, { recursive: true });
  const home = join(dir, "home");
  mkdirSync(home, { recursive: true, mode: 0o755 });
  await ensureGitShellUser(home, cleanup);

  const hostKey = join(dir, "host_ed25519");
  await execChecked(sshKeygen, [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    "bench-host",
    "-f",
    hostKey,
  ]);
  const authorizedKeys = join(dir, "authorized_keys");
  writeFileSync(authorizedKeys, options.clientPublicKey.trim() + "\n", { mode: 0o644 });
  // The repository belongs to root; the git-shell user must be allowed to read it.
  const userGitConfig = join(dir, "user.gitconfig");
  writeFileSync(userGitConfig, "[safe]\n\tdirectory = *\n", { mode: 0o644 });
  writeFileSync(join(home, ".gitconfig"), "[safe]\n\tdirectory = *\n", { mode: 0o644 });
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

  const port = await freePort();
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin no",
      `AllowUsers ${SSH_USER}`,
      "UsePAM no",
      "StrictModes no",
      "AcceptEnv GIT_PROTOCOL",
      `SetEnv GIT_CONFIG_GLOBAL=${userGitConfig}`,
      "UseDNS no",
      "PrintMotd no",
      "X11Forwarding no",
      "AllowTcpForwarding no",
      "AllowAgentForwarding no",
      "",
    ].join("\n"),
  );
  const check = await exec(sshd, ["-t", "-f", config]);
  if (check.code !== 0) throw new Error(`sshd -t rejected the config: ${check.stderr.trim()}`);

  const { command, args } = pinned(options.pin.server, sshd, ["-D", "-e", "-f", config]);
  const daemon = Daemon.start("sshd", join(dir, "sshd.log"), command, args);
  cleanup.defer("stop sshd", () => daemon.stop());
  await waitForPort(port, { timeoutMs: 10_000, daemon, what: "sshd to listen" });
  return { port, url: `ssh://${SSH_USER}@127.0.0.1:${port}${options.repoPath}`, daemon };
}

export interface HttpBackendBaseline {
  port: number;
  url: string;
  /** nginx's and fcgiwrap's process ids (the roots of the server's process trees). */
  pids: number[];
}

/**
 * `git http-backend` behind nginx (one worker) and fcgiwrap, as in the anchors: the repository
 * `<projectRoot>/<name>` is served at `http://127.0.0.1:<port>/<name>`.
 */
export async function startHttpBackend(options: {
  dir: string;
  projectRoot: string;
  repoName: string;
  pin: Pinning;
  cleanup: Cleanup;
}): Promise<HttpBackendBaseline> {
  const { dir, cleanup } = options;
  const what = "http-backend baseline";
  const nginx = requireExecutable("nginx", "nginx-light", what);
  const fcgiwrap = requireExecutable("fcgiwrap", "fcgiwrap", what);
  const execPath = (await execChecked("git", ["--exec-path"])).stdout.trim();
  const backend = join(execPath, "git-http-backend");
  if (!existsSync(backend))
    throw new SkipError(`${what} skipped: ${backend} not found (apt-get install git)`);

  mkdirSync(join(dir, "logs"), { recursive: true });
  mkdirSync(join(dir, "temp"), { recursive: true });
  const socket = join(dir, "fcgiwrap.sock");
  const fcgi = pinned(options.pin.server, fcgiwrap, ["-c", "4", "-s", `unix:${socket}`]);
  const fcgiDaemon = Daemon.start("fcgiwrap", join(dir, "fcgiwrap.log"), fcgi.command, fcgi.args);
  cleanup.defer("stop fcgiwrap", () => fcgiDaemon.stop());
  await waitUntil("fcgiwrap's socket", async () => existsSync(socket), {
    timeoutMs: 10_000,
    daemon: fcgiDaemon,
  });
  // fcgiwrap running as root creates its socket 0755; nginx's unprivileged worker needs write.
  chmodSync(socket, 0o666);

  const port = await freePort();
  const config = join(dir, "nginx.conf");
  const param = (name: string, value: string): string =>
    `            fastcgi_param ${name} ${value};`;
  writeFileSync(
    config,
    [
      "daemon off;",
      "master_process on;",
      "worker_processes 1;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "logs", "error.log")} warn;`,
      "events { worker_connections 768; }",
      "http {",
      "    sendfile on; tcp_nopush on;",
      "    access_log off; log_not_found off; gzip off;",
      `    client_body_temp_path ${join(dir, "temp", "body")};`,
      `    proxy_temp_path ${join(dir, "temp", "proxy")};`,
      `    fastcgi_temp_path ${join(dir, "temp", "fastcgi")};`,
      `    uwsgi_temp_path ${join(dir, "temp", "uwsgi")};`,
      `    scgi_temp_path ${join(dir, "temp", "scgi")};`,
      "    server {",
      `        listen 127.0.0.1:${port};`,
      "        client_max_body_size 0;",
      "        location ~ ^(/.*)$ {",
      param("QUERY_STRING", "$query_string"),
      param("REQUEST_METHOD", "$request_method"),
      param("CONTENT_TYPE", "$content_type"),
      param("CONTENT_LENGTH", "$content_length"),
      param("REQUEST_URI", "$request_uri"),
      param("SERVER_PROTOCOL", "$server_protocol"),
      param("GATEWAY_INTERFACE", "CGI/1.1"),
      param("REMOTE_ADDR", "$remote_addr"),
      param("SERVER_ADDR", "$server_addr"),
      param("SERVER_PORT", "$server_port"),
      param("SERVER_NAME", "$server_name"),
      param("SCRIPT_FILENAME", backend),
      param("GIT_PROJECT_ROOT", options.projectRoot),
      param("GIT_HTTP_EXPORT_ALL", '""'),
      param("PATH_INFO", "$1"),
      param("GIT_PROTOCOL", "$http_git_protocol"),
      param("REMOTE_USER", '""'),
      `            fastcgi_pass unix:${socket};`,
      "            fastcgi_buffering off;",
      "        }",
      "    }",
      "}",
      "",
    ].join("\n"),
  );
  const errorLog = join(dir, "logs", "startup.log");
  const check = await exec(nginx, ["-t", "-q", "-p", dir, "-e", errorLog, "-c", config]);
  if (check.code !== 0) {
    const log = existsSync(errorLog) ? readFileSync(errorLog, "utf8") : "";
    throw new Error(`nginx -t rejected the config: ${check.stderr.trim()} ${log.trim()}`);
  }
  const ng = pinned(options.pin.server, nginx, ["-p", dir, "-e", errorLog, "-c", config]);
  const nginxDaemon = Daemon.start("nginx", join(dir, "nginx.out"), ng.command, ng.args);
  cleanup.defer("stop nginx", () => nginxDaemon.stop());
  await waitForPort(port, { timeoutMs: 10_000, daemon: nginxDaemon, what: "nginx to listen" });
  return {
    port,
    url: `http://127.0.0.1:${port}/${options.repoName}`,
    pids: [nginxDaemon.pid, fcgiDaemon.pid].filter((pid) => pid !== undefined),
  };
}
