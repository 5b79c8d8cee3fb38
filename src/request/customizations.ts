/**
 * RFC 6902 customizations of the RunTask input (the escape hatch for every RunTask field this
 * library does not model). Validated against a real request before any AWS call, so a typo in
 * a path fails the job up front instead of failing every launch.
 *
 * A customization may tune the request (network, capacity provider strategy, platform version,
 * propagateTags, enableExecuteCommand, the user's own overrides) but not what the runner relies
 * on (DESIGN 3.3a): the fields in `RUNNER_FIELDS`, the `ecs-batch:` tags and the injected
 * `TASK_*` variables. Breaking one would start tasks the runner does not track, stop tasks in
 * the wrong cluster or lose idempotency, so such an operation is refused by name.
 */
import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import jsonpatch from "fast-json-patch";
import type { ValidationIssue } from "../errors.js";
import type { PatchOperation } from "../job/schema.js";
import { INJECTED_VARIABLES } from "./naming.js";

/** Messages for fast-json-patch's error names, phrased as what to change. */
const PATCH_ERRORS: Record<string, string> = {
  OPERATION_PATH_UNRESOLVABLE:
    "the path does not exist in the RunTask input; check it against the preview",
  OPERATION_FROM_UNRESOLVABLE:
    "the from path does not exist in the RunTask input; check it against the preview",
  OPERATION_PATH_CANNOT_ADD:
    "cannot add at this path (its parent does not exist); add the parent first",
  OPERATION_PATH_ILLEGAL_ARRAY_INDEX: "the array index is not a number or '-'",
  OPERATION_VALUE_OUT_OF_BOUNDS: "the array index is past the end of the array",
  OPERATION_VALUE_REQUIRED: "needs a value",
  OPERATION_VALUE_CANNOT_CONTAIN_UNDEFINED: "the value must not contain undefined",
  TEST_OPERATION_FAILED: "the test operation does not match the RunTask input",
  OPERATION_OP_INVALID: 'op must be one of "add", "remove", "replace", "move", "copy", "test"',
  OPERATION_PATH_INVALID: "path must be a JSON pointer string",
};

/** Top-level RunTask fields the runner sets and relies on: why, and what to do instead. */
const RUNNER_FIELDS: ReadonlyMap<string, string> = new Map([
  [
    "cluster",
    "the runner watches and stops its tasks in the job's cluster; set cluster in the job instead",
  ],
  [
    "count",
    "the runner starts one task per RunTask and tracks only that one; set taskCount in the job instead",
  ],
  [
    "clientToken",
    "the runner derives it per attempt so that a resent RunTask never starts a second task; remove the operation",
  ],
  [
    "startedBy",
    "it is the task name the runner finds its tasks by; set taskNamePrefix in the job instead",
  ],
  [
    "taskDefinition",
    "the runner registered or described this definition and checked the job against it; set taskDefinition in the job instead",
  ],
]);

/** Every tag with this prefix is the runner's, whatever its key: the set grows between versions. */
const RUNNER_TAG_PREFIX = "ecs-batch:";

const INJECTED = new Set<string>(INJECTED_VARIABLES);

/** Path segments JavaScript objects treat specially; fast-json-patch throws a raw TypeError on some. */
const UNSAFE_SEGMENTS = new Set(["__proto__", "constructor", "prototype"]);

/** Options of `validateCustomizations`. */
export interface ValidateCustomizationsOptions {
  /**
   * JSON pointers whose values in the sample are stand-ins for what only AWS or the run can
   * tell (an inferred network, the ARN of a definition still to be registered). An operation
   * that touches one and does not apply is not reported: check it again against the real
   * request.
   */
  readonly unresolved?: readonly string[];
}

/**
 * Checks that every operation applies, in order, to `sample` (a RunTask input built for one
 * task) and leaves what the runner relies on as it was built. Returns an issue per operation
 * whose path the runner reserves or that touches `__proto__`, `constructor` or `prototype`;
 * otherwise at most one, for the first operation that does not apply or breaks the request.
 * `test` operations only read, so they may name any path.
 */
