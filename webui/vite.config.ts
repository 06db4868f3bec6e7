import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the UI on :5173 and forwards the API (including the event stream) to a
// manager started with `./scripts/up.sh`; the built bundle (dist/) is served by the manager.
export default defineConfig({
  base: "/",
  plugins: [react()],
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
  },
});
