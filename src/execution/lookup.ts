/**
 * Finding the task a RunTask may have started when its answer never arrived or could not be
 * read: ListTasks by the request's `startedBy` (running and stopped tasks), then DescribeTasks
 * with tags, matched on the request's own `ecs-batch:*` tags (job, run, index and attempt).
 * This settles an ambiguous launch without sending RunTask again: once a caller has given up on
 * an attempt, a resend would be a request nobody waits for, and a new attempt (a new token)
 * could start a second task beside one already running.
 */
import {
  DescribeTasksCommand,
  ListTasksCommand,
  type DescribeTasksCommandOutput,
  type ListTasksCommandOutput,
  type RunTaskCommandInput,
  type Task,
} from "@aws-sdk/client-ecs";
import { sendFor, type AwsClient } from "../aws.js";
import type { Clock } from "../clock.js";
import { limitedCall, type AdaptiveRateLimiter } from "../aws/rate-limiter.js";

/** What a lookup needs. */
export interface TaskLookupContext {
  readonly ecs: AwsClient;
  readonly clock: Clock;
  /** The DescribeTasks/ListTasks budget (one account bucket for both). */
  readonly limiter: AdaptiveRateLimiter;
}

/** How a lookup ended. */
export type LookupResult =
  /** The tasks the request started (usually none or one), as DescribeTasks shows them. */
  | { readonly ok: true; readonly tasks: readonly Task[] }
  /** The lookup could not be made (no `startedBy` to search by) or kept failing. */
  | { readonly ok: false; readonly error: unknown };

/** The tag prefix of the runner's own tags, which identify an attempt. */
const RUNNER_TAG_PREFIX = "ecs-batch:";
const DESCRIBE_LIMIT = 100;

/**
 * The tasks `request` started, found by its `startedBy` and tags. Each call is retried on
 * throttling and transient errors up to `attempts` times (default 4; `Infinity` until `signal`
 * aborts); `signal` ends the lookup.
 */
export async function findStartedTasks(
  ctx: TaskLookupContext,
  request: Pick<RunTaskCommandInput, "cluster" | "startedBy" | "tags">,
  options: { readonly signal?: AbortSignal; readonly attempts?: number } = {},
): Promise<LookupResult> {
  const startedBy = request.startedBy;
  if (startedBy === undefined || startedBy === "") {
    return { ok: false, error: new Error("the request has no startedBy to look its task up by") };
  }
  const own = (request.tags ?? []).filter((t) => t.key?.startsWith(RUNNER_TAG_PREFIX) === true);
  const wanted = own.length > 0 ? own : (request.tags ?? []);
  const call = <T>(send: () => Promise<unknown>) =>
    limitedCall(ctx.limiter, ctx.clock, send as () => Promise<T>, {
      maxAttempts: options.attempts ?? 4,
      backoffMs: (attempt) => Math.min(5000, 250 * 2 ** attempt),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  const arns: string[] = [];
  for (const desiredStatus of ["RUNNING", "STOPPED"] as const) {
    let nextToken: string | undefined;
    do {
      const input = {
        cluster: request.cluster,
        startedBy,
        desiredStatus,
        maxResults: 100,
        ...(nextToken === undefined ? {} : { nextToken }),
      };
      const page = await call<ListTasksCommandOutput>(() =>
        sendFor<ListTasksCommandOutput>(
          ctx.ecs,
          new ListTasksCommand(input),
          abortOption(options.signal),
        ),
      );
      if (!page.ok) return { ok: false, error: page.error ?? abortedError() };
      // A task can move from RUNNING to STOPPED between the two listings: count it once.
      for (const arn of page.value.taskArns ?? []) if (!arns.includes(arn)) arns.push(arn);
      nextToken = page.value.nextToken;
    } while (nextToken !== undefined);
  }
  const tasks: Task[] = [];
  for (let i = 0; i < arns.length; i += DESCRIBE_LIMIT) {
    const batch = arns.slice(i, i + DESCRIBE_LIMIT);
    const out = await call<DescribeTasksCommandOutput>(() =>
      sendFor<DescribeTasksCommandOutput>(
        ctx.ecs,
        new DescribeTasksCommand({ cluster: request.cluster, tasks: batch, include: ["TAGS"] }),
        abortOption(options.signal),
      ),
    );
    if (!out.ok) return { ok: false, error: out.error ?? abortedError() };
    for (const task of out.value.tasks ?? []) {
      const tags = task.tags ?? [];
      if (wanted.every((w) => tags.some((t) => t.key === w.key && t.value === w.value))) {
        tasks.push(task);
      }
    }
  }
  return { ok: true, tasks };
}

function abortOption(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } | undefined {
  // A read cancelled mid-flight hides nothing: the signal may end it at once.
  return signal === undefined ? undefined : { abortSignal: signal };
}

function abortedError(): Error {
  const error = new Error("the lookup was abandoned");
  error.name = "AbortError";
  return error;
}