export function validateCustomizations(
  operations: readonly PatchOperation[],
  sample: RunTaskCommandInput,
  options: ValidateCustomizationsOptions = {},
): ValidationIssue[] {
  const reserved = operations.flatMap((op, index) => {
    const problem = reservedPathProblem(op);
    return problem === undefined ? [] : [issue(index, `${describe(op)}: ${problem}`)];
  });
  if (reserved.length > 0) return reserved;
  const unresolved = options.unresolved ?? [];
  // One operation at a time: fast-json-patch's validate() reports every failure as index 0, and
  // the runner's fields are checked after each operation so the issue names the one to blame.
  let doc: unknown = structuredClone(sample);
  for (const [index, op] of operations.entries()) {
    const deferrable = touchesAny(op, unresolved);
    // A deferred operation must leave no half-applied change behind (a move's remove, say).
    const before = deferrable ? structuredClone(doc) : doc;
    let next: unknown;
    try {
      next = jsonpatch.applyOperation(
        doc,
        structuredClone(op) as jsonpatch.Operation,
        true,
        true,
        true,
        index,
      ).newDocument;
    } catch (err) {
      if (deferrable) {
        doc = before;
        continue;
      }
      return [issue(index, `${describe(op)}: ${patchErrorMessage(err)}`)];
    }
    if (op.op !== "test") {
      const broken = checkRunnerFields(sample, next);
      if (broken !== undefined) return [issue(index, `${describe(op)}: ${broken}`)];
    }
    doc = next;
  }
  return [];
}

/** Applies the operations to a RunTask input and returns the new input; the argument is untouched. */
export function applyCustomizations(
  input: RunTaskCommandInput,
  operations: readonly PatchOperation[],
): RunTaskCommandInput {
  if (operations.length === 0) return input;
  return jsonpatch.applyPatch(
    structuredClone(input),
    structuredClone(operations) as jsonpatch.Operation[],
    true,
    true,
  ).newDocument;
}

/**
 * Compares a customized RunTask input with the one the runner built and says what the
 * customization broke, or returns `undefined`: a runner field changed, an `ecs-batch:` tag
 * removed, changed or added, an injected variable of a container removed, changed or set again.
 * Linear in the tags and variables, so it is cheap enough to run on every request. Never
 * mentions a variable's value.
 */
export function checkRunnerFields(
  built: RunTaskCommandInput,
  customized: unknown,
): string | undefined {
  const after = isRecord(customized) ? customized : {};
  const original: Record<string, unknown> = { ...built };
  for (const [field, why] of RUNNER_FIELDS) {
    if (!Object.is(original[field], after[field])) {
      return `it would change /${field}, which the runner relies on: ${why}`;
    }
  }
  const tag = firstDifference(runnerTags(built.tags), runnerTags(after.tags));
  if (tag !== undefined) {
    return tag.added
      ? `it would add a tag "${tag.label}"; the "${RUNNER_TAG_PREFIX}" prefix is reserved for the runner's own tags, so rename the tag`
      : `it would remove or change the runner's tag "${tag.label}"; the runner finds and tracks its tasks by its "${RUNNER_TAG_PREFIX}" tags, so leave them as built (give your own tags in the job's tags, or append them with add /tags/-)`;
  }
  const overrides = isRecord(after.overrides) ? after.overrides.containerOverrides : undefined;
  const variable = firstDifference(
    injectedVariables(built.overrides?.containerOverrides),
    injectedVariables(overrides),
  );
  if (variable !== undefined) {
    const names = INJECTED_VARIABLES.join(", ");
    return variable.added
      ? `it would set ${variable.label}, a name the runner reserves: it sets ${names} in every container; name your variable differently`
      : `it would remove or change ${variable.label}; the runner sets ${names} in every container and the task relies on them, so leave them as built (add your own variables under other names)`;
  }
  return undefined;
}

