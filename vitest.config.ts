import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup/fail-on-console.ts"],
    globalSetup: ["test/setup/build.ts"],
    environment: "node",
    testTimeout: 20_000,
    pool: "forks",
  },
});
