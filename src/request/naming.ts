/**
 * Names, tags and idempotency tokens of a job's tasks (DESIGN 3.1). Pure functions: the same
 * inputs always give the same names, which is what lets a restarted host find its tasks again.
 */
import * as crypto from "node:crypto";
import type { Tag } from "@aws-sdk/client-ecs";
import { ECS_LIMITS, RUNNER_TAG_KEYS, type KeyValuePair } from "../job/schema.js";

/** `${prefix}-${jobId}-${index}`: the task's name, RunTask `startedBy` and `TASK_NAME`. */
export function taskName(prefix: string, jobId: string, index: number): string {
  // `join` builds one flat string; a template literal builds a tree of string pieces, and a
  // job keeps one name per task for its whole life.
  return [prefix, jobId, index].join("-");
}

/**
 * The RunTask `clientToken` of one attempt: readable where it can be (job id, index,
 * attempt) and made unique by a hash of all three, at most 64 characters. Sending the same
 * attempt twice (after a lost response, say) returns the task already started instead of a
 * second one. ECS remembers tokens for 24 hours per cluster, so a job id must not be reused
 * for another run within a day.
 */
export function clientToken(jobId: string, index: number, attempt: number): string {
  const hash = sha256Hex(`${jobId}\u0000${index}\u0000${attempt}`);
  const readable = `${jobId.slice(0, 24)}-${index}-${attempt}-`;
  return (readable + hash).slice(0, ECS_LIMITS.clientTokenMaxLength);
}

/** Node's one-shot `crypto.hash` (20.12 and later): no Hash object per token. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "hex") => string })
  .hash;

function sha256Hex(text: string): string {
  return oneShot !== undefined
    ? oneShot("sha256", text, "hex")
    : crypto.createHash("sha256").update(text).digest("hex");
}

/** The environment the runner injects into every container of a task. */
export function injectedEnvironment(context: {
  taskName: string;
  index: number;
  taskCount: number;
  attempt: number;
}): KeyValuePair[] {
  return [
    { name: "TASK_NAME", value: context.taskName },
    { name: "TASK_NUM", value: String(context.index) },
    { name: "TASK_COUNT", value: String(context.taskCount) },
    { name: "TASK_ATTEMPT", value: String(context.attempt) },
  ];
}

/** The user's tags plus the runner's `ecs-batch:*` tags, as RunTask takes them. */
export function taskTags(
  userTags: Readonly<Record<string, string>>,
  jobId: string,
  index: number,
  attempt: number,
): Tag[] {
  return [...jobTags(userTags, jobId), ...attemptTags(index, attempt)];
}

/** The tags every task of a job carries alike: the user's, then the job id. */
export function jobTags(userTags: Readonly<Record<string, string>>, jobId: string): Tag[] {
  return [
    ...Object.entries(userTags).map(([key, value]) => ({ key, value })),
    { key: RUNNER_TAG_KEYS.jobId, value: jobId },
  ];
}

/** The tags that differ per attempt, after `jobTags`: the task's index and the attempt. */
export function attemptTags(index: number, attempt: number): Tag[] {
  return [
    { key: RUNNER_TAG_KEYS.taskIndex, value: String(index) },
    { key: RUNNER_TAG_KEYS.attempt, value: String(attempt) },
  ];
}
