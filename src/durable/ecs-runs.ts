/**
 * Runs as ECS knows them (DESIGN 3.11): every task of a run carries the tags `ecs-batch:job-id`,
 * `ecs-batch:run-id`, `ecs-batch:task-index`, `ecs-batch:attempt` and `ecs-batch:deadline`,
 * so any process can find a run's tasks (ListTasks, then DescribeTasks with tags, 100 at a
 * time) and rebuild where each slot was. What ECS has forgotten (tasks stopped more than about
 * an hour ago, and launches RunTask refused, which never made a task) leaves gaps in the
 * attempt numbers: such attempts count against the launch budget (`retry.maxLaunchRetries`),
 * so an unknown never spends the application's retries, and the next attempt's number (and
 * client token) is always new.
 */
import type { Task } from "@aws-sdk/client-ecs";
import type { AwsClient } from "../aws.js";
import type { AdaptiveRateLimiter } from "../aws/rate-limiter.js";
import type { Clock } from "../clock.js";
import { causeInStopReason, type StopCause } from "../execution/job.js";
import { classifyStoppedTask, type EssentialContainers } from "../execution/outcome.js";
import {
  describeWithTags,
  listTaskArns,
  type SearchCost,
  type SearchOptions,
} from "../execution/lookup.js";
import { FAILURE_BUDGETS } from "../execution/retry.js";
import { isStoppedByRunner } from "../execution/stopper.js";
import { initialSlot, type SlotState } from "../execution/slot.js";
import { RUNNER_TAG_KEYS, runnerTagsOf, tagValue, taskName } from "../request/naming.js";
import type { TaskFailure } from "../result.js";

/** What finding a run's tasks needs. */
export interface EcsRunsContext {
  readonly ecs: AwsClient;
  readonly clock: Clock;
  /** The DescribeTasks/ListTasks budget. */
  readonly limiter: AdaptiveRateLimiter;
}

/** Which tasks to look for. */
export interface RunFilter {
  readonly cluster: string;
  readonly jobId: string;
  /** Only this run's; all of the job's runs when absent. */
  readonly runId?: string;
  /** Narrows ListTasks to one task definition family (the job's); the whole cluster when absent. */
  readonly family?: string;
  /** Stopped tasks too (ECS keeps them about an hour). Default true. */
  readonly stopped?: boolean;
}

/** A task of a run, with what its tags say. */
export interface RunTask {
  readonly task: Task;
  readonly runId: string;
  readonly index: number;
  readonly attempt: number;
  /** ms since epoch; NaN when the tag is missing. */
  readonly deadline: number;
}

/**
 * Every task of the job (or of one of its runs) ECS still knows, with its tags read.
 * ListTasks pages hold 100 tasks and DescribeTasks takes 100, so N tasks cost about 2⌈N/100⌉
 * calls (one more page when stopped tasks are listed too). Tasks whose ARN is in `known`
 * (what a checkpoint already holds) are listed but not described: attaching with a
 * checkpoint describes only what happened since it.
 */
export async function findRunTasks(
  ctx: EcsRunsContext,
  filter: RunFilter,
  options: {
    readonly known?: ReadonlySet<string>;
    /** Known tasks to describe all the same if ECS lists them as stopped (or stopping). */
    readonly stopping?: ReadonlySet<string>;
    readonly cost?: SearchCost;
  } = {},
): Promise<RunTask[]> {
  const search = { attempts: 6, ...(options.cost === undefined ? {} : { cost: options.cost }) };
  const listed = await listTaskArns(
    ctx,
    {
      cluster: filter.cluster,
      stopped: filter.stopped !== false,
      ...(filter.family === undefined ? {} : { family: filter.family }),
    },
    search,
  );
  if (!listed.ok) throw listed.error;
  const known = options.known;
  const { arns, stopping } = listed.value;
  // A known task being stopped is described after all when `stopping` is asked for.
  const wanted =
    known === undefined
      ? arns
      : arns.filter((a) => !known.has(a) || (options.stopping?.has(a) === true && stopping.has(a)));
  return describeRunTasks(ctx, filter, wanted, search);
}

