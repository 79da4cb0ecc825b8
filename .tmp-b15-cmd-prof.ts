import { execFileSync } from "node:child_process";
import { chmod, cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSandboxed } from "./src/platform/builds/sandbox/run.ts";
const root = await mkdtemp(join(tmpdir(), "b15-cmd-"));
await chmod(root, 0o711);
const rounds = Number(process.argv[2] ?? 3);
const res: Record<string, number[]> = {};
const add = (k: string, v: number) => (res[k] ??= []).push(Math.round(v));
for (let i = 0; i < rounds; i++) {
  for (const mode of ["hand", "nonet", "net"]) {
    const dir = join(root, `${mode}-${i}`);
    execFileSync("cp", ["-a", "/tmp/b15/vr", dir]);
    await rm(join(dir, "dist"), { recursive: true, force: true });
    const t0 = performance.now();
    if (mode === "hand") {
      execFileSync("npm", ["run", "build"], { cwd: dir, stdio: "ignore" });
      add(mode, performance.now() - t0);
    } else {
      let first = 0;
      const r = await runSandboxed({ command: "npm run build", workDir: dir, timeoutMs: 60000, network: mode === "net",
        env: { npm_config_cache: "/build/.slipway-cache/npm" },
        onLine: (l) => { first ||= performance.now() - t0; if (l.stream !== "stdout") console.log(l.line); } });
      add(mode, performance.now() - t0);
      add(mode + "-firstline", first);
      if (r.exitCode !== 0) console.log(mode, r.lastLines);
    }
  }
}
console.log(res);
await rm(root, { recursive: true, force: true });
