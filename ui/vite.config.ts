import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The app serves dist/ at tauri://localhost; node_modules stays outside it.
// Two pages: the settings window and the first-run (setup) window.
export default defineConfig({
  clearScreen: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "safari15",
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL("index.html", import.meta.url)),
        setup: fileURLToPath(new URL("setup.html", import.meta.url)),
      },
    },
  },
  test: { environment: "jsdom" },
} as Parameters<typeof defineConfig>[0]);
