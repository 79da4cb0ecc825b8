/**
 * The frameworks Slipway recognises, after Netlify's own detection (`@netlify/build-info`'s
 * `frameworks/*.ts`): a framework is used when one of its npm packages is a dependency (and none
 * of its `excluded` ones), or when one of its config files exists. Commands and output
 * directories are Netlify's, except where a static host needs another (noted).
 */

/** Netlify's categories: a static site generator outranks a build tool detected beside it. */
export type FrameworkCategory = "static_site_generator" | "build_tool" | "frontend_framework";

export interface FrameworkDefinition {
  id: string;
  name: string;
  category: FrameworkCategory;
  /** Any one of these in `dependencies`/`devDependencies` detects the framework. */
  npmDependencies: readonly string[];
  /** Any one of these prevents detection by dependency (a framework built on this one). */
  excludedNpmDependencies?: readonly string[];
  /** Any one of these files (at the base directory) detects the framework. */
  configFiles: readonly string[];
  build: { command: string; directory: string };
}

export const FRAMEWORKS: readonly FrameworkDefinition[] = [
  {
    id: "astro",
    name: "Astro",
    category: "static_site_generator",
    npmDependencies: ["astro"],
    configFiles: ["astro.config.mjs", "astro.config.js", "astro.config.ts", "astro.config.mts"],
    build: { command: "astro build", directory: "dist" },
  },
  {
    id: "next",
    name: "Next.js",
    category: "static_site_generator",
    npmDependencies: ["next"],
    excludedNpmDependencies: ["@nrwl/next"],
    configFiles: ["next.config.js", "next.config.mjs", "next.config.ts"],
    // Netlify publishes `.next` through its Next.js runtime; a static host serves the static
    // export (`output: "export"`), which Next writes to `out`.
    build: { command: "next build", directory: "out" },
  },
  {
    id: "nuxt",
    name: "Nuxt",
    category: "static_site_generator",
    npmDependencies: ["nuxt", "nuxt3", "nuxt-edge"],
    configFiles: ["nuxt.config.ts", "nuxt.config.js", "nuxt.config.mjs"],
    // The static generation (Netlify's own choice for Nuxt 2 static targets).
    build: { command: "nuxt generate", directory: "dist" },
  },
  {
    id: "gatsby",
    name: "Gatsby",
    category: "static_site_generator",
    npmDependencies: ["gatsby"],
    configFiles: ["gatsby-config.js", "gatsby-config.ts", "gatsby-config.mjs"],
    build: { command: "gatsby build", directory: "public" },
  },
  {
    id: "docusaurus",
    name: "Docusaurus",
    category: "static_site_generator",
    npmDependencies: ["@docusaurus/core"],
    configFiles: ["docusaurus.config.js", "docusaurus.config.ts", "docusaurus.config.mjs"],
    build: { command: "docusaurus build", directory: "build" },
  },
  {
    id: "eleventy",
    name: "Eleventy",
    category: "static_site_generator",
    npmDependencies: ["@11ty/eleventy"],
    configFiles: [
      ".eleventy.js",
      "eleventy.config.js",
      "eleventy.config.cjs",
      "eleventy.config.mjs",
    ],
    build: { command: "eleventy", directory: "_site" },
  },
  {
    id: "hexo",
    name: "Hexo",
    category: "static_site_generator",
    npmDependencies: ["hexo"],
    configFiles: ["_config.yml"],
    build: { command: "hexo generate", directory: "public" },
  },
  {
    id: "vuepress",
    name: "VuePress",
    category: "static_site_generator",
    npmDependencies: ["vuepress"],
    configFiles: [],
    build: { command: "vuepress build", directory: ".vuepress/dist" },
  },
  {
    id: "hugo",
    name: "Hugo",
    category: "static_site_generator",
    npmDependencies: [],
    configFiles: [
      "hugo.toml",
      "hugo.yaml",
      "hugo.json",
      "config.toml",
      "config.yaml",
      "config.json",
    ],
    build: { command: "hugo", directory: "public" },
  },
  {
    id: "jekyll",
    name: "Jekyll",
    category: "static_site_generator",
    npmDependencies: [],
    configFiles: ["_config.yml", "_config.yaml", "_config.toml"],
    build: { command: "bundle exec jekyll build", directory: "_site" },
  },
  {
    // Not in Netlify's list; common enough for documentation sites to recognise.
    id: "mkdocs",
    name: "MkDocs",
    category: "static_site_generator",
    npmDependencies: [],
    configFiles: ["mkdocs.yml", "mkdocs.yaml"],
    build: { command: "mkdocs build", directory: "site" },
  },
  {
    id: "svelte-kit",
    name: "SvelteKit",
    category: "frontend_framework",
    npmDependencies: ["@sveltejs/kit"],
    configFiles: ["svelte.config.js"],
    // `@sveltejs/adapter-static` writes to `build`.
    build: { command: "vite build", directory: "build" },
  },
  {
    id: "create-react-app",
    name: "Create React App",
    category: "frontend_framework",
    npmDependencies: ["react-scripts"],
    configFiles: [],
    build: { command: "react-scripts build", directory: "build" },
  },
  {
    id: "vue",
    name: "Vue.js",
    category: "frontend_framework",
    npmDependencies: ["@vue/cli-service"],
    configFiles: [],
    build: { command: "vue-cli-service build", directory: "dist" },
  },
  {
    id: "vite",
    name: "Vite",
    category: "build_tool",
    npmDependencies: ["vite"],
    excludedNpmDependencies: [
      "@remix-run/react",
      "@remix-run/dev",
      "@remix-run/server-runtime",
      "@shopify/hydrogen",
      "@builder.io/qwik",
      "solid-start",
      "@solidjs/start",
      "solid-js",
      "@tanstack/react-router",
      "@tanstack/start",
      "@sveltejs/kit",
      "@analogjs/platform",
      "@react-router/dev",
      "vike",
    ],
    configFiles: ["vite.config.js", "vite.config.ts", "vite.config.mjs", "vite.config.mts"],
    build: { command: "vite build", directory: "dist" },
  },
];

/** The package managers, by `packageManager` name and by lockfile (in Netlify's order). */
export const PACKAGE_MANAGERS = [
  { name: "yarn", lockFiles: ["yarn.lock"], run: "yarn run" },
  { name: "pnpm", lockFiles: ["pnpm-lock.yaml"], run: "pnpm run" },
  { name: "npm", lockFiles: ["package-lock.json", "npm-shrinkwrap.json"], run: "npm run" },
  { name: "bun", lockFiles: ["bun.lockb", "bun.lock"], run: "bun run" },
] as const;

export type PackageManagerName = (typeof PACKAGE_MANAGERS)[number]["name"];
