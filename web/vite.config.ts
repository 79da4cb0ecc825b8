import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/**
 * The dashboard's build: `web/` → `dist/web/` (index.html and content-hashed `assets/`), which
 * the platform serves (`src/platform/dashboard/serve.ts`). `npm run dev:web` serves it with hot
 * reload and sends `/api` to a platform on port 8080 (`SLIPWAY_DEV_API` to change).
 */
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  plugins: [react()],
  build: {
    outDir: "../dist/web",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    proxy: { "/api": process.env.SLIPWAY_DEV_API ?? "http://127.0.0.1:8080" },
  },
});
