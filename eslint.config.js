// @ts-check
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      ".slipway/",
      "coverage/",
      "web/dist/",
      "dist/",
      "**/*.d.ts",
      // Sites the tests build: their own projects (CommonJS scripts, JSX), not Slipway's code.
      "test/fixtures/sites/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "no-console": ["error", { allow: ["error"] }],
    },
  },
  {
    // Imports run one way: api/ (HTTP) is imported only by its server's composition root, and
    // the two servers never import each other (docs/ARCHITECTURE.md, "Layers").
    files: ["src/**/*.ts"],
    ignores: [
      "src/platform/server.ts",
      "src/platform/api/**",
      "src/forge/server.ts",
      "src/forge/api/**",
    ],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "(^|/)api/",
              message:
                "api/ is the HTTP layer: only server.ts imports it; move what you need into a domain folder",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["src/platform/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: "(^|/)api/", message: "api/ is the HTTP layer: only server.ts imports it" },
            {
              regex: "(^|/)forge/",
              message: "the platform talks to the forge only over HTTP and git",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["src/platform/server.ts", "src/platform/api/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "(^|/)forge/",
              message: "the platform talks to the forge only over HTTP and git",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["src/forge/**/*.ts"],
    ignores: ["src/forge/server.ts", "src/forge/api/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: "(^|/)api/", message: "api/ is the HTTP layer: only server.ts imports it" },
            { regex: "(^|/)platform/", message: "the forge talks to the platform only over HTTP" },
          ],
        },
      ],
    },
  },
  {
    files: ["src/forge/server.ts", "src/forge/api/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: "(^|/)platform/", message: "the forge talks to the platform only over HTTP" },
          ],
        },
      ],
    },
  },
  {
    files: ["src/lib/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "(^|/)(platform|forge|cli)/",
              message: "src/lib is the bottom: generic helpers only",
            },
          ],
        },
      ],
    },
  },
  {
    // The dashboard (React, in the browser): its own tsconfig, the rules of hooks.
    files: ["web/**/*.{ts,tsx}"],
    ...reactHooks.configs.flat["recommended-latest"],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      ...reactHooks.configs.flat["recommended-latest"].rules,
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "error",
    },
  },
  {
    // node:test's describe() and it() return promises that the runner itself awaits.
    files: ["**/*.test.ts", "test/**/*.ts"],
    rules: { "@typescript-eslint/no-floating-promises": "off" },
  },
  {
    files: ["src/cli/**/*.ts", "bench/**/*.ts"],
    rules: { "no-console": "off" },
  },
  {
    files: ["bin/**/*.js", "eslint.config.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
