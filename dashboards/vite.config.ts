// Builds the pages into dist/ (served by eqm-server --static-dir, and the custodian page by
// eqm-gateway). `npm run dev` proxies /api and /healthz to EQM_SERVER (default
// http://127.0.0.1:8080), so the pages can be worked on against a running server.
import { defineConfig } from "vitest/config";

const server = process.env.EQM_SERVER ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    // The manifest lets bench/web_bundle add up the JavaScript of each page.
    manifest: true,
    target: "es2022",
    sourcemap: false,
  },
  server: {
    proxy: {
      // The API checks Origin: the dev server's pages speak as the server's own origin.
      "/api": { target: server, ws: true, changeOrigin: true, headers: { origin: server } },
      "/healthz": server,
    },
  },
  test: {
    include: ["tests/unit/**/*.test.ts"],
    environment: "node",
  },
});