/** Why an operation's path is off limits before it is even applied, or `undefined`. */
function reservedPathProblem(op: PatchOperation): string | undefined {
  const pointers = op.op === "move" || op.op === "copy" ? [op.from, op.path] : [op.path];
  const unsafe = pointers.flatMap(segments).find((s) => UNSAFE_SEGMENTS.has(s));
  if (unsafe !== undefined) {
    return `a path must not contain "${unsafe}": the RunTask input has no such field, and JavaScript objects give it a special meaning; remove the operation`;
  }
  if (op.op === "test") return undefined;
  // Only `move` takes something away at `from`; `copy` reads it.
  const written = op.op === "move" ? [op.from, op.path] : [op.path];
  for (const pointer of written) {
    const [top] = segments(pointer);
    if (top === undefined) {
      return "it would replace or remove the whole RunTask input, including the fields the runner relies on; patch the fields you mean instead, such as /enableExecuteCommand";
    }
    const why = RUNNER_FIELDS.get(top);
    if (why !== undefined) return `it would change /${top}, which the runner relies on: ${why}`;
  }
  return undefined;
}

/** Whether one of the operation's pointers is, contains or lies under one of `pointers`. */
function touchesAny(op: PatchOperation, pointers: readonly string[]): boolean {
  if (pointers.length === 0) return false;
  const own = op.op === "move" || op.op === "copy" ? [op.from, op.path] : [op.path];
  return own.some((p) =>
    pointers.some((u) => p === u || p.startsWith(`${u}/`) || u.startsWith(`${p}/`)),
  );
}

/** The decoded segments of a JSON pointer (RFC 6901: `~1` is `/`, `~0` is `~`). */
function segments(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function describe(op: PatchOperation): string {
  return op.op === "move" || op.op === "copy"
    ? `${op.op} ${op.from} to ${op.path}`
    : `${op.op} ${op.path}`;
}

function issue(index: number, message: string): ValidationIssue {
  return { path: `taskCustomizations[${index}]`, message };
}

function patchErrorMessage(err: unknown): string {
  if (err instanceof jsonpatch.JsonPatchError) return PATCH_ERRORS[err.name] ?? err.message;
  // Not a patch error: a value that cannot be copied, such as a function.
  return `the operation cannot be applied (${err instanceof Error ? err.message : String(err)}); give a JSON value`;
}

/** What a request carries of one reserved kind: a label for messages and every value, in order. */
type Reserved = Map<string, { readonly label: string; readonly values: unknown[] }>;

function record(into: Reserved, key: string, label: string, value: unknown): void {
  const entry = into.get(key);
  if (entry === undefined) into.set(key, { label, values: [value] });
  else entry.values.push(value);
}

/** The `ecs-batch:` tags of a request's `tags`, by key. */
function runnerTags(tags: unknown): Reserved {
  const out: Reserved = new Map();
  if (!Array.isArray(tags)) return out;
  for (const tag of tags) {
    if (isRecord(tag) && typeof tag.key === "string" && tag.key.startsWith(RUNNER_TAG_PREFIX)) {
      record(out, tag.key, tag.key, tag.value);
    }
  }
  return out;
}

/** The injected variables of every container override, by container and variable name. */
function injectedVariables(containerOverrides: unknown): Reserved {
  const out: Reserved = new Map();
  if (!Array.isArray(containerOverrides)) return out;
  for (const override of containerOverrides) {
    if (!isRecord(override) || !Array.isArray(override.environment)) continue;
    const container = typeof override.name === "string" ? override.name : "(unnamed)";
    for (const variable of override.environment) {
      if (isRecord(variable) && typeof variable.name === "string" && INJECTED.has(variable.name)) {
        record(
          out,
          JSON.stringify([container, variable.name]),
          `${variable.name} in container "${container}"`,
          variable.value,
        );
      }
    }
  }
  return out;
}

/** The first entry `after` lacks, holds with other values, or holds and `before` does not. */
function firstDifference(
  before: Reserved,
  after: Reserved,
): { label: string; added: boolean } | undefined {
  for (const [key, { label, values }] of before) {
    const now = after.get(key)?.values;
    if (
      now === undefined ||
      now.length !== values.length ||
      now.some((v, i) => !Object.is(v, values[i]))
    ) {
      return { label, added: now !== undefined && now.length > values.length };
    }
  }
  for (const [key, { label }] of after) if (!before.has(key)) return { label, added: true };
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
