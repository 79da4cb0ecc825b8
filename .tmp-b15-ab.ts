import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSandboxed as oldRun } from "/tmp/b15/orig/src/platform/builds/sandbox/run.ts";
import { runSandboxed as newRun } from "/work/main/src/platform/builds/sandbox/run.ts";
const root = await mkdtemp(join(tmpdir(), "b15-ab-"));
await chmod(root, 0o711);
const rounds = Number(process.argv[2] ?? 10);
const res: Record<string, number[]> = { old: [], new: [], oldEnd: [], newEnd: [] };
for (let i = 0; i < rounds; i++) {
  for (const [name, run] of [["old", oldRun], ["new", newRun]] as const) {
    const workDir = join(root, `${name}-${i}`);
    await mkdir(workDir);
    const t0 = performance.now();
    let last = 0;
    const r = await run({ command: "echo hi", workDir, timeoutMs: 20000, network: true, allowHosts: [{ kind: "host", name: "registry.npmjs.org" }], onLine: () => { last = performance.now(); } });
    const t1 = performance.now();
    if (r.exitCode !== 0) console.log(name, r);
    res[name]!.push(Math.round(t1 - t0));
    res[name + "End"]!.push(Math.round(t1 - last));
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const [k, v] of Object.entries(res)) console.log(k, "median", med(v), v.join(" "));
await rm(root, { recursive: true, force: true });
