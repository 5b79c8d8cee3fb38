/**
 * Names, tags and idempotency tokens of a job's tasks (DESIGN 3.1). Pure functions: the same
 * inputs always give the same names, which is what lets a restarted host find its tasks again.
 */
import * as crypto from "node:crypto";
import type { Tag } from "@aws-sdk/client-ecs";
import { ECS_LIMITS } from "../aws/limits.js";

/** Environment variables the runner sets in every container; the last word on their values. */
export const INJECTED_VARIABLES = ["TASK_NAME", "TASK_NUM", "TASK_COUNT", "TASK_ATTEMPT"] as const;

/** Tag keys the runner adds to every task. */
export const RUNNER_TAG_KEYS = {
  jobId: "ecs-batch:job-id",
  taskIndex: "ecs-batch:task-index",
  attempt: "ecs-batch:attempt",
  runId: "ecs-batch:run-id",
  deadline: "ecs-batch:deadline",
} as const;

/** A tag's value on a task (or anything tagged), `undefined` when it has none. */
export function tagValue(
  tagged: { readonly tags?: readonly { key?: string; value?: string }[] },
  key: string,
): string | undefined {
  return tagged.tags?.find((t) => t.key === key)?.value;
}

/** The run, slot and attempt a task's runner tags name; `undefined` without them. */
export function runnerTagsOf(tagged: {
  readonly tags?: readonly { key?: string; value?: string }[];
}): { readonly runId: string; readonly index: number; readonly attempt: number } | undefined {
  const runId = tagValue(tagged, RUNNER_TAG_KEYS.runId);
  const index = Number(tagValue(tagged, RUNNER_TAG_KEYS.taskIndex));
  const attempt = Number(tagValue(tagged, RUNNER_TAG_KEYS.attempt));
  if (runId === undefined || !Number.isInteger(index) || !Number.isInteger(attempt)) {
    return undefined;
  }
  return { runId, index, attempt };
}

/** A name/value pair, as ECS writes environment variables. */
interface NameValue {
  name: string;
  value: string;
}

/** `${prefix}-${jobId}-${index}`: the task's name, RunTask `startedBy` and `TASK_NAME`. */
export function taskName(prefix: string, jobId: string, index: number): string {
  // `join` builds one flat string; a template literal builds a tree of string pieces, and a
  // job keeps one name per task for its whole life.
  return [prefix, jobId, index].join("-");
}

/**
 * The RunTask `clientToken` of one attempt of one run: readable where it can be (job id,
 * index, attempt) and made unique by a hash of the job id, run id, index and attempt, at most
 * 64 characters. Sending the same attempt twice (after a lost response, say) returns the task
 * already started instead of a second one. ECS remembers tokens for 24 hours per cluster; the
 * run id keeps a second run of the same job (same job id) from being handed the first run's
 * tasks. Without a run id the token is the one of earlier versions (job id, index, attempt).
 */
export function clientToken(jobId: string, index: number, attempt: number, runId?: string): string {
  const key =
    runId === undefined
      ? `${jobId}\u0000${index}\u0000${attempt}`
      : `${jobId}\u0000${runId}\u0000${index}\u0000${attempt}`;
  const readable = `${jobId.slice(0, 24)}-${index}-${attempt}-`;
  return (readable + sha256Hex(key)).slice(0, ECS_LIMITS.clientTokenMaxLength);
}

const RUN_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/**
 * A fresh run id: the start time in base 36 (8 characters, so ids sort by start time until
 * 2059) and 8 characters from `random`, e.g. `mibq2x4k-7f3kq0za`.
 */
export function generateRunId(now: number, random: () => number): string {
  let suffix = "";
  for (let i = 0; i < 8; i++) {
    suffix += RUN_ID_ALPHABET.charAt(
      Math.floor(random() * RUN_ID_ALPHABET.length) % RUN_ID_ALPHABET.length,
    );
  }
  return `${Math.max(0, Math.floor(now)).toString(36).padStart(8, "0").slice(-8)}-${suffix}`;
}

/** What a run id given by a caller may look like: the characters of a job id. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

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
}): NameValue[] {
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
  runId?: string,
): Tag[] {
  return [...jobTags(userTags, jobId, runId), ...attemptTags(index, attempt)];
}

/**
 * The tags every task of a run carries alike: the user's, the job id, the run id and the run's
 * deadline (ISO 8601), which let any process find a run's tasks and when they must end.
 */
export function jobTags(
  userTags: Readonly<Record<string, string>>,
  jobId: string,
  runId?: string,
  deadline?: number,
): Tag[] {
  const tags: Tag[] = [];
  for (const [key, value] of Object.entries(userTags)) tags.push({ key, value });
  tags.push({ key: RUNNER_TAG_KEYS.jobId, value: jobId });
  if (runId !== undefined) tags.push({ key: RUNNER_TAG_KEYS.runId, value: runId });
  if (deadline !== undefined) {
    tags.push({ key: RUNNER_TAG_KEYS.deadline, value: new Date(deadline).toISOString() });
  }
  return tags;
}

/** The tags that differ per attempt, after `jobTags`: the task's index and the attempt. */
export function attemptTags(index: number, attempt: number): Tag[] {
  return [
    { key: RUNNER_TAG_KEYS.taskIndex, value: String(index) },
    { key: RUNNER_TAG_KEYS.attempt, value: String(attempt) },
  ];
}
