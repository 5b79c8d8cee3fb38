/**
 * Writes docs/configuration.md and schema/job.schema.json (the JSON Schema of a job file, shipped
 * in the package for editors) from the code, so neither can drift from it:
 *
 * - the job fields from `BatchJobSchema` (src/job/schema.ts) through `z.toJSONSchema`: types,
 *   defaults and constraints from the schema itself, descriptions and what a JSON Schema cannot
 *   express from each field's `.meta()` (`description`, `x-type`, `x-default`, `x-constraints`);
 * - the Fargate size table from `FARGATE_SIZES`;
 * - the runner options from the doc comments of `EcsBatchRunnerOptions`, `RateLimit` and
 *   `RunOptions`, read with the TypeScript compiler.
 *
 * Run `npm run docs:config` after changing any of them; test/docs/config-docs.test.ts and
 * test/docs/job-schema.test.ts fail while either file differs from what this script produces.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as prettier from "prettier";
import ts from "typescript";
import { z } from "zod";
import { FARGATE_SIZES } from "../src/job/fargate.js";
import { BatchJobSchema, parseJob, type BatchJobInput } from "../src/job/schema.js";

const root = new URL("../", import.meta.url);

/** Where the generated reference goes. */
export const CONFIG_DOCS_PATH = fileURLToPath(new URL("docs/configuration.md", root));

/** Where the JSON Schema of a job file goes (shipped as `ecs-batch-runner/schema/job.schema.json`). */
export const JOB_SCHEMA_PATH = fileURLToPath(new URL("schema/job.schema.json", root));

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

/**
 * The string forms the job schema's transforms accept, for the JSON Schema of a job file (a
 * transform has no JSON Schema; its input is only `number | string` there). Each matches
 * exactly the strings the parser reads (test/docs/job-schema.test.ts checks it against
 * `parseDuration`, `parseCpu` and `parseMemory`); limits on the value (a duration's minimum
 * and maximum, the Fargate sizes) stay with the parser.
 */
const STRING_FORMS = {
  duration: {
    pattern: "^\\s*(\\d+(\\.\\d+)?|((\\d+(\\.\\d*)?|\\.\\d+)(ns|us|µs|μs|ms|s|m|h))+)\\s*$",
    example: '"30s", "1h", "2h15m30s", "500ms"',
  },
  cpu: {
    pattern: "^\\s*(\\d+|\\d+(\\.\\d+)?\\s*[vV][cC][pP][uU])\\s*$",
    example: '1024, "1024" or "1 vCPU"',
  },
  memory: {
    pattern: "^\\s*(\\d+|\\d+(\\.\\d+)?\\s*[gG][bB])\\s*$",
    example: '2048, "2048" or "2 GB"',
  },
} as const;

/** The patterns of `STRING_FORMS`, for tests. */
export const JOB_STRING_PATTERNS = {
  duration: STRING_FORMS.duration.pattern,
  cpu: STRING_FORMS.cpu.pattern,
  memory: STRING_FORMS.memory.pattern,
};

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

/** A JSON Schema node as this script rewrites it. */
type SchemaNode = JsonSchema & Record<string, unknown>;

/** `number | string` restricted to the forms `form` takes: a number ≥ 0 or a matching string. */
function stringForm(node: SchemaNode, form: keyof typeof STRING_FORMS, positive: boolean): void {
  const { pattern, example } = STRING_FORMS[form];
  delete node.type;
  node.anyOf = [
    positive ? { type: "number", exclusiveMinimum: 0 } : { type: "number", minimum: 0 },
    { type: "string", pattern },
  ];
  node.description = `${node.description ?? ""} For example ${example}.`.trim();
}

/**
 * A node of `z.toJSONSchema`'s output made fit for editors: the `x-` documentation keys folded
 * into the description (a default filled in outside the schema, checks made by refinements),
 * the string forms of durations and sizes, and what only code can give (`retry.shouldRetry`)
 * left out.
 */