/**
 * What ECS shows of a run since its checkpoint: the tasks the checkpoint does not know (listed,
 * then described), and of the tasks it holds as running, those with a newer attempt (their
 * end is counted on the slot's budgets) and those ECS stopped or is stopping (their stop reason
 * may carry the run's cause: `stopCauseIn`). The other known tasks are left to the first poll.
 */
export async function findSinceCheckpoint(
  ctx: EcsRunsContext,
  filter: RunFilter & { readonly runId: string },
  slots: readonly SlotState[],
  failedTaskArns: readonly string[],
): Promise<RunTask[]> {
  const known = new Set<string>(failedTaskArns);
  const running = new Set<string>();
  for (const slot of slots) {
    if (slot.taskArn !== undefined) known.add(slot.taskArn);
    if (slot.phase === "running" && slot.taskArn !== undefined) running.add(slot.taskArn);
    for (const arn of slot.failedTaskArns) known.add(arn);
  }
  const found = await findRunTasks(ctx, filter, { known, stopping: running });
  const newest = new Map<number, number>();
  for (const t of found) newest.set(t.index, Math.max(t.attempt, newest.get(t.index) ?? 0));
  const described = new Set(found.map((t) => t.task.taskArn));
  const superseded = slots
    .filter((s) => s.phase === "running" && s.taskArn !== undefined)
    .filter((s) => (newest.get(s.index) ?? 0) > s.attempts && !described.has(s.taskArn))
    .map((s) => s.taskArn as string);
  return [...found, ...(await describeRunTasks(ctx, filter, superseded))];
}

/**
 * The run's cause as the StopTask reasons of its tasks carry it (`causeInStopReason`): a cancel
 * or a fatal error the process that sent them did not live to checkpoint.
 */
export function stopCauseIn(tasks: readonly RunTask[], jobId: string): StopCause | undefined {
  for (const { task } of tasks) {
    const cause = causeInStopReason(jobId, task.stoppedReason);
    if (cause !== undefined) return cause;
  }
  return undefined;
}

/** The tasks of `arns` that belong to the job (and run) of `filter`, with their tags read. */
export async function describeRunTasks(
  ctx: EcsRunsContext,
  filter: Pick<RunFilter, "cluster" | "jobId" | "runId">,
  arns: readonly string[],
  options: SearchOptions = { attempts: 6 },
): Promise<RunTask[]> {
  const described = await describeWithTags(ctx, filter.cluster, arns, options);
  if (!described.ok) throw described.error;
  const found: RunTask[] = [];
  for (const task of described.value) {
    const tagged = runTaskOf(task);
    if (tagged === undefined || tagValue(task, RUNNER_TAG_KEYS.jobId) !== filter.jobId) continue;
    if (filter.runId !== undefined && tagged.runId !== filter.runId) continue;
    found.push(tagged);
  }
  return found;
}

/** A task of some job's run, past that run's deadline (`findOverdueTasks`). */
export interface OverdueRunTask extends RunTask {
  readonly jobId: string;
}

/**
 * The tasks of a cluster (or of one family in it) that ecs-batch-runner started, that ECS still
 * means to run (desired RUNNING), and whose run's deadline (the `ecs-batch:deadline` tag) passed
 * more than `graceMs` before `now`: tasks no process is watching, since a process that drives a
 * run stops its tasks at the deadline and StopTask makes a task desired STOPPED at once. Tasks
 * without the runner's tags (a service's, another tool's) are never returned. Oldest deadline
 * first. Costs about 2⌈N/100⌉ calls for N running tasks.
 */
