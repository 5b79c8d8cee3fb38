// @ts-check
/**
 * The layers of src/ (DESIGN 4), as an ESLint rule: a module may import its own layer and the
 * ones below it, never one above. Layers, bottom first:
 *
 *   base        the AWS boundary (src/aws/), errors, clock, logger, the result vocabulary, events
 *   names       the runner's task names, tags, tokens and injected variables
 *   model       the job model: its schema, durations, Fargate sizes
 *   parts       task definitions, requests, logs, the simulator
 *   adapters    preparation, input adapters (Heimdall)
 *   engine      execution: the slot state machine and its driver, launcher, watcher, stopper
 *   runner      the composition root and the public entry point
 *   entries     the CLI, the local backend, the testing entry point, the DynamoDB store
 */
import path from "node:path";

/** Layer of each path under src/, first match wins; a path with no match is unchecked. */
const LAYERS = [
  [
    "base",
    [
      "aws/",
      "aws.ts",
      "aws-clients.ts",
      "clock.ts",
      "errors.ts",
      "logger.ts",
      "result.ts",
      "events.ts",
    ],
  ],
  ["names", ["request/naming.ts"]],
  ["model", ["job/"]],
  ["parts", ["template/", "request/", "logs/", "simulator/"]],
  ["adapters", ["prepare/", "adapters/"]],
  ["engine", ["execution/", "durable/"]],
  ["runner", ["runner.ts", "index.ts"]],
  ["entries", ["cli/", "local/", "testing/", "dynamodb/"]],
];

const RANK = new Map(LAYERS.map(([name], i) => [name, i]));

/** @param {string} file an absolute path */
function layerOf(file, srcDir) {
  const rel = path.relative(srcDir, file).split(path.sep).join("/");
  if (rel.startsWith("..")) return undefined;
  for (const [name, prefixes] of LAYERS) {
    if (prefixes.some((p) => (p.endsWith("/") ? rel.startsWith(p) : rel === p))) return name;
  }
  return undefined;
}

/** @type {import("eslint").Rule.RuleModule} */
const layersRule = {
  meta: {
    type: "problem",
    docs: { description: "imports in src/ run down the layers of DESIGN section 4" },
    schema: [],
    messages: {
      up: "{{from}} (layer {{fromLayer}}) imports {{to}} (layer {{toLayer}}), a layer above it; move the shared part down, or the importer up",
    },
  },
  create(context) {
    const file = context.filename;
    const srcDir = path.join(context.cwd, "src");
    const from = layerOf(file, srcDir);
    if (from === undefined) return {};
    /** @param {import("estree").Node & { source?: import("estree").Literal | null | import("estree").Expression }} node */
    const check = (node) => {
      const source = node.source;
      if (source === null || source === undefined || source.type !== "Literal") return;
      const spec = source.value;
      if (typeof spec !== "string" || !spec.startsWith(".")) return;
      const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts"));
      const to = layerOf(target, srcDir);
      if (to === undefined) return;
      if ((RANK.get(to) ?? 0) > (RANK.get(from) ?? 0)) {
        context.report({
          node: source,
          messageId: "up",
          data: {
            from: path.relative(srcDir, file),
            fromLayer: from,
            to: path.relative(srcDir, target),
            toLayer: to,
          },
        });
      }
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};

export default { rules: { layers: layersRule } };
