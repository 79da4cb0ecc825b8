import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, it } from "node:test";

/**
 * The layout rules of docs/ARCHITECTURE.md, checked: folders of each server depend on each other
 * without a cycle, and a source file over 600 lines is one the architecture map names.
 */

const ROOT = resolve(import.meta.dirname, "..");
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*"(\.{1,2}\/[^"]+)"|import\("(\.{1,2}\/[^"]+)"\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts"))
    .map((e) => join(e.parentPath, e.name));
}

/** `sites`, `api`, or `(root)/context` for a file directly in the server's folder. */
function folderOf(serverDir: string, file: string): string {
  const parts = relative(serverDir, file).split(sep);
  return parts.length === 1 ? `(root)/${parts[0]!.replace(/\.ts$/, "")}` : parts[0]!;
}

/** Folder → folders it imports, with one import line per edge to show in a failure. */
function folderGraph(serverDir: string): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(serverDir)) {
    const from = folderOf(serverDir, file);
    for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const target = resolve(dirname(file), (match[1] ?? match[2])!);
      if (!target.startsWith(serverDir + sep)) continue;
      const to = folderOf(serverDir, target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, `${relative(ROOT, file)} imports ${match[1] ?? match[2]}`);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** A cycle as the import lines that make it, or undefined. */
function findCycle(graph: Map<string, Map<string, string>>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, "open");
    path.push(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (state.get(next) === "open") {
        const loop = [...path.slice(path.indexOf(next)), next];
        return loop.slice(1).map((to, i) => graph.get(loop[i]!)!.get(to)!);
      }
      if (state.get(next) === undefined) {
        const found = visit(next);
        if (found) return found;
      }
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    if (state.get(node) === undefined) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return undefined;
}

describe("architecture", () => {
  for (const server of ["platform", "forge"]) {
    it(`the folders of src/${server} depend on each other without a cycle`, () => {
      const graph = folderGraph(join(ROOT, "src", server));
      assert.ok(graph.size > 5, "the graph was read");
      const cycle = findCycle(graph);
      assert.equal(cycle, undefined, `a cycle between folders:\n  ${cycle?.join("\n  ")}`);
    });
  }

  it("finds a cycle when there is one", () => {
    const graph = new Map([
      ["a", new Map([["b", "a imports b"]])],
      ["b", new Map([["c", "b imports c"]])],
      ["c", new Map([["a", "c imports a"]])],
    ]);
    assert.deepEqual(findCycle(graph), ["a imports b", "b imports c", "c imports a"]);
    graph.get("c")!.delete("a");
    assert.equal(findCycle(graph), undefined);
  });

  it("a source file over 600 lines is one the architecture map names and explains", () => {
    const map = readFileSync(join(ROOT, "docs", "ARCHITECTURE.md"), "utf8");
    const long = sourceFiles(join(ROOT, "src"))
      .map((file) => ({
        file: relative(ROOT, file),
        lines: readFileSync(file, "utf8").split("\n").length,
      }))
      .filter(({ lines }) => lines > 600)
      .filter(({ file }) => !map.includes(`\`${file}\``));
    assert.deepEqual(long, [], "name each in docs/ARCHITECTURE.md, saying why it is one idea");
  });
});

/**
 * Libraries the platform needs only when an operator configures them (S3, Postgres, SMTP) or
 * at a rare moment (a deploy key's generation): the embedded default's start does without them,
 * in ~15% less time and ~28 MB less memory (measured when they were made lazy, session 10).
 */
const OPTIONAL_LIBRARIES = ["@aws-sdk/client-s3", "graphile-worker", "nodemailer", "pg", "ssh2"];

describe("what the platform process loads", () => {
  it("starts without the libraries of the services an operator may configure", () => {
    const script = `
      import { register } from "tsx/esm/api";
      import { createRequire } from "node:module";
      const urls = new Set();
      register({ onImport: (url) => urls.add(url) });
      await import(${JSON.stringify(join(ROOT, "src", "platform", "server.ts"))});
      const all = [...urls, ...Object.keys(createRequire(import.meta.url).cache)];
      const names = new Set(all.map((u) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(u)?.[1]));
      console.log(JSON.stringify([...names].filter(Boolean).sort()));
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: ROOT,
      encoding: "utf8",
    });
    const loaded = JSON.parse(out.trim().split("\n").at(-1)!) as string[];
    // What a start does load (the check sees the module graph at all).
    assert.ok(loaded.includes("fastify") && loaded.includes("better-sqlite3"), out);
    assert.deepEqual(
      OPTIONAL_LIBRARIES.filter((name) => loaded.includes(name)),
      [],
      "load these where the service is configured (a dynamic import)",
    );
  });
});
