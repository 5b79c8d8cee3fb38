/**
 * What both naive strategies share. They are written for the benchmark only, after the way the
 * reference implementations work (Prefect's `ECSTask`, Heimdall's ECS plugin): one RunTask per
 * task with no `clientToken`, an SDK client's default retries under a fixed retry of their own,
 * and the job semantics of DESIGN 3 (retries per task, stop everything when one gives up) so
 * that they do the same work as our runner.
 */
import {
  DescribeTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type DescribeTasksCommandOutput,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  type Task,
} from "@aws-sdk/client-ecs";
import { sleepUnlessAborted } from "../../src/clock.js";
import {
  awsErrorName,
  isThrottlingError,
  isTransientError,
  type AwsClient,
  type AwsCommand,
  type Clock,
} from "../../src/index.js";
import type { TaskTimes } from "../metrics.js";
import { WORKLOAD } from "../workload.js";

/** Fixed retries of the naive strategies: tries after the first, and the wait between tries. */
export const FIXED_RETRIES = 3;
export const FIXED_RETRY_DELAY_MS = 1000;

/** What a naive runner needs. */
export interface NaiveContext {
  readonly ecs: AwsClient;
  readonly clock: Clock;
  readonly random: () => number;
  /** Registered beforehand: the naive runners do not register definitions. */
  readonly taskDefinitionArn: string;
  readonly subnets: readonly string[];
  readonly times: TaskTimes;
}

/**
 * One call with the AWS SDK v3 standard retry mode: 3 attempts, exponential backoff with full
 * jitter (base 100 ms, 500 ms after throttling, at most 20 s), for throttling and 5xx errors.
 */
export async function sdkSend<T>(ctx: NaiveContext, command: AwsCommand): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await ctx.ecs.send(command)) as T;
    } catch (error) {
      if (attempt >= 3 || !isTransientError(error)) throw error;
      const base = isThrottlingError(error) ? 500 : 100;
      await ctx.clock.sleep(Math.floor(Math.min(20_000, ctx.random() * 2 ** attempt * base)));
    }
  }
}

/**
 * RunTask with the naive fixed retry: when the SDK gives up, wait a second and send the request
 * again, up to `FIXED_RETRIES` times; then the error is the job's.
 */
export async function runTaskWithFixedRetries(
  ctx: NaiveContext,
  input: RunTaskCommandInput,
): Promise<RunTaskCommandOutput> {
  for (let retry = 0; ; retry++) {
    try {
      return await sdkSend<RunTaskCommandOutput>(ctx, new RunTaskCommand(input));
    } catch (error) {
      if (retry >= FIXED_RETRIES || !isTransientError(error)) throw error;
      await ctx.clock.sleep(FIXED_RETRY_DELAY_MS);
    }
  }
}

/** DescribeTasks; `undefined` when it failed even after the SDK's retries (the poll is lost). */
export async function describeTasks(
  ctx: NaiveContext,
  arns: readonly string[],
): Promise<Task[] | undefined> {
  try {
    const out = await sdkSend<DescribeTasksCommandOutput>(
      ctx,
      new DescribeTasksCommand({ cluster: "default", tasks: [...arns] }),
    );
    return out.tasks ?? [];
  } catch {
    return undefined;
  }
}

/**
 * Stops tasks one by one and moves on, ignoring errors (as the references do). Returns how many
 * could not be stopped: those are left running.
 */
export async function stopAll(ctx: NaiveContext, arns: Iterable<string>): Promise<number> {
  let failed = 0;
  for (const arn of [...arns]) {
    await sdkSend(
      ctx,
      new StopTaskCommand({ cluster: "default", task: arn, reason: "job failed" }),
    ).catch(() => failed++);
  }
  return failed;
}

/** The RunTask input of one attempt: the same tags and variables our runner sends, no token. */
export function runTaskInput(
  ctx: NaiveContext,
  jobId: string,
  index: number,
  attempt: number,
  taskCount: number,
): RunTaskCommandInput {
  const name = `naive-${jobId}-${String(index)}`;
  return {
    cluster: "default",
    taskDefinition: ctx.taskDefinitionArn,
    launchType: "FARGATE",
    count: 1,
    startedBy: name,
    networkConfiguration: {
      awsvpcConfiguration: { subnets: [...ctx.subnets], assignPublicIp: "ENABLED" },
    },
    overrides: {
      containerOverrides: [
        {
          name: "main",
          environment: [
            { name: "TASK_NAME", value: name },
            { name: "TASK_NUM", value: String(index) },
            { name: "TASK_COUNT", value: String(taskCount) },
            { name: "TASK_ATTEMPT", value: String(attempt) },
          ],
        },
      ],
    },
    tags: [
      { key: "ecs-batch:job-id", value: jobId },
      { key: "ecs-batch:task-index", value: String(index) },
      { key: "ecs-batch:attempt", value: String(attempt) },
    ],
  };
}

/** A STOPPED task succeeded when its essential container exited 0. */
export function succeeded(task: Task): boolean {
  return task.containers?.find((c) => c.name === "main")?.exitCode === 0;
}

/** The error text a failed naive job reports. */
export function errorText(error: unknown): string {
  return `${awsErrorName(error)}: ${error instanceof Error ? error.message : String(error)}`;
}

/** Application retries a slot gets (same as our runner's `maxFailCount`). */
export const MAX_FAIL_COUNT = WORKLOAD.maxFailCount;

/** Waits `ms`, or less if `signal` aborts; never rejects. */
export function pause(ctx: NaiveContext, ms: number, signal?: AbortSignal): Promise<boolean> {
  return sleepUnlessAborted(ctx.clock, ms, signal);
}
