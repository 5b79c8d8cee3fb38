/**
 * Naive strategy 1: one DescribeTasks call per task per poll, the way Prefect's `ECSTask`
 * watches a task (`describe_tasks(tasks=[task_arn])`, then `sleep(poll_interval)`, in a loop per
 * task). Only the watching is naive: launches are paced like ours (the runner's default RunTask
 * bucket, 20/s with a burst of 20, shared by every job), so its jobs finish and the difference
 * measured is the polling alone. A poll that still fails after the SDK's retries is skipped
 * (Prefect would raise; skipping is the kinder reading).
 */
import { setMaxListeners } from "node:events";
import type { Task } from "@aws-sdk/client-ecs";
import { AdaptiveRateLimiter } from "../../src/index.js";
import type { Env } from "../env.js";
import { TaskTimes, type JobOutcome, type RunRecord } from "../metrics.js";
import { jobIds, WORKLOAD, type Scenario } from "../workload.js";
import {
  describeTasks,
  errorText,
  FIXED_RETRIES,
  FIXED_RETRY_DELAY_MS,
  MAX_FAIL_COUNT,
  pause,
  runTaskInput,
  runTaskWithFixedRetries,
  stopAll,
  succeeded,
  type NaiveContext,
} from "./common.js";

interface JobState {
  readonly jobId: string;
  readonly running: Set<string>;
  readonly failed: AbortController;
  error?: string;
  attempts: number;
}

export async function runNaivePerTaskPoll(
  env: Env,
  scenario: Scenario,
  setup: { taskDefinitionArn: string; subnets: readonly string[]; random: () => number },
): Promise<RunRecord> {
  const times = new TaskTimes();
  const ctx: NaiveContext = { ecs: env.clients.ecs, clock: env.clock, times, ...setup };
  const launches = new AdaptiveRateLimiter(env.clock, WORKLOAD.launchPacing);
  const startedAt = env.clock.now();
  let finishedAt = startedAt;
  let abandoned = 0;

  const fail = (job: JobState, error: string): void => {
    if (job.failed.signal.aborted) return;
    job.error = error;
    job.failed.abort();
  };

  /** Prefect's `_watch_task_run`: describe this one task, sleep, until STOPPED. */
  const watch = async (job: JobState, arn: string): Promise<Task | undefined> => {
    for (;;) {
      if (job.failed.signal.aborted) return undefined;
      const tasks = await describeTasks(ctx, [arn]);
      const task = tasks?.[0];
      if (task?.lastStatus === "STOPPED") {
        times.stopped(arn, env.clock.now());
        return task;
      }
      if (!(await pause(ctx, WORKLOAD.pollIntervalMs, job.failed.signal))) return undefined;
    }
  };

  const runSlot = async (job: JobState, index: number): Promise<void> => {
    let attempt = 0;
    let applicationFailures = 0;
    let launchFailures = 0;
    while (!job.failed.signal.aborted) {
      attempt++;
      if (!(await launches.acquire(job.failed.signal))) return;
      job.attempts++;
      let out;
      try {
        out = await runTaskWithFixedRetries(
          ctx,
          runTaskInput(ctx, job.jobId, index, attempt, scenario.tasksPerJob),
        );
      } catch (error) {
        fail(job, `task ${String(index)} could not be launched: ${errorText(error)}`);
        return;
      }
      const arn = out.tasks?.[0]?.taskArn;
      if (arn === undefined) {
        launchFailures++;
        if (launchFailures > FIXED_RETRIES) {
          fail(job, `task ${String(index)}: ${out.failures?.[0]?.reason ?? "no task"}`);
          return;
        }
        await pause(ctx, FIXED_RETRY_DELAY_MS, job.failed.signal);
        continue;
      }
      times.started(arn, env.clock.now());
      job.running.add(arn);
      const stopped = await watch(job, arn);
      // The job failed while this task ran: it stays in `running`, to be stopped.
      if (stopped === undefined) return;
      job.running.delete(arn);
      if (succeeded(stopped)) return;
      applicationFailures++;
      if (applicationFailures > MAX_FAIL_COUNT) {
        fail(job, `task ${String(index)} exhausted its retries`);
        return;
      }
    }
  };

  const runJob = async (jobId: string): Promise<JobOutcome> => {
    const job: JobState = {
      jobId,
      running: new Set(),
      failed: new AbortController(),
      attempts: 0,
    };
    setMaxListeners(0, job.failed.signal);
    await Promise.all(Array.from({ length: scenario.tasksPerJob }, (_, i) => runSlot(job, i)));
    if (job.failed.signal.aborted) abandoned += await stopAll(ctx, job.running);
    finishedAt = Math.max(finishedAt, env.clock.now());
    return {
      jobId,
      status: job.error === undefined ? "succeeded" : "failed",
      attempts: job.attempts,
      ...(job.error === undefined ? {} : { error: job.error }),
    };
  };

  const jobs = await env.drive(Promise.all(jobIds(scenario).map(runJob)));
  return {
    tasks: scenario.jobs * scenario.tasksPerJob,
    startedAt,
    finishedAt,
    jobs,
    times,
    abandoned,
  };
}
