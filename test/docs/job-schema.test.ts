/**
 * schema/job.schema.json, the JSON Schema of a job file the package ships for editors: it is
 * what scripts/gen-config-docs.ts generates from the zod schema, it accepts every example job
 * (in examples/, test fixtures and the docs) and it refuses what the parser refuses for
 * structure. Checked with a small validator of the keywords the schema uses (the test fails
 * if the schema ever uses another), so that no JSON Schema library is needed for it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import {
  JOB_SCHEMA_PATH,
  JOB_STRING_PATTERNS,
  renderJobSchema,
} from "../../scripts/gen-config-docs.js";
import { fromHeimdall, loadHeimdallFiles, parseJob } from "../../src/index.js";
import { parseDuration } from "../../src/job/duration.js";
import { parseCpu, parseMemory } from "../../src/job/fargate.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

type Schema = Record<string, unknown>;

/** The keywords `validate` understands; the rest are annotations it may ignore. */
const ASSERTIONS = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "anyOf",
  "oneOf",
  "not",
  "enum",
  "const",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
  "propertyNames",
  "dependentRequired",
]);
const ANNOTATIONS = new Set(["$schema", "title", "description", "default"]);

/** Every keyword the schema uses, anywhere (property names are not keywords). */
function keywords(schema: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) for (const s of schema) keywords(s, out);
  else if (typeof schema === "object" && schema !== null) {
    for (const [key, value] of Object.entries(schema)) {
      out.add(key);
      if (key === "properties") for (const s of Object.values(value as Schema)) keywords(s, out);
      else if (
        key === "dependentRequired" ||
        key === "enum" ||
        key === "const" ||
        key === "default"
      )
        continue;
      else keywords(value, out);
    }
  }
  return out;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** Where `value` breaks `schema` (JSON Schema 2020-12, the keywords of `ASSERTIONS`). */
function validate(schema: Schema, value: unknown, path = "$"): string[] {
  const errors: string[] = [];
  const fail = (what: string): void => void errors.push(`${path}: ${what}`);
  const s = schema as {
    type?: string | string[];
    properties?: Record<string, Schema>;
    required?: string[];
    additionalProperties?: boolean | Schema;
    items?: Schema;
    anyOf?: Schema[];
    oneOf?: Schema[];
    not?: Schema;
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
    minProperties?: number;
    maxProperties?: number;
    propertyNames?: Schema;
    dependentRequired?: Record<string, string[]>;
  };
  const actual = typeOf(value);
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const ok = types.some((t) => t === actual || (t === "number" && actual === "integer"));
    if (!ok) return [`${path}: ${actual} is not ${types.join(" or ")}`];
  }
  if (s.enum !== undefined && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    fail(`not one of ${JSON.stringify(s.enum)}`);
  if (s.const !== undefined && JSON.stringify(s.const) !== JSON.stringify(value))
    fail(`is not ${JSON.stringify(s.const)}`);
  if (s.anyOf !== undefined && !s.anyOf.some((o) => validate(o, value, path).length === 0))
    fail("matches none of anyOf");
  if (s.oneOf !== undefined) {
    const matching = s.oneOf.filter((o) => validate(o, value, path).length === 0).length;
    if (matching !== 1) fail(`matches ${matching} of oneOf, not one`);
  }
  if (s.not !== undefined && validate(s.not, value, path).length === 0) fail("matches not");
  if (typeof value === "string") {
    if (s.pattern !== undefined && !new RegExp(s.pattern, "u").test(value))
      fail(`does not match ${s.pattern}`);
    const length = Array.from(value).length;
    if (s.minLength !== undefined && length < s.minLength) fail("too short");
    if (s.maxLength !== undefined && length > s.maxLength) fail("too long");
  }
  if (typeof value === "number") {
    if (s.minimum !== undefined && value < s.minimum) fail(`below ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) fail(`above ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum)
      fail(`not above ${s.exclusiveMinimum}`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) fail("too few items");
    if (s.maxItems !== undefined && value.length > s.maxItems) fail("too many items");
    if (s.items !== undefined) {
      const items = s.items;
      value.forEach((v, i) => errors.push(...validate(items, v, `${path}[${i}]`)));
    }
  }
  if (actual === "object") {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    if (s.minProperties !== undefined && keys.length < s.minProperties) fail("too few keys");
    if (s.maxProperties !== undefined && keys.length > s.maxProperties) fail("too many keys");
    for (const key of s.required ?? []) if (!(key in object)) fail(`${key} is required`);
    for (const [key, needs] of Object.entries(s.dependentRequired ?? {}))
      if (key in object) for (const n of needs) if (!(n in object)) fail(`${key} needs ${n}`);
    for (const key of keys) {
      const child = s.properties?.[key];
      if (s.propertyNames !== undefined)
        errors.push(...validate(s.propertyNames, key, `${path}.${key} (name)`));
      if (child !== undefined) errors.push(...validate(child, object[key], `${path}.${key}`));
      else if (s.additionalProperties === false) fail(`${key} is not allowed`);
      else if (typeof s.additionalProperties === "object")
        errors.push(...validate(s.additionalProperties, object[key], `${path}.${key}`));
    }
  }
  return errors;
}

const schema = JSON.parse(readFileSync(JOB_SCHEMA_PATH, "utf8")) as Schema;

