import { spawn, type ChildProcess } from "node:child_process";
import { open } from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import { killProcessGroup } from "../../../lib/process.ts";
import { SandboxUnavailableError } from "./errors.ts";
import type { AllowedAddresses } from "./allow-hosts.ts";
import { installFirewall } from "./firewall.ts";
import { readRefusals, type Refusal } from "./refusals.ts";
import type { NetworkTools } from "./tools.ts";

/**
 * A build with network never shares the host's network namespace: bwrap gives it one of its own
 * and holds the command (--block-fd) until that namespace has its firewall and slirp4netns has
 * connected it to the outside (NAT). slirp4netns ends with the build, and with the platform.
 */

export interface BuildNetwork {
  /** Kills slirp4netns, waits until it is gone, and says what the firewall refused. */
  stop(): Promise<Refusal[]>;
}

const NETWORK_SETUP_MS = 15_000;

/**
 * Reads the sandbox's pid from bwrap's --info-fd, installs the firewall in its network namespace
 * (before any link to the outside exists), then starts slirp4netns on it and waits for its ready
 * byte. slirp4netns runs as the platform's user (it must open /dev/net/tun) in a mount namespace
 * of its own, with its capabilities dropped and its own seccomp filter; `--disable-host-loopback`
 * keeps 127.0.0.1 of the host out of reach (10.0.2.2 leads nowhere). Its --exit-fd is a pipe from
 * this process: if the platform dies, it exits.
 */
export async function startNetwork(
  tools: NetworkTools,
  info: Readable,
  onStarted: (network: BuildNetwork) => void,
  allowed?: AllowedAddresses,
): Promise<void> {
  const sandboxPid = await readSandboxPid(info);
  // Held until the build's end: its firewall's record of refusals is read through it then.
  const netns = await open(`/proc/${sandboxPid}/ns/net`, "r");
  let closed = false;
  const closeNetns = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await netns.close().catch(() => undefined);
  };
  try {
    await installFirewall(tools, netns.fd, NETWORK_SETUP_MS, allowed);
  } catch (error) {
    await closeNetns();
    throw error;
  }
  const slirp = spawn(
    tools.slirp4netns,
    [
      "--configure",
      "--mtu=65520",
      "--disable-host-loopback",
      "--enable-sandbox",
      "--enable-seccomp",
      "--ready-fd=3",
      "--exit-fd=4",
      // By path: given a pid, slirp4netns also joins the sandbox's (nested) user namespace,
      // from which it may not enter the network namespace bwrap's outer one owns.
      "--netns-type=path",
      "--",
      `/proc/${sandboxPid}/ns/net`,
      "tap0",
    ],
    { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], env: {}, detached: true },
  );
  const exited = new Promise<void>((r) => {
    if (slirp.exitCode !== null || slirp.signalCode !== null) r();
    else slirp.once("exit", () => r());
  });
  slirp.on("error", () => {
    /* reported through the ready wait below */
  });
  (slirp.stdio[4] as Writable).on("error", () => undefined);
  onStarted({
    stop: async () => {
      if (slirp.pid !== undefined) killProcessGroup(slirp.pid, "SIGKILL");
      await exited;
      if (closed) return [];
      try {
        return await readRefusals(tools, netns.fd);
      } finally {
        await closeNetns();
      }
    },
  });
  await waitReady(slirp, exited);
}

/**
 * The sandbox's pid from bwrap's --info-fd JSON. The pipe is read to its end (bwrap closes it
 * after the JSON): closing it early would let bwrap's next write die of SIGPIPE.
 */
function readSandboxPid(info: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = "";
    let settled = false;
    const done = (result: number | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (typeof result === "number") resolve(result);
      else reject(result);
    };
    const timer = setTimeout(
      () => done(new Error("bwrap did not report its sandbox")),
      NETWORK_SETUP_MS,
    );
    info.on("data", (chunk: Buffer) => {
      if (settled) return;
      text += chunk.toString("utf8");
      const pid = /"child-pid"\s*:\s*(\d+)\s*[,}]/.exec(text)?.[1];
      if (pid !== undefined) done(Number(pid));
    });
    info.on("error", () => undefined);
    // bwrap failed before creating the sandbox: its own message is in the build's output.
    info.once("close", () => done(new Error("the sandbox ended before its network was set up")));
  });
}

function waitReady(slirp: ChildProcess, exited: Promise<void>): Promise<void> {
  let stderr = "";
  slirp.stderr!.on("data", (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString("utf8");
  });
  const ready = new Promise<boolean>((resolve) => {
    (slirp.stdio[3] as Readable).on("data", () => resolve(true));
    (slirp.stdio[3] as Readable).on("error", () => undefined);
    void exited.then(() => resolve(false));
    setTimeout(() => resolve(false), NETWORK_SETUP_MS).unref();
  });
  return ready.then((ok) => {
    if (ok) return;
    throw new SandboxUnavailableError(
      `could not set up the build's network with slirp4netns: ${stderr.trim() || "no answer"}`,
    );
  });
}
