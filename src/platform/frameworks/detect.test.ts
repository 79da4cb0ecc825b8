import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { detectFramework, MAX_DETECTION_READS, type ReadRepoFile } from "./detect.ts";

/** A repository of `files`, recording every path read. */
function repo(files: Record<string, string>): ReadRepoFile & { reads: string[] } {
  const reads: string[] = [];
  const read = async (path: string) => {
    reads.push(path);
    return Object.hasOwn(files, path) ? files[path]! : null;
  };
  return Object.assign(read, { reads });
}

const pkg = (value: object): string => JSON.stringify(value);

describe("framework detection", () => {
  it("Vite by its dependency: the package.json script that runs it, with npm by its lockfile", async () => {
    const files = repo({
      "package.json": pkg({
        scripts: { dev: "vite", build: "tsc && vite build" },
        devDependencies: { vite: "^5" },
      }),
      "package-lock.json": "{}",
    });
    assert.deepEqual(await detectFramework(files, null), {
      framework: { id: "vite", name: "Vite" },
      cmd: "npm run build",
      dir: "dist",
      packageManager: "npm",
    });
    assert.ok(!files.reads.includes("vite.config.js"), "a dependency makes config files moot");
  });

  it("the package manager from packageManager, else the lockfile: pnpm run, yarn run", async () => {
    const scripts = { build: "astro build" };
    const astro = { scripts, dependencies: { astro: "4" } };
    const byField = await detectFramework(
      repo({ "package.json": pkg({ ...astro, packageManager: "pnpm@9.1.0" }), "yarn.lock": "" }),
      null,
    );
    assert.equal(byField?.cmd, "pnpm run build");
    const byLock = await detectFramework(
      repo({ "package.json": pkg(astro), "yarn.lock": "" }),
      null,
    );
    assert.deepEqual([byLock?.cmd, byLock?.packageManager], ["yarn run build", "yarn"]);
    const none = await detectFramework(repo({ "package.json": pkg(astro) }), null);
    assert.deepEqual([none?.cmd, none?.packageManager], ["npm run build", null]);
  });

  it("a static site generator wins over the build tool beside it; an excluded dependency rules Vite out", async () => {
    const astro = await detectFramework(
      repo({ "package.json": pkg({ dependencies: { astro: "4", vite: "5" } }) }),
      null,
    );
    assert.equal(astro?.framework.id, "astro");
    assert.equal(astro?.cmd, "astro build", "no script runs it: the framework's own command");
    const kit = await detectFramework(
      repo({
        "package.json": pkg({
          scripts: { build: "vite build" },
          devDependencies: { vite: "5", "@sveltejs/kit": "2" },
        }),
      }),
      null,
    );
    assert.deepEqual(
      [kit?.framework.name, kit?.cmd, kit?.dir],
      ["SvelteKit", "npm run build", "build"],
    );
  });

  it("no script runs the framework's command: the first build script (Netlify's order)", async () => {
    const found = await detectFramework(
      repo({
        "package.json": pkg({
          scripts: { start: "eleventy --serve", build: "node build.js", "docs:build": "x" },
          dependencies: { "@11ty/eleventy": "3" },
        }),
      }),
      null,
    );
    assert.deepEqual(
      [found?.framework.id, found?.cmd, found?.dir],
      ["eleventy", "npm run build", "_site"],
    );
  });

  it("a script name a shell would not read as one word is never run", async () => {
    const found = await detectFramework(
      repo({
        "package.json": pkg({
          scripts: { "x;touch /tmp/p:build": "vite build" },
          devDependencies: { vite: "5" },
        }),
      }),
      null,
    );
    assert.equal(found?.cmd, "vite build");
  });

  it("by config file: Hugo, Jekyll, MkDocs; a dependency outranks them", async () => {
    const hugo = await detectFramework(repo({ "hugo.toml": "title = 'x'" }), null);
    assert.deepEqual(hugo, {
      framework: { id: "hugo", name: "Hugo" },
      cmd: "hugo",
      dir: "public",
      packageManager: null,
    });
    const jekyll = await detectFramework(repo({ "_config.yml": "title: x" }), null);
    assert.deepEqual(
      [jekyll?.framework.id, jekyll?.cmd, jekyll?.dir],
      ["jekyll", "bundle exec jekyll build", "_site"],
    );
    const mkdocs = await detectFramework(repo({ "mkdocs.yml": "site_name: x" }), null);
    assert.deepEqual([mkdocs?.framework.id, mkdocs?.dir], ["mkdocs", "site"]);
    const hexo = await detectFramework(
      repo({ "_config.yml": "title: x", "package.json": pkg({ dependencies: { hexo: "7" } }) }),
      null,
    );
    assert.equal(hexo?.framework.id, "hexo");
  });

  it("nothing recognisable: null, within the read budget", async () => {
    const files = repo({ "index.html": "<h1>hi</h1>", "package.json": "not json" });
    assert.equal(await detectFramework(files, null), null);
    assert.ok(files.reads.length <= MAX_DETECTION_READS, `${files.reads.length} reads`);
    assert.equal(new Set(files.reads).size, files.reads.length, "each path read once");
  });

  it("in a base directory, with the workspace's lockfile found at the root", async () => {
    const found = await detectFramework(
      repo({
        "site/package.json": pkg({
          scripts: { build: "vite build" },
          devDependencies: { vite: "5" },
        }),
        "pnpm-lock.yaml": "lockfileVersion: '9.0'",
      }),
      "site",
    );
    assert.deepEqual(
      [found?.framework.id, found?.cmd, found?.dir],
      ["vite", "pnpm run build", "dist"],
    );
  });
});