function editorNode(node: SchemaNode, path: string): SchemaNode {
  const out: SchemaNode = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith("x-")) continue;
    if (key === "properties" && typeof value === "object" && value !== null) {
      const properties: Record<string, SchemaNode> = {};
      for (const [name, child] of Object.entries(value as Record<string, SchemaNode>)) {
        const childPath = path === "" ? name : `${path}.${name}`;
        if (childPath === "retry.shouldRetry") continue;
        properties[name] = editorNode(child, childPath);
      }
      out.properties = properties;
    } else if (key === "items" && typeof value === "object" && value !== null) {
      out.items = editorNode(value as SchemaNode, `${path}[]`);
    } else if ((key === "anyOf" || key === "oneOf") && Array.isArray(value)) {
      out[key] = (value as SchemaNode[]).map((v) => editorNode(v, path));
    } else {
      out[key] = value;
    }
  }
  const notes = [
    node["x-default"] === undefined ? undefined : `Default: ${node["x-default"]}.`,
    ...(node["x-constraints"] ?? []).map((c) => `${c.charAt(0).toUpperCase()}${c.slice(1)}.`),
  ].filter((n): n is string => n !== undefined);
  if (notes.length > 0) out.description = [node.description, ...notes].join(" ");
  // Links to other sections of docs/configuration.md mean nothing in an editor: keep their text.
  if (typeof out.description === "string") {
    out.description = out.description.replace(/\[(`[^`]*`|[^\]]+)\]\(#[^)]*\)/g, "$1");
  }
  if (node["x-type"] === "duration") stringForm(out, "duration", false);
  if (path === "cpu") stringForm(out, "cpu", true);
  if (path === "memory") stringForm(out, "memory", true);
  return out;
}

/**
 * The JSON Schema of a job file (JSON or YAML), for editors and validators: the job schema's
 * input side, with `$schema` allowed at the top (the CLI ignores it) and the structural rules
 * its transforms check said as JSON Schema: one task definition source; `subnets` or `vpcId`;
 * security groups and a public IP only with subnets.
 */
export function jobFileSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(BatchJobSchema, {
    io: "input",
    unrepresentable: "any",
  }) as SchemaNode;
  const schema = editorNode(generated, "");
  const properties = schema.properties as Record<string, SchemaNode>;
  const taskDefinition = properties.taskDefinition;
  const network = properties.network;
  if (taskDefinition === undefined || network === undefined) {
    throw new Error("the job schema has no taskDefinition or network field");
  }
  taskDefinition.minProperties = 1;
  taskDefinition.maxProperties = 1;
  network.not = { required: ["subnets", "vpcId"] };
  network.dependentRequired = { securityGroups: ["subnets"], assignPublicIp: ["subnets"] };
  const { $schema: draft, ...rest } = schema;
  return {
    $schema: draft,
    title: "ecs-batch-runner job",
    description:
      "A batch job for ecs-batch-runner (`ecs-batch run job.yaml`, `runner.run(job)`). Generated from the package's zod schema; see docs/configuration.md.",
    ...rest,
    properties: {
      $schema: {
        type: "string",
        description:
          "Where editors find this schema; ignored by `ecs-batch` (not a job field: `parseJob` rejects it).",
      },
      ...properties,
    },
  };
}

/** schema/job.schema.json as it should be. */
export async function renderJobSchema(): Promise<string> {
  const config = (await prettier.resolveConfig(JOB_SCHEMA_PATH)) ?? {};
  return prettier.format(JSON.stringify(jobFileSchema()), { ...config, parser: "json" });
}

function markdown(): string {
  return `# Configuration reference

<!-- Generated by scripts/gen-config-docs.ts from src/job/schema.ts, src/job/fargate.ts and src/runner.ts. Do not edit: change those files, then run \`npm run docs:config\`. -->

A job is a plain object, \`BatchJobInput\`, handed to \`runner.run(job)\`, \`runner.submit(job)\` or
\`runner.preview(job)\` (or written as a JSON or YAML job file for the CLI). Only
\`taskDefinition\` is required. The same zod schema is exported as \`BatchJobSchema\` (and as
\`BatchJobInput\`).

The package ships the JSON Schema of a job file, with the descriptions below, as
\`ecs-batch-runner/schema/job.schema.json\` (\`node_modules/ecs-batch-runner/schema/job.schema.json\`).
Point an editor at it for completion and checking as you type. In a YAML file, with the YAML
language server (VS Code's YAML extension, and others):

\`\`\`yaml
# yaml-language-server: $schema=node_modules/ecs-batch-runner/schema/job.schema.json
taskDefinition:
  path: task-definition.json
\`\`\`

In a JSON file, with a \`"$schema"\` key, which \`ecs-batch\` ignores:

\`\`\`json
{
  "$schema": "./node_modules/ecs-batch-runner/schema/job.schema.json",
  "taskDefinition": { "path": "task-definition.json" }
}
\`\`\`

(\`parseJob\` and \`runner.run\` reject \`$schema\` as an unknown field: it belongs to the file,
not the job. For JSON files without the key, map them to the schema in the editor's settings,
such as VS Code's \`json.schemas\`.) The schema checks a file's structure; what only the parser
can check (durations' limits, Fargate sizes, the length of task names) is checked when the job
is parsed.

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

${memberTable(interfaceMembers("src/aws/rate-limiter.ts", "RateLimit"))}

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
  mkdirSync(dirname(JOB_SCHEMA_PATH), { recursive: true });
  writeFileSync(JOB_SCHEMA_PATH, await renderJobSchema());
  process.stdout.write(`wrote ${JOB_SCHEMA_PATH}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