/** The job files under a directory: JSON or YAML files with a `taskDefinition` (the required field). */
function jobFiles(dir: string): [string, unknown][] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(json|ya?ml)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .map((path): [string, unknown] => [relative(root, path), parseYaml(readFileSync(path, "utf8"))])
    .filter(([, v]) => typeof v === "object" && v !== null && "taskDefinition" in v);
}

/** The JSON and YAML blocks of the docs that hold a job. */
function docJobs(): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const file of ["README.md", ...readdirSync(join(root, "docs")).map((f) => `docs/${f}`)]) {
    if (!file.endsWith(".md")) continue;
    const text = readFileSync(join(root, file), "utf8");
    for (const m of text.matchAll(/^```(json|yaml)\n([\s\S]*?)^```/gm)) {
      const value: unknown = parseYaml(m[2] ?? "");
      if (typeof value === "object" && value !== null && "taskDefinition" in value) {
        out.push([`${file}:${text.slice(0, m.index).split("\n").length}`, value]);
      }
    }
  }
  return out;
}

describe("schema/job.schema.json", () => {
  it("is what scripts/gen-config-docs.ts generates (`npm run docs:config` updates it)", async () => {
    expect(readFileSync(JOB_SCHEMA_PATH, "utf8"), "stale: run `npm run docs:config`").toBe(
      await renderJobSchema(),
    );
  });

  it("uses only keywords this test's validator checks", () => {
    const unknown = [...keywords(schema)].filter((k) => !ASSERTIONS.has(k) && !ANNOTATIONS.has(k));
    expect(unknown).toEqual([]);
  });

  it("accepts every example job: examples/, test fixtures, the docs, a converted Heimdall job", async () => {
    const heimdall = await loadHeimdallFiles({
      command: join(root, "examples/heimdall/command.yaml"),
      cluster: join(root, "examples/heimdall/cluster.yaml"),
      job: join(root, "examples/heimdall/job.json"),
    });
    const jobs = [
      ...jobFiles(join(root, "examples")),
      ...jobFiles(join(root, "test", "fixtures")),
      ...docJobs(),
      [
        "fromHeimdall(examples/heimdall)",
        JSON.parse(JSON.stringify(fromHeimdall({ ...heimdall, jobId: "abc123" }))),
      ],
    ] as [string, unknown][];
    expect(jobs.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        "examples/demo/job.yaml",
        expect.stringMatching(/^docs\/configuration\.md:\d+$/),
        expect.stringMatching(/^docs\/getting-started\.md:\d+$/),
      ]),
    );
    for (const [name, job] of jobs) {
      expect(validate(schema, job), name).toEqual([]);
      // The parser agrees (less the $schema key, which belongs to the file).
      const { $schema: _, ...withoutKey } = job as Record<string, unknown>;
      expect(() => parseJob(withoutKey), name).not.toThrow();
    }
  });

  it("refuses what the parser refuses for structure", () => {
    const base = { taskDefinition: { path: "task-definition.json" } };
    const invalid: [string, unknown][] = [
      ["no taskDefinition", {}],
      ["an unknown field", { ...base, max_fail_count: 2 }],
      ["two definition sources", { taskDefinition: { path: "a.json", arn: "etl:1" } }],
      ["no definition source", { taskDefinition: {} }],
      ["a duration in words", { ...base, timeout: "30 seconds" }],
      ["a negative duration", { ...base, pollInterval: -1 }],
      ["cpu in cores", { ...base, cpu: "1 core" }],
      ["memory in MB", { ...base, memory: "512 MB" }],
      ["subnets and vpcId", { ...base, network: { subnets: ["subnet-1"], vpcId: "vpc-1" } }],
      ["security groups without subnets", { ...base, network: { securityGroups: ["sg-1"] } }],
      ["a launch type", { ...base, launchType: "LAMBDA" }],
      ["a patch op", { ...base, taskCustomizations: [{ op: "merge", path: "/x" }] }],
      ["a fetch policy", { ...base, logs: { fetch: "some" } }],
      ["shouldRetry (code only)", { ...base, retry: { shouldRetry: "() => true" } }],
    ];
    for (const [what, job] of invalid) {
      expect(validate(schema, job), what).not.toEqual([]);
      expect(() => parseJob(job), what).toThrow();
    }
  });

  it("reads durations, cpu and memory strings exactly as the parser does", () => {
    const text = (alphabet: string) =>
      fc.string({ unit: fc.constantFrom(...Array.from(alphabet)), maxLength: 12 });
    const agree = (pattern: string, parse: (s: string) => number | undefined, alphabet: string) =>
      fc.assert(
        fc.property(text(alphabet), (s) => {
          expect(new RegExp(pattern, "u").test(s), JSON.stringify(s)).toBe(parse(s) !== undefined);
        }),
        { numRuns: 3000 },
      );
    agree(JOB_STRING_PATTERNS.duration, parseDuration, "0123456789. nsumhµμ");
    agree(JOB_STRING_PATTERNS.cpu, parseCpu, "0123456789. vcpuVCPU");
    agree(JOB_STRING_PATTERNS.memory, parseMemory, "0123456789. gbGBM");
    for (const ok of ["30s", "2h15m30s", "1.5h", "500ms", "1500", " 1h "])
      expect(new RegExp(JOB_STRING_PATTERNS.duration, "u").test(ok), ok).toBe(true);
  });
});
