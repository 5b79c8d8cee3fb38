/**
 * RFC 6902 customizations of the RunTask input (the escape hatch for every RunTask field this
 * library does not model). Validated against a real request before any AWS call, so a typo in
 * a path fails the job up front instead of failing every launch.
 */
import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import jsonpatch from "fast-json-patch";
import type { ValidationIssue } from "../errors.js";
import type { PatchOperation } from "../job/schema.js";

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

/**
 * Checks that every operation applies, in order, to `sample` (a RunTask input built for the
 * first task). Returns one issue naming the first failing operation's index, or none.
 */
export function validateCustomizations(
  operations: readonly PatchOperation[],
  sample: RunTaskCommandInput,
): ValidationIssue[] {
  // One operation at a time: fast-json-patch's validate() reports every failure as index 0.
  let doc: unknown = structuredClone(sample);
  for (const [index, op] of operations.entries()) {
    try {
      doc = jsonpatch.applyOperation(
        doc,
        structuredClone(op) as jsonpatch.Operation,
        true,
        true,
        true,
        index,
      ).newDocument;
    } catch (err) {
      if (!(err instanceof jsonpatch.JsonPatchError)) throw err;
      return [
        {
          path: `taskCustomizations[${index}]`,
          message: `${op.op} ${op.path}: ${PATCH_ERRORS[err.name] ?? err.message}`,
        },
      ];
    }
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
