import { defineConfig } from "vitest/config";

/**
 * The dashboard's component tests (`npm run test:web`): Vitest with Testing Library in jsdom,
 * for what pays to test without a browser (the log viewer's colours and sections, the settings
 * form's changed fields, a token shown once). Whole flows run in Chromium (`test/e2e/`).
 */
export default defineConfig({
  root: import.meta.dirname,
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
