import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };

export default defineConfig([
  {
    entry: {
      index: "src/index.ts",
      "testing/index": "src/testing/index.ts",
      "local/index": "src/local/index.ts",
    },
    format: ["esm", "cjs"],
    dts: {
      entry: ["src/index.ts", "src/testing/index.ts", "src/local/index.ts"],
      // tsup's declaration build sets baseUrl, which TypeScript 6 deprecates; silence only that.
      compilerOptions: { ignoreDeprecations: "6.0" },
    },
    target: "node20",
    platform: "node",
    sourcemap: true,
    clean: true,
    splitting: true,
    treeshake: true,
  },
  {
    // The CLI is an ES module executable (it uses top-level await); no CommonJS twin needed.
    entry: { "cli/main": "src/cli/main.ts" },
    format: ["esm"],
    target: "node20",
    platform: "node",
    sourcemap: true,
    clean: false,
    define: { __VERSION__: JSON.stringify(version) },
  },
]);
