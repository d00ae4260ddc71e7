import { defineConfig } from "vite";

// The app serves dist/ at tauri://localhost; node_modules stays outside it.
export default defineConfig({
  clearScreen: false,
  build: { outDir: "dist", emptyOutDir: true, target: "safari15" },
  test: { environment: "jsdom" },
} as Parameters<typeof defineConfig>[0]);
