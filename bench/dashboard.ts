/**
 * The dashboard, measured in a real browser (Debian's Chromium through playwright-core) against
 * a real `slipway start` child (forge and platform), with baselines from the same run:
 *
 * 1. Initial JavaScript: what `index.html` loads before the first page can render (module
 *    script + modulepreloads), raw, gzip -9 and Brotli — against a bare React 19 "hello" app
 *    built by the same Vite in the same run (the cost of React itself). Target ≤ 250 KB gzip.
 * 2. Sites page time to interactive, with the Performance API: the `slipway:sites-rendered`
 *    mark (the list of 20 sites on screen) and the first idle callback after it, for a cold
 *    load (new browser profile: nothing cached) and a warm one (assets cached, immutable) —
 *    against a static HTML page listing the same sites served by `node:http`. Target < 1 s.
 * 3. Live log latency: a build prints `tick <n> <epoch ms>` every 50 ms; the deploy page
 *    records when each line arrived (the `slipway:log-lines` event). Print → page, split into
 *    print → stored (the line's own time) and stored → page. Target: median < 200 ms.
 * 4. Log throughput: a build prints 9,000 lines in a burst, twice, a second apart (≈ 10,000
 *    lines/s); does the page show every line, how far behind the end, and the longest task
 *    that blocked the page meanwhile.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { Cleanup } from "./lib/cleanup.ts";
import { PROJECT_ROOT } from "./lib/forge.ts";
import type { Benchmark, BenchOptions } from "./lib/options.ts";
import { execChecked } from "./lib/proc.ts";
import {
  linkForgeSite,
  platformApi,
  startSlipwayChild,
  waitForBuild,
  type BuildBody,
} from "./lib/slipway.ts";
import { formatRatio, formatSummary, renderTable, summarize } from "./lib/stats.ts";

const CHROMIUM = process.env.SLIPWAY_CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];
const SITES = 20;
const JS_TARGET_KB = 250;
const TTI_TARGET_MS = 1000;
const LATENCY_TARGET_MS = 200;

export const dashboardBench: Benchmark = {
  name: "dashboard",
  aliases: ["web"],
  description: "dashboard: initial JS size, sites page time to interactive, live log latency",
  flags: [
    {
      flag: "dashboard-rounds",
      value: "N",
      env: "BENCH_DASHBOARD_ROUNDS",
      help: "page loads per measure (default 7)",
    },
  ],
  run: runDashboard,
};

interface AssetSize {
  raw: number;
  gzip: number;
  br: number;
}

/** The JavaScript `index.html` makes the browser load before the app can render. */
function initialScripts(dist: string): { files: string[]; size: AssetSize } {
  const html = readFileSync(join(dist, "index.html"), "utf8");
  const files = [
    ...html.matchAll(/<script[^>]+type="module"[^>]+src="([^"]+)"/g),
    ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g),
  ].map((m) => m[1] ?? "");
  const size: AssetSize = { raw: 0, gzip: 0, br: 0 };
  for (const file of files) {
    const data = readFileSync(join(dist, file.replace(/^\//, "")));
    size.raw += data.length;
    size.gzip += gzipSync(data, { level: 9 }).length;
    size.br += brotliCompressSync(data, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11 },
    }).length;
  }
  return { files, size };
}

/** A bare React 19 app (createRoot + one element) built by the same Vite: React's own cost. */
async function buildReactBaseline(dir: string): Promise<string> {
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(
    join(dir, "index.html"),
    '<!doctype html><div id="root"></div><script type="module" src="/src/main.tsx"></script>\n',
  );
  writeFileSync(
    join(dir, "src", "main.tsx"),
    'import { createRoot } from "react-dom/client";\ncreateRoot(document.getElementById("root")!).render(<h1>hello</h1>);\n',
  );
  const { build } = await import("vite");
  const react = (await import("@vitejs/plugin-react")).default;
  await build({
    root: dir,
    configFile: false,
    logLevel: "silent",
    plugins: [react()],
    // Outside the project: React is taken from the project's node_modules.
    resolve: {
      alias: {
        react: join(PROJECT_ROOT, "node_modules", "react"),
        "react-dom": join(PROJECT_ROOT, "node_modules", "react-dom"),
      },
    },
    build: { outDir: join(dir, "dist"), emptyOutDir: true, target: "es2022" },
  });
  return join(dir, "dist");
}

