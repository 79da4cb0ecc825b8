import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSandboxed } from "./src/platform/builds/sandbox/run.ts";
const root = await mkdtemp(join(tmpdir(), "b15-prof-"));
await chmod(root, 0o711);
const rounds = Number(process.argv[2] ?? 5);
async function once(label: string, opts: object) {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const workDir = join(root, `${label}-${i}`);
    await mkdir(workDir);
    const t0 = performance.now();
    let first = 0;
    const r = await runSandboxed({ command: "echo hi", workDir, timeoutMs: 20000, onLine: () => { first ||= performance.now() - t0; }, ...opts });
    times.push(performance.now() - t0);
    if (r.exitCode !== 0) console.log(label, r);
    if (i === rounds - 1) console.log(label, "first line after", Math.round(first), "durationMs", r.durationMs);
  }
  times.sort((a, b) => a - b);
  console.log(label, times.map(Math.round).join(" "), "median", Math.round(times[times.length >> 1]!));
}
await once("nonet", { network: false });
await once("net", { network: true });
await once("net+allow", { network: true, allowHosts: [{ kind: "host", name: "registry.npmjs.org" }] });
await rm(root, { recursive: true, force: true });
