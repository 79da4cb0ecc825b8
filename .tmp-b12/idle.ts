import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cleanup } from "../bench/lib/cleanup.ts";
import { startSlipwayChild } from "../bench/lib/slipway.ts";

const cpuMs = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
const cleanup = new Cleanup();
try {
  const dir = await mkdtemp(join(tmpdir(), "b12-idle-"));
  const s = await startSlipwayChild({ command: "platform", dir, pin: [], cleanup, logLevel: "warn", env: { SLIPWAY_HTTPS_PORT: "off", SLIPWAY_ACME_DIRECTORY_URL: "off" }, nodeArgs: process.env.PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROF}`] : [] });
  await new Promise((r) => setTimeout(r, 5000));
  const pid = s.daemon.pid!;
  const a = cpuMs(pid);
  await new Promise((r) => setTimeout(r, 20000));
  const b = cpuMs(pid);
  console.log(`idle platform: ${((b - a) / 20).toFixed(1)} ms CPU per second`);
} finally {
  await cleanup.run();
}
