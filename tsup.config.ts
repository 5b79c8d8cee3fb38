import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };

export default defineConfig([
  {
    entry: {
      index: "src/index.ts",
      "testing/index": "src/testing/index.ts",
      "local/index": "src/local/index.ts",
      "dynamodb/index": "src/dynamodb/index.ts",
    },
    format: ["esm", "cjs"],
    dts: {
      entry: [
        "src/index.ts",
        "src/testing/index.ts",
        "src/local/index.ts",
        "src/dynamodb/index.ts",
      ],
      // tsup's declaration build sets baseUrl, which TypeScript 6 deprecates; silence only that.
      compilerOptions: { ignoreDeprecations: "6.0" },
    },
    target: "node20",
    platform: "node",
    sourcemap: true,
    // dist/cli/ is the CLI build's (below), which runs beside this one and cleans it itself.
    clean: ["!cli/**"],
    splitting: true,
    treeshake: true,
    // `import.meta.url` in the CommonJS build (the EC2 module is loaded on demand through a
    // `require` made from it, src/aws-clients.ts).
    shims: true,
  },
  {
    // The CLI is an ES module executable (it uses top-level await); no CommonJS twin needed.
    // main.js reads the command line alone and imports the rest (a chunk beside it, in
    // dist/cli/) only to run a job, so `--help` loads no SDK. Its own directory keeps its chunks
    // apart from the library's.
    entry: { main: "src/cli/main.ts" },
    outDir: "dist/cli",
    format: ["esm"],
    target: "node20",
    platform: "node",
    sourcemap: true,
    clean: true,
    splitting: true,
    shims: true,
    define: { __VERSION__: JSON.stringify(version) },
  },
]);
