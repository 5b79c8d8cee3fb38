/**
 * Writes docs/configuration.md from the code, so the reference cannot drift from it:
 *
 * - the job fields from `BatchJobSchema` (src/job/schema.ts) through `z.toJSONSchema`: types,
 *   defaults and constraints from the schema itself, descriptions and what a JSON Schema cannot
 *   express from each field's `.meta()` (`description`, `x-type`, `x-default`, `x-constraints`);
 * - the Fargate size table from `FARGATE_SIZES`;
 * - the runner options from the doc comments of `EcsBatchRunnerOptions`, `RateLimit` and
 *   `RunOptions`, read with the TypeScript compiler.
 *
 * Run `npm run docs:config` after changing any of them; test/docs/config-docs.test.ts fails
 * while docs/configuration.md differs from what this script produces.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as prettier from "prettier";
import ts from "typescript";
import { z } from "zod";
import { FARGATE_SIZES } from "../src/job/fargate.js";
import { BatchJobSchema, parseJob, type BatchJobInput } from "../src/job/schema.js";

const root = new URL("../", import.meta.url);

/** Where the generated reference goes. */
export const CONFIG_DOCS_PATH = fileURLToPath(new URL("docs/configuration.md", root));

/** The part of JSON Schema that `z.toJSONSchema` produces for the job schema. */
interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  propertyNames?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  "x-type"?: string;
  "x-default"?: string;
  "x-constraints"?: string[];
}

/** One table of fields: the job's top level, or one nested object. */
interface Section {
  readonly path: string;
  readonly rows: string[][];
}

const code = (text: string): string => `\`${text}\``;

/** A table cell: one line, pipes escaped (also inside code spans, as GitHub tables need). */
const cell = (text: string): string => text.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|");

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function isObject(schema: JsonSchema): boolean {
  return schema.properties !== undefined;
}

/** The type, as plain text (no markdown). */
function plainType(schema: JsonSchema): string {
  if (schema.enum !== undefined) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const union = schema.anyOf ?? schema.oneOf;
  if (union !== undefined) return union.map(plainType).join(" | ");
  if (Array.isArray(schema.type)) return schema.type.join(" | ");
  switch (schema.type) {
    case "array": {
      const items = schema.items ?? {};
      const inner = isObject(items) ? "object" : plainType(items);
      return inner.includes(" | ") ? `(${inner})[]` : `${inner}[]`;
    }
    case "object": {
      if (isObject(schema)) return "object";
      const values = schema.additionalProperties;
      return `Record<string, ${typeof values === "object" ? plainType(values) : "unknown"}>`;
    }
    case undefined:
      throw new Error("a field with no JSON Schema type needs an x-type in its .meta()");
    default:
      return schema.type;
  }
}

function typeCell(schema: JsonSchema): string {
  return schema["x-type"] ?? code(plainType(schema));
}

function range(schema: JsonSchema): string | undefined {
  const max = schema.maximum;
  const min = schema.minimum;
  const hasMax = max !== undefined && max < Number.MAX_SAFE_INTEGER;
  const hasMin = min !== undefined && min > Number.MIN_SAFE_INTEGER;
  if (schema.exclusiveMinimum !== undefined)
    return hasMax ? `> ${schema.exclusiveMinimum}, ≤ ${max}` : `> ${schema.exclusiveMinimum}`;
  if (hasMin && hasMax) return `${min} to ${max}`;
  if (hasMin) return `≥ ${min}`;
  if (hasMax) return `≤ ${max}`;
  return undefined;
}

function stringConstraints(schema: JsonSchema, what: string): string[] {
  const out: string[] = [];
  const { minLength, maxLength } = schema;
  if (minLength !== undefined && maxLength !== undefined)
    out.push(`${what} ${minLength} to ${maxLength} characters`);
  else if (maxLength !== undefined) out.push(`${what} at most ${maxLength} characters`);
  else if (minLength === 1) out.push(`${what} not empty`);
  else if (minLength !== undefined) out.push(`${what} at least ${minLength} characters`);
  if (schema.pattern !== undefined) out.push(`${what} matches ${code(schema.pattern)}`);
  return out;
}

