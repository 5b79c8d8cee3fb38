/**
 * Naive strategy 2: sequential launches with fixed retries, the way the reference
 * implementations start a job's tasks: one RunTask after the other, each awaited; a call the SDK
 * gives up on is sent again after a fixed second, three times at most, then the job fails; a
 * task returned in `failures[]` (AGENT) is retried the same way. Only the launching is naive:
 * each job polls its own tasks in batches of 100 per DescribeTasks, so the difference measured
 * is the launching alone. Every RunTask request also takes a token from the runner's default
 * RunTask bucket (20/s, burst 20, shared by every job): without it, 100 jobs launching at once
 * send 100 calls together and most jobs fail on throttling, and a ratio would compare our
 * finished jobs with its failed ones. One job alone launches slower than that bucket anyway.
 */
import { setMaxListeners } from "node:events";
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

interface Slot {
  readonly index: number;
  attempt: number;
  applicationFailures: number;
  launchFailures: number;
}

export async function runNaiveSequential(
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

  const runJob = async (jobId: string): Promise<JobOutcome> => {
    const slots: Slot[] = Array.from({ length: scenario.tasksPerJob }, (_, index) => ({
      index,
      attempt: 0,
      applicationFailures: 0,
      launchFailures: 0,
    }));
    const queue: Slot[] = [...slots];
    const running = new Map<string, Slot>();
    const finished = new AbortController();
    setMaxListeners(0, finished.signal);
    let succeededSlots = 0;
    let attempts = 0;
    let error: string | undefined;
    let wake: (() => void) | undefined;
    const end = (why?: string): void => {
      if (finished.signal.aborted) return;
      if (why !== undefined) error = why;
      finished.abort();
      wake?.();
    };

    /** One RunTask after the other. */
    const launcher = async (): Promise<void> => {
      while (!finished.signal.aborted) {
        const slot = queue.shift();
        if (slot === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        for (;;) {
          if (!(await launches.acquire(finished.signal))) return;
          slot.attempt++;
          attempts++;
          let out;
          try {
            out = await runTaskWithFixedRetries(
              ctx,
              runTaskInput(ctx, jobId, slot.index, slot.attempt, scenario.tasksPerJob),
            );
          } catch (e) {
            end(`task ${String(slot.index)} could not be launched: ${errorText(e)}`);
            return;
          }
          const arn = out.tasks?.[0]?.taskArn;
          if (arn !== undefined) {
            times.started(arn, env.clock.now());
            running.set(arn, slot);
            break;
          }
          slot.launchFailures++;
          if (slot.launchFailures > FIXED_RETRIES) {
            end(`task ${String(slot.index)}: ${out.failures?.[0]?.reason ?? "no task"}`);
            return;
          }
          await pause(ctx, FIXED_RETRY_DELAY_MS);
        }
      }
    };

    /** Every poll interval: this job's running tasks, 100 per DescribeTasks. */
    const poller = async (): Promise<void> => {
      while (await pause(ctx, WORKLOAD.pollIntervalMs, finished.signal)) {
        const arns = [...running.keys()];
        for (let i = 0; i < arns.length && !finished.signal.aborted; i += 100) {
          const tasks = await describeTasks(ctx, arns.slice(i, i + 100));
          if (tasks === undefined) break;
          for (const task of tasks) {
            if (task.lastStatus !== "STOPPED" || task.taskArn === undefined) continue;
            const slot = running.get(task.taskArn);
            if (slot === undefined) continue;
            times.stopped(task.taskArn, env.clock.now());
            running.delete(task.taskArn);
            if (succeeded(task)) {
              succeededSlots++;
              if (succeededSlots === slots.length) end();
              continue;
            }
            slot.applicationFailures++;
            if (slot.applicationFailures > MAX_FAIL_COUNT) {
              end(`task ${String(slot.index)} exhausted its retries`);
              break;
            }
            queue.push(slot);
            wake?.();
          }
        }
      }
    };

    await Promise.all([launcher(), poller()]);
    if (error !== undefined) abandoned += await stopAll(ctx, running.keys());
    finishedAt = Math.max(finishedAt, env.clock.now());
    return {
      jobId,
      status: error === undefined ? "succeeded" : "failed",
      attempts,
      ...(error === undefined ? {} : { error }),
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
