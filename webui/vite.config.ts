import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

/** Swagger UI's files for the API docs page (/api/docs), copied into the bundle as
 * dist/api-docs/: the manager serves them itself, so the page works without the internet
 * (FastAPI's default page loads them from a CDN). */
export const API_DOCS_FILES = ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "NOTICE"];

function apiDocsAssets(): Plugin {
  const dist = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  return {
    name: "berth-api-docs-assets",
    apply: "build",
    generateBundle() {
      for (const name of API_DOCS_FILES) {
        this.emitFile({ type: "asset", fileName: `api-docs/${name}`, source: readFileSync(join(dist, name)) });
      }
    },
  };
}

// `npm run dev` serves the UI on :5173 and forwards the API (including the event stream) to a
// manager started with `./scripts/up.sh`; the built bundle (dist/) is served by the manager.
export default defineConfig({
  base: "/",
  plugins: [react(), apiDocsAssets()],
  server: {
    proxy: {
      // ws: the browser terminal's WebSocket (/api/sessions/{ref}/terminal)
      "/api": { target: "http://127.0.0.1:8090", changeOrigin: false, ws: true },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      output: {
        manualChunks: {
          react: ["react", "react-dom", "react-router-dom"],
          antd: ["antd", "@ant-design/icons", "dayjs"],
        },
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    setupFiles: ["src/test-setup.ts"],
    // Worker threads start faster than forked processes, and Vitest's default of one worker less
    // than the cores ran the files one at a time on a 2-core machine (its main process mostly
    // waits): there, two workers took the run from ~105 s to ~57 s.
    pool: "threads",
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