function constraints(schema: JsonSchema): string {
  const out: string[] = [];
  if (schema.type === "string") out.push(...stringConstraints(schema, "").map((c) => c.trim()));
  const r = range(schema);
  if (r !== undefined) out.push(r);
  if (schema.type === "array") {
    if (schema.minItems !== undefined) out.push(`at least ${schema.minItems}`);
    if (schema.maxItems !== undefined) out.push(`at most ${schema.maxItems}`);
    const items = schema.items;
    if (items !== undefined && !isObject(items)) out.push(...stringConstraints(items, "each"));
  }
  if (schema.propertyNames !== undefined)
    out.push(...stringConstraints(schema.propertyNames, "keys"));
  if (typeof schema.additionalProperties === "object")
    out.push(...stringConstraints(schema.additionalProperties, "values"));
  out.push(...(schema["x-constraints"] ?? []));
  if (out.length === 0) return "";
  const text = out.join("; ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function defaultCell(schema: JsonSchema, required: boolean): string {
  if (schema["x-default"] !== undefined) return schema["x-default"];
  if (required) return "**required**";
  if (schema.default !== undefined) return code(JSON.stringify(schema.default));
  return "";
}

/** The tables of an object schema and of every object nested in it, depth first. */
function sections(schema: JsonSchema, path: string, out: Section[] = []): Section[] {
  const section: Section = { path, rows: [] };
  out.push(section);
  const nested: [JsonSchema, string][] = [];
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    const fieldPath = path === "" ? name : `${path}.${name}`;
    if (field.description === undefined) {
      throw new Error(
        `${fieldPath} has no description: add .meta(doc("...")) to it in src/job/schema.ts`,
      );
    }
    const required = schema.required?.includes(name) ?? false;
    section.rows.push([
      code(name),
      typeCell(field),
      defaultCell(field, required),
      constraints(field),
      field.description,
    ]);
    if (isObject(field)) nested.push([field, fieldPath]);
    else if (field.type === "array" && field.items !== undefined && isObject(field.items))
      nested.push([field.items, `${fieldPath}[]`]);
  }
  for (const [field, fieldPath] of nested) sections(field, fieldPath, out);
  return out;
}

/** The job fields, one table per object. */
function jobFields(): string {
  const schema = z.toJSONSchema(BatchJobSchema, {
    io: "input",
    unrepresentable: "any",
  }) as JsonSchema;
  const header = ["Field", "Type", "Default", "Constraints", "Description"];
  return sections(schema, "")
    .map((s) =>
      s.path === ""
        ? `## Fields\n\n${table(header, s.rows)}`
        : `### ${code(s.path)}\n\n${table(header, s.rows)}`,
    )
    .join("\n\n");
}

function fargateSizes(): string {
  const rows = [...FARGATE_SIZES].map(([cpu, memory]) => {
    const first = memory[0] ?? 0;
    const last = memory[memory.length - 1] ?? 0;
    const step = (memory[1] ?? 0) - first;
    const text =
      memory.length <= 3 ? memory.join(", ") : `${first} to ${last}, in steps of ${step}`;
    return [code(String(cpu)), `${cpu / 1024}`, text];
  });
  return table(["`cpu` (units)", "vCPU", "`memory` (MiB)"], rows);
}

/** One documented member of a TypeScript interface. */
interface Member {
  readonly name: string;
  readonly type: string;
  readonly optional: boolean;
  readonly description: string;
  readonly defaultText: string;
  readonly members: Member[];
}

function docText(node: ts.Node): string {
  return ts
    .getJSDocCommentsAndTags(node)
    .filter((d): d is ts.JSDoc => ts.isJSDoc(d))
    .map((d) => ts.getTextOfJSDocComment(d.comment) ?? "")
    .join(" ")
    .replace(/\s+/g, " ")
    .trim();
}

function members(list: ts.NodeArray<ts.TypeElement>, file: ts.SourceFile): Member[] {
  return list.filter(ts.isPropertySignature).map((m) => {
    // The comments cite DESIGN.md sections, which users do not have.
    const text = docText(m).replace(/\s*\(DESIGN [\d.]+\)/g, "");
    const split = /^(.*?)\s*Default:\s*(.*)$/.exec(text);
    const typeNode = m.type;
    const nested = typeNode !== undefined && ts.isTypeLiteralNode(typeNode) ? typeNode : undefined;
    return {
      name: m.name.getText(file),
      type:
        nested !== undefined
          ? "object"
          : (typeNode?.getText(file).replace(/\s+/g, " ") ?? "unknown"),
      optional: m.questionToken !== undefined,
      description: split?.[1] ?? text,
      defaultText: (split?.[2] ?? "").replace(/\.$/, ""),
      members: nested === undefined ? [] : members(nested.members, file),
    };
  });
}

/** The documented members of an exported interface of a source file. */
function interfaceMembers(path: string, name: string): Member[] {
  const full = fileURLToPath(new URL(path, root));
  const file = ts.createSourceFile(full, readFileSync(full, "utf8"), ts.ScriptTarget.Latest, true);
  const found = file.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name,
  );
  if (found === undefined) throw new Error(`interface ${name} not found in ${path}`);
  return members(found.members, file);
}

function memberTable(list: readonly Member[], prefix = ""): string {
  const rows: string[][] = [];
  const add = (ms: readonly Member[], p: string): void => {
    for (const m of ms) {
      if (m.description === "") throw new Error(`${p}${m.name} has no doc comment`);
      rows.push([code(p + m.name), code(m.type), m.defaultText, m.description]);
      add(m.members, `${p}${m.name}.`);
    }
  };
  add(list, prefix);
  return table(["Option", "Type", "Default", "Description"], rows);
}