export async function findOverdueTasks(
  ctx: EcsRunsContext,
  options: {
    readonly cluster: string;
    readonly family?: string;
    readonly now: number;
    readonly graceMs: number;
  },
): Promise<OverdueRunTask[]> {
  const search = { attempts: 6 };
  const listed = await listTaskArns(
    ctx,
    {
      cluster: options.cluster,
      stopped: false,
      ...(options.family === undefined ? {} : { family: options.family }),
    },
    search,
  );
  if (!listed.ok) throw listed.error;
  const described = await describeWithTags(ctx, options.cluster, listed.value.arns, search);
  if (!described.ok) throw described.error;
  const overdue: OverdueRunTask[] = [];
  for (const task of described.value) {
    const tagged = runTaskOf(task);
    const jobId = tagValue(task, RUNNER_TAG_KEYS.jobId);
    if (tagged === undefined || jobId === undefined || Number.isNaN(tagged.deadline)) continue;
    if (task.desiredStatus !== "RUNNING" || task.lastStatus === "STOPPED") continue;
    if (tagged.deadline + options.graceMs > options.now) continue;
    overdue.push({ ...tagged, jobId });
  }
  return overdue.sort(
    (a, b) =>
      a.deadline - b.deadline ||
      a.jobId.localeCompare(b.jobId) ||
      a.runId.localeCompare(b.runId) ||
      a.index - b.index ||
      a.attempt - b.attempt,
  );
}

function runTaskOf(task: Task): RunTask | undefined {
  const tagged = runnerTagsOf(task);
  if (tagged === undefined) return undefined;
  const deadline = Date.parse(tagValue(task, RUNNER_TAG_KEYS.deadline) ?? "");
  return { task, ...tagged, deadline };
}

/** The run of the job that started last: the highest deadline, then the highest run id. */
export function latestRunId(tasks: readonly RunTask[]): string | undefined {
  let best: RunTask | undefined;
  for (const t of tasks) {
    if (
      best === undefined ||
      t.deadline > best.deadline ||
      (t.deadline === best.deadline && t.runId > best.runId)
    ) {
      best = t;
    }
  }
  return best?.runId;
}

/** A run as rebuilt from its tasks in ECS. */
export interface RebuiltRun {
  readonly runId: string;
  /** NaN when no task carried the deadline tag. */
  readonly deadline: number;
  readonly taskDefinitionArn: string;
  readonly slots: SlotState[];
  readonly failedTaskArns: string[];
  /** Earlier attempts still running (given up on, then seen again): to be stopped. */
  readonly strays: string[];
}

/** What `advanceSlots` reads of a job. */
export interface RunShape {
  readonly jobId: string;
  readonly taskNamePrefix: string;
  readonly taskCount: number;
}

/**
 * Rebuilds a run's slots from its tasks: each slot's last attempt is watched again (a task
 * that stopped meanwhile is classified on the first poll, as if it had just stopped), its
 * earlier attempts are counted on their budgets, and slots with no task start afresh.
 */
export function rebuildRun(
  runTasks: readonly RunTask[],
  job: RunShape,
  essential: EssentialContainers,
): RebuiltRun | undefined {
  const first = runTasks[0];
  if (first === undefined) return undefined;
  const fresh = Array.from({ length: job.taskCount }, (_, index) =>
    initialSlot(index, taskName(job.taskNamePrefix, job.jobId, index)),
  );
  const advanced = advanceSlots(fresh, [], runTasks, job.jobId, essential);
  return {
    runId: first.runId,
    deadline: latestDeadline(runTasks),
    taskDefinitionArn: first.task.taskDefinitionArn ?? "",
    ...advanced,
  };
}

/**
 * Brings slots as a checkpoint (or nothing) left them up to date with what ECS shows of their
 * attempts: a checkpoint lags the run by up to a poll interval, and in that time a slot may
 * have failed, been retried and launched again. Attempts newer than a slot's are taken up: the
 * newest is the slot's current one, watched again; the ones before it failed and are counted
 * on their budgets (attempt numbers with no task count as launch failures); an earlier attempt
 * still running is a stray, to be stopped. Slots at their end are left as they are.
 */
