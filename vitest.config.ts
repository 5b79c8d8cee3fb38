import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // Examples import the package by name, as users do; in this repository that is the source.
  resolve: {
    alias: [
      { find: /^ecs-batch-runner\/testing$/, replacement: src("testing/index.ts") },
      { find: /^ecs-batch-runner\/local$/, replacement: src("local/index.ts") },
      { find: /^ecs-batch-runner\/dynamodb$/, replacement: src("dynamodb/index.ts") },
      { find: /^ecs-batch-runner$/, replacement: src("index.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    // The interop suite needs moto and has its own config: vitest.interop.config.ts.
    exclude: [...configDefaults.exclude, "test/interop/**"],
    setupFiles: ["test/setup/fail-on-console.ts"],
    globalSetup: ["test/setup/build.ts"],
    environment: "node",
    testTimeout: 20_000,
    pool: "forks",
  },
});