async function ensureDashboardBuilt(): Promise<string> {
  const dist = join(PROJECT_ROOT, "dist", "web");
  if (!existsSync(join(dist, "index.html"))) {
    console.log("building the dashboard (npm run build had not)…");
    await execChecked(process.execPath, ["--import", "tsx", "scripts/build-web.ts"], {
      cwd: PROJECT_ROOT,
    });
  }
  return dist;
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

async function runDashboard(options: BenchOptions): Promise<void> {
  const rounds = options.int("dashboard-rounds", "BENCH_DASHBOARD_ROUNDS", 7);
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)`);
  }
  const cleanup = new Cleanup();
  const work = await mkdtemp(join(tmpdir(), "slipway-bench-dashboard-"));
  if (!options.has("keep", "BENCH_KEEP")) {
    cleanup.defer("remove the work directory", () => rm(work, { recursive: true, force: true }));
  }
  try {
    // 1. Initial JavaScript.
    const dist = await ensureDashboardBuilt();
    const app = initialScripts(dist);
    const baseline = initialScripts(await buildReactBaseline(join(work, "react-baseline")));
    console.log(`initial JavaScript (${app.files.join(", ")})`);
    console.log(
      renderTable(
        ["", "raw", "gzip -9", "brotli"],
        [
          ["dashboard", kb(app.size.raw), kb(app.size.gzip), kb(app.size.br)],
          ["bare React app", kb(baseline.size.raw), kb(baseline.size.gzip), kb(baseline.size.br)],
          [
            "ratio",
            `${(app.size.raw / baseline.size.raw).toFixed(2)}×`,
            `${(app.size.gzip / baseline.size.gzip).toFixed(2)}×`,
            `${(app.size.br / baseline.size.br).toFixed(2)}×`,
          ],
        ],
      ),
    );
    console.log(
      `target: ≤ ${JS_TARGET_KB} KB gzip → ${app.size.gzip / 1024 <= JS_TARGET_KB ? "met" : "NOT met"}\n`,
    );

    // A real Slipway with one linked site and 19 more, and a tenant signed in in the browser.
    const slipway = await startSlipwayChild({
      command: "start",
      dir: join(work, "slipway"),
      pin: [],
      cleanup,
      logLevel: "warn",
    });
    const forge = slipway.forge;
    if (!forge) throw new Error("slipway start has no forge");
    const linked = await linkForgeSite({
      platform: slipway,
      forge,
      dir: join(work, "repo"),
      siteName: "bench-live",
      files: new Map([
        ["index.html", "<h1>bench</h1>\n"],
        ["build.sh", "mkdir -p dist && cp index.html dist/\n"],
      ]),
      cmd: "sh build.sh",
      publishDir: "dist",
      webhook: false,
    });
    const token = linked.tenantToken;
    for (let i = 1; i < SITES; i++) {
      await platformApi(slipway, "POST", "/sites", token, { name: `bench-site-${i}` });
    }
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    cleanup.defer("close the browser", () => browser.close());
    const signedIn = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await signedIn.newPage();
    await page.goto(`${slipway.url}/sign-in`);
    await page.getByLabel("Access token").fill(token);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page
      .locator("li.site-row")
      .nth(SITES - 1)
      .waitFor({ timeout: 30_000 });
    const cookies = await signedIn.cookies();

    // 2. Sites page time to interactive.
    await measureSitesPage(browser, page, cookies, slipway.url, rounds);

    // 3. and 4. The live log.
    await measureLiveLog(page, slipway, linked, token);
  } finally {
    await cleanup.run();
  }
}

interface Load {
  rendered: number;
  idle: number;
  domContentLoaded: number;
}

/** Navigates and waits for the sites list and the first idle moment after it (ms from start). */
async function loadSites(page: Page, url: string, mark: string | null): Promise<Load> {
  await page.goto(url, { waitUntil: "commit" });
  return page.evaluate(
    `new Promise((resolve) => {
      const count = ${SITES};
      const done = () => {
        const rendered = ${mark === null ? "performance.now()" : `performance.getEntriesByName(${JSON.stringify(mark)})[0]?.startTime`};
        requestIdleCallback(() => {
          const nav = performance.getEntriesByType("navigation")[0];
          resolve({ rendered, idle: performance.now(), domContentLoaded: nav ? nav.domContentLoadedEventEnd : 0 });
        }, { timeout: 2000 });
      };
      const check = () => {
        const ready = document.querySelectorAll("li.site-row").length >= count &&
          (${mark === null ? "true" : `performance.getEntriesByName(${JSON.stringify(mark)}).length > 0`});
        if (ready) done(); else setTimeout(check, 2);
      };
      check();
    })`,
  );
}

async function measureSitesPage(
  browser: Browser,
  page: Page,
  cookies: Awaited<ReturnType<BrowserContext["cookies"]>>,
  base: string,
  rounds: number,
): Promise<void> {
  // The baseline: the same sites as a static HTML list from node:http (no script at all).
  const sites = await page.evaluate(
    `[...document.querySelectorAll("li.site-row")].map((li) => [li.querySelector(".site-name").textContent, li.querySelector(".site-url").href])`,
  );
  const html = `<!doctype html><meta charset="utf-8"><title>Sites</title><ul>${(
    sites as [string, string][]
  )
    .map(
      ([name, url]) =>
        `<li class="site-row"><a href="/sites/${name}">${name}</a> <a href="${url}">${url}</a></li>`,
    )
    .join("")}</ul>`;
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const staticUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  const samples = {
    cold: { rendered: [] as number[], idle: [] as number[] },
    warm: { rendered: [] as number[], idle: [] as number[] },
    static: { rendered: [] as number[], idle: [] as number[] },
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const fresh = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      await fresh.addCookies(cookies);
      const tab = await fresh.newPage();
      const cold = await loadSites(tab, `${base}/`, "slipway:sites-rendered");
      const warm = await loadSites(tab, `${base}/`, "slipway:sites-rendered");
      const plain = await loadSites(tab, staticUrl, null);
      await fresh.close();
      samples.cold.rendered.push(cold.rendered);
      samples.cold.idle.push(cold.idle);
      samples.warm.rendered.push(warm.rendered);
      samples.warm.idle.push(warm.idle);
      samples.static.rendered.push(plain.rendered);
      samples.static.idle.push(plain.idle);
      console.log(
        `  round ${round + 1}/${rounds}: cold ${cold.idle.toFixed(0)} ms, warm ${warm.idle.toFixed(0)} ms, static ${plain.idle.toFixed(0)} ms`,
      );
    }
  } finally {
    server.close();
  }
  const s = (xs: number[]) => summarize(xs);
  console.log(
    `\nsites page (${SITES} sites), ms from navigation start, median (min–max) of ${rounds}`,
  );
  console.log(
    renderTable(
      ["load", "list rendered", "interactive (idle after)"],
      [
        [
          "dashboard, cold cache",
          formatSummary(s(samples.cold.rendered)),
          formatSummary(s(samples.cold.idle)),
        ],
        [
          "dashboard, warm cache",
          formatSummary(s(samples.warm.rendered)),
          formatSummary(s(samples.warm.idle)),
        ],
        [
          "static HTML (baseline)",
          formatSummary(s(samples.static.rendered)),
          formatSummary(s(samples.static.idle)),
        ],
        [
          "ratio cold / static",
          formatRatio(s(samples.cold.rendered), s(samples.static.rendered)),
          formatRatio(s(samples.cold.idle), s(samples.static.idle)),
        ],
      ],
    ),
  );
  const worst = summarize(samples.cold.idle)?.median ?? Infinity;
  console.log(
    `target: interactive < ${TTI_TARGET_MS} ms (cold) → ${worst < TTI_TARGET_MS ? "met" : "NOT met"}\n`,
  );
}

interface Arrival {
  message: string;
  time: string;
  at: number;
}

async function measureLiveLog(
  page: Page,
  slipway: Awaited<ReturnType<typeof startSlipwayChild>>,
  linked: Awaited<ReturnType<typeof linkForgeSite>>,
  token: string,
): Promise<void> {
  const runBuild = async (
    script: string,
    message: string,
  ): Promise<{ build: BuildBody; arrivals: Arrival[]; longest: number }> => {
    await linked.repo.commit(new Map([["build.sh", script]]), message);
    await linked.repo.push();
    const build = await platformApi<BuildBody>(
      slipway,
      "POST",
      `/sites/${linked.siteId}/builds`,
      token,
    );
    await page.goto(`${slipway.url}/sites/${linked.siteName}/deploys/${build.deploy_id}`);
    await page.evaluate(`(() => {
      window.__arrivals = [];
      window.__longest = 0;
      window.addEventListener("slipway:log-lines", (event) => {
        const at = Date.now();
        for (const line of event.detail) window.__arrivals.push({ message: line.message, time: line.time, at });
      });
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.__longest = Math.max(window.__longest, entry.duration);
      }).observe({ type: "longtask", buffered: false });
    })()`);
    const done = await waitForBuild(slipway, token, build.id, 180_000);
    await page.locator('.log-status[data-status="ended"]').waitFor({ timeout: 60_000 });
    const arrivals = (await page.evaluate("window.__arrivals")) as Arrival[];
    const longest = (await page.evaluate("window.__longest")) as number;
    return { build: done, arrivals, longest };
  };

  // 3. Latency: 100 lines, one every 50 ms, after a pause that lets the page connect first.
  const ticking = [
    "sleep 2",
    "i=0",
    'while [ $i -lt 100 ]; do i=$((i+1)); echo "tick $i $(date +%s%3N)"; sleep 0.05; done',
    "mkdir -p dist && echo ok > dist/index.html",
    "",
  ].join("\n");
  const latency = await runBuild(ticking, "bench: ticking build");
  const printToPage: number[] = [];
  const printToStored: number[] = [];
  const storedToPage: number[] = [];
  for (const arrival of latency.arrivals) {
    const match = /^tick \d+ (\d{13})$/.exec(arrival.message);
    if (!match) continue;
    const printed = Number(match[1]);
    const stored = Date.parse(arrival.time);
    printToPage.push(arrival.at - printed);
    printToStored.push(stored - printed);
    storedToPage.push(arrival.at - stored);
  }
  console.log(
    `live log latency, ${printToPage.length} lines printed 50 ms apart, ms median (min–max)`,
  );
  console.log(
    renderTable(
      ["leg", "latency"],
      [
        ["printed → stored (the line's time)", formatSummary(summarize(printToStored))],
        ["stored → on the page", formatSummary(summarize(storedToPage))],
        ["printed → on the page", formatSummary(summarize(printToPage))],
      ],
    ),
  );
  const median = summarize(printToPage)?.median ?? Infinity;
  console.log(
    `target: median < ${LATENCY_TARGET_MS} ms → ${median < LATENCY_TARGET_MS ? "met" : "NOT met"}\n`,
  );

  // 4. Throughput: two bursts of 9,000 lines a second apart.
  const burst = [
    "sleep 2",
    'for b in 1 2; do seq -f "fast $b %g" 1 9000; echo "burst-end $b $(date +%s%3N)"; sleep 1; done',
    "mkdir -p dist && echo ok > dist/index.html",
    "",
  ].join("\n");
  const flood = await runBuild(burst, "bench: flooding build");
  const fast = flood.arrivals.filter((a) => a.message.startsWith("fast ")).length;
  const ends = flood.arrivals
    .map((a) => /^burst-end (\d) (\d{13})$/.exec(a.message))
    .filter((m): m is RegExpExecArray => m !== null);
  const lag = ends.map((m) => flood.arrivals.find((a) => a.message === m[0])!.at - Number(m[2]));
  const shown = await page.locator(".log-scroll").getAttribute("data-lines");
  console.log("log throughput: 2 × 9,000 lines, a second apart");
  console.log(
    renderTable(
      ["measure", "value"],
      [
        ["lines received by the page", `${fast} of 18000 (${shown} log lines shown in all)`],
        ["end of each burst → on the page", lag.map((ms) => `${ms} ms`).join(", ")],
        ["longest task blocking the page", `${flood.longest.toFixed(0)} ms`],
        ["build state", flood.build.state],
      ],
    ),
  );
  console.log("");
}