export function advanceSlots(
  slots: readonly SlotState[],
  failedTaskArns: readonly string[],
  runTasks: readonly RunTask[],
  jobId: string,
  essential: EssentialContainers,
): { slots: SlotState[]; failedTaskArns: string[]; strays: string[] } {
  const bySlot = new Map<number, RunTask[]>();
  for (const t of runTasks) bySlot.set(t.index, [...(bySlot.get(t.index) ?? []), t]);
  const failed: { arn: string; at: number }[] = [];
  const strays: string[] = [];
  const next = slots.map((slot) => {
    const attempts = (bySlot.get(slot.index) ?? []).sort((a, b) => a.attempt - b.attempt);
    const newer = attempts.filter((t) => t.attempt > slot.attempts);
    const last = newer.at(-1);
    if (slot.ended || last === undefined) return slot;
    let applicationFailures = slot.applicationFailures;
    let launchFailures = slot.launchFailures;
    let lastFailure = slot.lastFailure;
    const slotFailedArns = [...slot.failedTaskArns];
    const count = (task: Task | undefined, arn: string): void => {
      slotFailedArns.push(arn);
      failed.push({ arn, at: new Date(task?.stoppedAt ?? 0).getTime() });
      if (task !== undefined && task.lastStatus !== "STOPPED") {
        // Given up on (missing), yet running: it failed as far as the slot goes.
        strays.push(arn);
        applicationFailures++;
        lastFailure = {
          kind: "missing",
          reason:
            "DescribeTasks stopped reporting the task and it was given up on; found still running, it is stopped",
        };
        return;
      }
      const outcome = task === undefined ? undefined : classifyStoppedTask(task, essential);
      const failure: TaskFailure =
        outcome?.status === "failed"
          ? outcome.failure
          : { kind: "missing", reason: "ECS no longer knows the task" };
      lastFailure = failure;
      if (FAILURE_BUDGETS[failure.kind] === "application") applicationFailures++;
      else launchFailures++;
    };
    // The slot's own current attempt failed if newer ones exist (a running slot had not yet
    // counted it; a slot reporting or in backoff had).
    if (slot.phase === "running" && slot.taskArn !== undefined) {
      count(attempts.find((t) => t.attempt === slot.attempts)?.task, slot.taskArn);
    }
    for (const earlier of newer.slice(0, -1)) count(earlier.task, earlier.task.taskArn ?? "");
    // Attempt numbers between the slot's and its newest with no task never made one.
    launchFailures += last.attempt - slot.attempts - newer.length;
    const previous = last.attempt - 1;
    if (previous > slot.attempts && !newer.some((t) => t.attempt === previous)) {
      // The attempt just before the newest is the slot's last failure, as the run saw it; its
      // reason (AGENT, RESOURCE:*) was in the RunTask answer, which no checkpoint kept.
      lastFailure = {
        kind: "launch",
        reason: `RunTask started no task for attempt ${String(previous)}; the reason was not checkpointed`,
      };
    }
    const task = last.task;
    const {
      report: _report,
      retryAt: _retryAt,
      exitCode: _exitCode,
      stopCode: _stopCode,
      stoppedReason: _stoppedReason,
      stoppedAt: _stoppedAt,
      ...kept
    } = slot;
    return {
      ...kept,
      phase: "running" as const,
      attempts: last.attempt,
      applicationFailures,
      launchFailures,
      ...(task.taskArn === undefined ? {} : { taskArn: task.taskArn }),
      ...(task.lastStatus === undefined ? {} : { lastStatus: task.lastStatus }),
      failedTaskArns: slotFailedArns,
      ...(lastFailure === undefined ? {} : { lastFailure }),
      stopRequested: isStoppedByRunner(jobId, task.stoppedReason),
    };
  });
  failed.sort((a, b) => a.at - b.at);
  return {
    slots: next,
    failedTaskArns: [...failedTaskArns, ...failed.map((f) => f.arn)],
    strays,
  };
}

function latestDeadline(tasks: readonly RunTask[]): number {
  let latest = Number.NaN;
  for (const t of tasks) {
    if (!Number.isNaN(t.deadline) && !(t.deadline <= latest)) latest = t.deadline;
  }
  return latest;
}
