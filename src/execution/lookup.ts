/**
 * Finding the task a RunTask may have started when its answer never arrived or could not be
 * read: ListTasks by the request's `startedBy` (running and stopped tasks), then DescribeTasks
 * with tags, matched on the request's own `ecs-batch:*` tags (job, run, index and attempt).
 * This settles an ambiguous launch without sending RunTask again: once a caller has given up on
 * an attempt, a resend would be a request nobody waits for, and a new attempt (a new token)
 * could start a second task beside one already running.
 */
import type {
  DescribeTasksCommandOutput,
  ListTasksCommandOutput,
  RunTaskCommandInput,
  Task,
} from "@aws-sdk/client-ecs";
import { ecsSdk } from "../aws/sdk.js";
import { sendFor, type AwsClient } from "../aws.js";
import { sleepUnlessAborted, type Clock } from "../clock.js";
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
const PAGE = 100;

/** How many calls a search made (the attach cost target counts them). */
export interface SearchCost {
  listCalls: number;
  describeCalls: number;
}

/** Which tasks to list: ListTasks' own filters. */
export interface TaskListing {
  readonly cluster: string | undefined;
  readonly family?: string;
  readonly startedBy?: string;
  /** Stopped tasks too (ECS keeps them about an hour). */
  readonly stopped: boolean;
}

/** How the calls of a search are made. */
export interface SearchOptions {
  readonly signal?: AbortSignal;
  /** Attempts per call on throttling and transient errors. Default 4; `Infinity` until `signal` aborts. */
  readonly attempts?: number;
  readonly cost?: SearchCost;
}

type Searched<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** What a listing found. */
export interface ListedTasks {
  /** Each task once, those listed as desired RUNNING first. */
  readonly arns: string[];
  /** The tasks listed only as desired STOPPED: stopped, or being stopped. */
  readonly stopping: ReadonlySet<string>;
}

/**
 * The tasks a listing names, each once: a task can move from RUNNING to STOPPED between the two
 * listings. Pages of 100.
 */
export async function listTaskArns(
  ctx: TaskLookupContext,
  listing: TaskListing,
  options: SearchOptions = {},
): Promise<Searched<ListedTasks>> {
  const arns: string[] = [];
  const seen = new Set<string>();
  const stopping = new Set<string>();
  const statuses = listing.stopped ? (["RUNNING", "STOPPED"] as const) : (["RUNNING"] as const);
  for (const desiredStatus of statuses) {
    let nextToken: string | undefined;
    do {
      const input = {
        cluster: listing.cluster,
        desiredStatus,
        maxResults: PAGE,
        ...(listing.family === undefined ? {} : { family: listing.family }),
        ...(listing.startedBy === undefined ? {} : { startedBy: listing.startedBy }),
        ...(nextToken === undefined ? {} : { nextToken }),
      };
      if (options.cost !== undefined) options.cost.listCalls++;
      const page = await searchCall<ListTasksCommandOutput>(ctx, options, (abort) =>
        sendFor<ListTasksCommandOutput>(ctx.ecs, new (ecsSdk().ListTasksCommand)(input), abort),
      );
      if (!page.ok) return page;
      for (const arn of page.value.taskArns ?? []) {
        if (!seen.has(arn)) {
          seen.add(arn);
          arns.push(arn);
          if (desiredStatus === "STOPPED") stopping.add(arn);
        }
      }
      nextToken = page.value.nextToken;
    } while (nextToken !== undefined);
  }
  return { ok: true, value: { arns, stopping } };
}

/** The tasks of `arns` with their tags, 100 per DescribeTasks. */
export async function describeWithTags(
  ctx: TaskLookupContext,
  cluster: string | undefined,
  arns: readonly string[],
  options: SearchOptions = {},
): Promise<Searched<Task[]>> {
  const tasks: Task[] = [];
  for (let i = 0; i < arns.length; i += PAGE) {
    const batch = arns.slice(i, i + PAGE);
    if (options.cost !== undefined) options.cost.describeCalls++;
    const out = await searchCall<DescribeTasksCommandOutput>(ctx, options, (abort) =>
      sendFor<DescribeTasksCommandOutput>(
        ctx.ecs,
        new (ecsSdk().DescribeTasksCommand)({ cluster, tasks: batch, include: ["TAGS"] }),
        abort,
      ),
    );
    if (!out.ok) return out;
    tasks.push(...(out.value.tasks ?? []));
  }
  return { ok: true, value: tasks };
}

/**
 * The task a lookup settles an attempt with: one not yet stopped if there is one (a request
 * normally starts one task), else the first found.
 */
export function settlingTask(tasks: readonly Task[]): Task | undefined {
  return tasks.find((t) => t.lastStatus !== "STOPPED") ?? tasks[0];
}

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
  const arns = await listTaskArns(
    ctx,
    { cluster: request.cluster, startedBy, stopped: true },
    options,
  );
  if (!arns.ok) return arns;
  const described = await describeWithTags(ctx, request.cluster, arns.value.arns, options);
  if (!described.ok) return described;
  const all = described.value;
  // A task listed as running that DescribeTasks does not show (MISSING) is one ECS has not
  // caught up with: its tags are unknown, so "no task of the request" cannot be concluded, and
  // a caller that did would start a second task beside it. Described again a few times.
  let unseen = unseenRunning(arns.value, all);
  for (const ms of MISSING_WAITS_MS) {
    if (unseen.length === 0) break;
    if (!(await sleepUnlessAborted(ctx.clock, ms, options.signal))) {
      return { ok: false, error: abortedError() };
    }
    const again = await describeWithTags(ctx, request.cluster, unseen, options);
    if (!again.ok) return again;
    all.push(...again.value);
    unseen = unseenRunning(arns.value, all);
  }
  const tasks = all.filter((task) => {
    const tags = task.tags ?? [];
    return wanted.every((w) => tags.some((t) => t.key === w.key && t.value === w.value));
  });
  if (unseen.length > 0 && settlingTask(tasks) === undefined) {
    return {
      ok: false,
      error: new Error(
        `ECS lists ${unseen.join(", ")} as running under startedBy ${startedBy} but does not describe ${unseen.length === 1 ? "it" : "them"} (MISSING)`,
      ),
    };
  }
  return { ok: true, tasks };
}

/** How long to wait before each new look at tasks listed but not described. */
const MISSING_WAITS_MS = [1000, 2000, 4000];

/** The tasks `listed` as running that `described` does not hold. */
function unseenRunning(listed: ListedTasks, described: readonly Task[]): string[] {
  const shown = new Set(described.map((t) => t.taskArn));
  return listed.arns.filter((arn) => !listed.stopping.has(arn) && !shown.has(arn));
}

async function searchCall<T>(
  ctx: TaskLookupContext,
  options: SearchOptions,
  send: (abort: { abortSignal?: AbortSignal } | undefined) => Promise<T>,
): Promise<Searched<T>> {
  // A read cancelled mid-flight hides nothing: the signal may end it at once.
  const abort = options.signal === undefined ? undefined : { abortSignal: options.signal };
  const out = await limitedCall(ctx.limiter, ctx.clock, () => send(abort), {
    maxAttempts: options.attempts ?? 4,
    backoffMs: (attempt) => Math.min(5000, 250 * 2 ** attempt),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return out.ok ? out : { ok: false, error: out.error ?? abortedError() };
}

function abortedError(): Error {
  const error = new Error("the lookup was abandoned");
  error.name = "AbortError";
  return error;
}
