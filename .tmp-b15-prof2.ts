import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSandboxed } from "./src/platform/builds/sandbox/run.ts";
const root = await mkdtemp(join(tmpdir(), "b15-prof-"));
await chmod(root, 0o711);
for (const network of [false, true, true]) {
  const workDir = join(root, `w${Math.random()}`);
  await mkdir(workDir);
  const t0 = performance.now();
  await runSandboxed({ command: "echo hi", workDir, timeoutMs: 20000, network, allowHosts: [{ kind: "host", name: "registry.npmjs.org" }],
    onLine: (l) => console.log("PROF line", l.line, Math.round(performance.now() - t0)) });
  console.log("total", network, Math.round(performance.now() - t0));
}
await rm(root, { recursive: true, force: true });
