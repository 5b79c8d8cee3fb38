/**
 * The interop suite (test/interop/): the runner and the CLI against moto, an AWS emulator, over
 * real HTTP with the real SDK clients. Its global setup starts and stops moto; its files run one
 * at a time because moto's task lifecycle setting is global to the server. `npm test` runs it
 * after the unit suite; `npm run test:interop` runs it alone.
 */
import { defineConfig } from "vitest/config";
import unit from "./vitest.config.js";

export default defineConfig({
  // The same package aliases as the unit suite: tests import "ecs-batch-runner" as users do.
  resolve: unit.resolve,
  test: {
    include: ["test/interop/**/*.test.ts"],
    setupFiles: ["test/setup/fail-on-console.ts"],
    // The CLI tests spawn the built binary.
    globalSetup: ["test/setup/build.ts", "test/interop/setup/moto.ts"],
    reporters: ["default", "./test/interop/setup/no-skips.ts"],
    environment: "node",
    pool: "forks",
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
