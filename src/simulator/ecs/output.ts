/**
 * Helpers every ECS action's output uses: shared state frozen so outputs can hand it out
 * without copying, and `maxResults`/`nextToken` paging of list actions.
 */
import { serviceError } from "../errors.js";

/** Freezes a value and everything in it, so outputs can share it without copying. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** One page of `items` under `key`, with a `nextToken` when more follow (at most 100 a page). */
export function paginate(
  items: string[],
  input: Record<string, unknown>,
  key: string,
): Record<string, unknown> {
  const max = input.maxResults === undefined ? 100 : Number(input.maxResults);
  if (!Number.isInteger(max) || max < 1 || max > 100)
    throw serviceError("InvalidParameterException", "maxResults must be between 1 and 100.");
  const start =
    typeof input.nextToken === "string"
      ? Number(Buffer.from(input.nextToken, "base64").toString())
      : 0;
  const page = items.slice(start, start + max);
  return {
    [key]: page,
    ...(start + max < items.length
      ? { nextToken: Buffer.from(String(start + max)).toString("base64") }
      : {}),
  };
}