/** A complete job, checked against the schema when the docs are generated. */
const EXAMPLE_JOB: BatchJobInput = {
  jobId: "nightly-export-2026-11-26",
  cluster: "batch",
  taskDefinition: { path: "task-definition.json" },
  taskCount: 8,
  cpu: 1024,
  memory: "4 GB",
  containerOverrides: [
    {
      name: "main",
      command: ["/app/export", "--date", "2026-11-26"],
      environment: { EXPORT_BUCKET: "s3://exports", BATCH_SIZE: 1000 },
    },
  ],
  launchType: "FARGATE_SPOT",
  network: { subnets: ["subnet-0abc1234", "subnet-0def5678"], securityGroups: ["sg-0abc1234"] },
  tags: { team: "data" },
  taskCustomizations: [{ op: "add", path: "/enableExecuteCommand", value: true }],
  pollInterval: "15s",
  timeout: "2h",
  maxFailCount: 2,
  retry: { maxLaunchRetries: 10, backoff: { initial: "5s", max: "2m" } },
  logs: { fetch: "representative", maxBytes: 1_048_576 },
};

function exampleJob(): string {
  parseJob(EXAMPLE_JOB); // throws if the example ever stops being valid
  return `\`\`\`json\n${JSON.stringify(EXAMPLE_JOB, null, 2)}\n\`\`\``;
}

function markdown(): string {
  return `# Configuration reference

<!-- Generated by scripts/gen-config-docs.ts from src/job/schema.ts, src/job/fargate.ts and src/runner.ts. Do not edit: change those files, then run \`npm run docs:config\`. -->

A job is a plain object, \`BatchJobInput\`, handed to \`runner.run(job)\`, \`runner.submit(job)\` or
\`runner.preview(job)\` (or written as a JSON or YAML job file for the CLI). Only
\`taskDefinition\` is required. The same zod schema is exported as \`BatchJobSchema\` (and as
\`BatchJobInput\`); \`z.toJSONSchema(BatchJobSchema, { io: "input" })\` gives a JSON Schema for
editors, with the descriptions below.

\`parseJob(input)\` validates a job and fills in the defaults. It returns a \`BatchJob\`: durations
in milliseconds, sizes as numbers, environments as \`{ name, value }\` lists, a \`jobId\` always
set. Validation never calls AWS and reports every problem at once in an
\`EcsBatchValidationError\` (\`error.issues\`: field path and message). Unknown fields are
rejected at every level; a misspelt or snake_case top-level field gets a suggestion
(\`max_fail_count\` → \`maxFailCount\`). Checks that need the task definition (container names,
Fargate size of a template, the 8192-character overrides limit, \`taskCustomizations\`) run
during preparation: see [semantics](semantics.md#errors-validation-and-setup).

Heimdall-format command, cluster and job files are converted with \`fromHeimdall\`: see
[migrating from Heimdall](migrating-from-heimdall.md).

## Example

${exampleJob()}

## Durations

A duration is a number of milliseconds, or a string of numbers with units as Go writes them:
\`ns\`, \`us\` (or \`µs\`), \`ms\`, \`s\`, \`m\`, \`h\`, as in \`"500ms"\`, \`"30s"\`, \`"1.5h"\`,
\`"2h15m30s"\`. A string holding only a number (\`"1500"\`) is milliseconds too. Negative values
are rejected.

A blank default means the field is optional and unset unless given.

${jobFields()}

## Fargate sizes

With \`launchType\` \`FARGATE\` or \`FARGATE_SPOT\` the task-level size must be one of these pairs
(cpu 8192 and 16384 need Linux platform version 1.4.0). A job's \`cpu\` and \`memory\` are checked
when the job is parsed; the size that results from the template is checked during preparation.
\`EC2\` jobs are not checked.

${fargateSizes()}

## Runner options

\`new EcsBatchRunner(options)\`. Every option is optional; a runner can run many jobs at once,
and they share its clients, task definition cache, watcher and rate limits.

${memberTable(interfaceMembers("src/runner.ts", "EcsBatchRunnerOptions"))}

A \`RateLimit\` is a client-side token bucket. It starts at \`ratePerSecond\`, halves when AWS
throttles a call (other clients share the account's limits) and creeps back up while calls
succeed:

${memberTable(interfaceMembers("src/execution/rate-limiter.ts", "RateLimit"))}

## Run options

\`runner.run(job, options)\`:

${memberTable(interfaceMembers("src/runner.ts", "RunOptions"))}
`;
}

/** docs/configuration.md as it should be, formatted with the repository's Prettier settings. */
export async function renderConfigurationDocs(): Promise<string> {
  const config = (await prettier.resolveConfig(CONFIG_DOCS_PATH)) ?? {};
  return prettier.format(markdown(), { ...config, parser: "markdown" });
}

async function main(): Promise<void> {
  writeFileSync(CONFIG_DOCS_PATH, await renderConfigurationDocs());
  process.stdout.write(`wrote ${CONFIG_DOCS_PATH}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
