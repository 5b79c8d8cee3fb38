/**
 * A task slot's life as one pure transition function (DESIGN 3.2-3.4): `step(slot, event,
 * context)` returns the slot's next state and the commands that carry it out. The job's driver
 * (`job.ts`) runs the commands with the launcher, watcher, stopper and clock, and feeds their
 * answers back as events. Everything a slot decides is here, in one place, testable without
 * timers; nothing here sends a request, waits, or emits.
 *
 * ```
 *   pending ──turn──► launching ──launched──► running ──watched: succeeded──► succeeded
 *                        │  ▲                    │
 *          launchFailed  │  │ backoffOver        │ watched: failed / missing
 *                        ▼  │                    ▼
 *                     reporting ◄────────────────┘ (a started task's log tail is read first)
 *                        │
 *                        ├── willRetry ──► backoff
 *                        └── no retry ──► failed (the job stops)
 *   any phase, when the job stops: running → StopTask, watched to its end; pending, backoff → stopped
 * ```
 */
import type { Task } from "@aws-sdk/client-ecs";
import type { EcsBatchRunnerEvents } from "../events.js";
import type { LaunchResult } from "./launcher.js";
import {
  classifyStoppedTask,
  missingFailure,
  type EssentialContainers,
  type TaskOutcome,
} from "./outcome.js";
import { FAILURE_BUDGETS, type RetryContext } from "./retry.js";
import type { TaskFailure } from "../result.js";
import type { WatchResult } from "./watcher.js";

/** Where a task slot is. */
export type SlotPhase =
  | "pending"
  | "launching"
  | "running"
  | "reporting"
  | "backoff"
  | "succeeded"
  | "failed"
  | "stopped";

/** One task slot's state: plain data. */
export interface SlotState {
  readonly index: number;
  readonly taskName: string;
  readonly phase: SlotPhase;
  /** Attempts made, launch failures included. */
  readonly attempts: number;
  readonly applicationFailures: number;
  readonly launchFailures: number;
  /** The current (or last) attempt's task. */
  readonly taskArn?: string;
  readonly lastStatus?: string;
  /** Failed attempts' ARNs, oldest first. */
  readonly failedTaskArns: readonly string[];
  readonly exitCode?: number | null;
  readonly stopCode?: string;
  readonly stoppedReason?: string;
  readonly lastFailure?: TaskFailure;
  /** When the last failure happened (ms since epoch). */
  readonly failedAt?: number;
  /** When the last attempt's task stopped (ms since epoch). */
  readonly stoppedAt?: number;
  /** This runner asked ECS to stop the current attempt. */
  readonly stopRequested: boolean;
  /** The slot has reached its end and is counted as done. */
  readonly ended: boolean;
  /** In `backoff`: when the next attempt may launch (ms since epoch). */
  readonly retryAt?: number;
  /** In `reporting`: the failure being reported and whether a retry follows. */
  readonly report?: FailureReport;
}

/** A failure between its verdict and its report (a started task's log tail is read first). */
export interface FailureReport {
  readonly failure: TaskFailure;
  readonly willRetry: boolean;
  /** The failed attempt's task; absent when it never started. */
  readonly taskArn?: string;
}

/** What happens to a slot. */
export type SlotEvent =
  /** Its turn to launch came; `granted: false` when the job stopped first. */
  | { readonly kind: "turn"; readonly granted: boolean; readonly reserved: boolean }
  /** The launcher answered for `attempt`. */
  | { readonly kind: "launched"; readonly attempt: number; readonly result: LaunchResult }
  /** The watcher saw a new `lastStatus`. */
  | { readonly kind: "observed"; readonly task: Task }
  /** The watch of the current attempt ended. */
  | { readonly kind: "watched"; readonly result: WatchResult }
  /** The failure in `report` is ready to be reported (its log tail, if any, attached). */
  | { readonly kind: "reported"; readonly failure: TaskFailure }
  /** The wait before a retry is over; `completed: false` when the job stopped first. */
  | { readonly kind: "backoffOver"; readonly completed: boolean }
  /** The job is stopping (timeout, cancel, a slot out of retries, a fatal error). */
  | { readonly kind: "jobStopping" }
  /** The 2-minute watch after stopping is over: a slot still launching is given up. */
  | { readonly kind: "stopWatchOver" };

/** Event names a slot emits, with their payloads less the job's ids. */
export type SlotEmit = {
  [E in "taskStarted" | "taskStatusChanged" | "taskSucceeded" | "taskFailed" | "retried"]: {
    readonly kind: "emit";
    readonly event: E;
    readonly payload: Omit<Parameters<EcsBatchRunnerEvents[E]>[0], "jobId" | "runId" | "emittedAt">;
  };
}["taskStarted" | "taskStatusChanged" | "taskSucceeded" | "taskFailed" | "retried"];

/** What the driver is asked to do, in order. */
export type SlotCommand =
  /** Send RunTask for `attempt`; `reserved`: the launcher holds a launch slot for it. */
  | { readonly kind: "launch"; readonly attempt: number; readonly reserved: boolean }
  /** Give back a launch slot the launcher reserved. */
  | { readonly kind: "unreserve" }
  /** Watch the current attempt's task. */
  | { readonly kind: "watch"; readonly taskArn: string; readonly stopping: boolean }
  /** StopTask for the current attempt's task (this runner is stopping it). */
  | { readonly kind: "stop"; readonly taskArn: string }
  /** StopTask for a task the slot gave up on (missing), and watch it for the rest of the job. */
  | { readonly kind: "giveUp"; readonly taskArn: string }
  /** StopTask for a task a late RunTask answer started after the slot ended. */
  | { readonly kind: "stopOrphan"; readonly taskArn: string }
  /** Look the attempt up again before the job ends: a lost answer may have started a task. */
  | { readonly kind: "settleLater"; readonly attempt: number }
  /** Read the failed task's log tail, then send `reported`. */
  | { readonly kind: "readLogTail"; readonly failure: TaskFailure; readonly task: Task }
  /** Wait, then send `backoffOver`. */
  | { readonly kind: "sleep"; readonly ms: number }
  | SlotEmit
  /**
   * The job stops: this slot ran out of retries, hit an error retrying cannot fix, or its task
   * was stopped by another process that stopped the run (`runCauseIn`).
   */
  | {
      readonly kind: "stopJob";
      readonly cause: SlotStopCause;
    }
  /** A task started (for live log following). */
  | { readonly kind: "taskStarted"; readonly task: Task }
  /** The current attempt's task is done (the last read of its followed logs). */
  | { readonly kind: "taskDone"; readonly taskArn: string }
  /** The slot has ended: count it. */
  | { readonly kind: "done" };

/** What a step may read besides the slot and the event. */
export interface SlotContext {
  /** The job is stopping: no new attempt starts and no failure is retried. */
  readonly stopping: boolean;
  readonly now: number;
  readonly essential: EssentialContainers;
  readonly maxFailCount: number;
  readonly maxLaunchRetries: number;
  readonly backoff: RetryContext["backoff"];
  /** Whether a failure may be retried (the retry policy, then the job's veto). */
  readonly shouldRetry: (failure: TaskFailure, context: RetryContext) => boolean;
  /** The wait before the retry, ms (any number: made a valid wait here). */
  readonly delay: (failure: TaskFailure, context: RetryContext) => number;
  /** Whether failures of started tasks get a log tail (`logs.tailLines` > 0 and a log source). */
  readonly readsLogTails: boolean;
  /**
   * Whether a stopped task was stopped by this job's runner, in this process or in one that ran
   * the job before (its StopTask reason names the job).
   */
  readonly stoppedByRunner: (task: Task) => boolean;
  /**
   * The run's cause a stopped task's StopTask reason carries (`causeInStopReason`): another
   * process stopped the run (`stopJob`, or an earlier host's cancel), so this one stops the
   * rest of it.
   */
  readonly runCauseIn: (task: Task) => SlotStopCause | undefined;
}

/** Why a slot stops its job. */
export type SlotStopCause =
  | { readonly kind: "exhausted"; readonly taskIndex: number; readonly failure: TaskFailure }
  | { readonly kind: "fatal"; readonly error: unknown }
  | { readonly kind: "cancel"; readonly reason?: string };

/** A step's outcome. */
export interface SlotStep {
  readonly slot: SlotState;
  readonly commands: readonly SlotCommand[];
}

/**
 * A slot before its first attempt. Every field is present from the start, unset ones as
 * `undefined`, so every step's copy of a slot has the same shape and the code reading slots
 * stays monomorphic.
 */
export function initialSlot(index: number, taskName: string): SlotState {
  return {
    index,
    taskName,
    phase: "pending",
    attempts: 0,
    applicationFailures: 0,
    launchFailures: 0,
    taskArn: undefined,
    lastStatus: undefined,
    failedTaskArns: [],
    exitCode: undefined,
    stopCode: undefined,
    stoppedReason: undefined,
    lastFailure: undefined,
    failedAt: undefined,
    stoppedAt: undefined,
    stopRequested: false,
    ended: false,
    retryAt: undefined,
    report: undefined,
  };
}

/** Whether a slot's phase is final. */
export function isFinal(phase: SlotPhase): boolean {
  return phase === "succeeded" || phase === "failed" || phase === "stopped";
}

const NOTHING: readonly SlotCommand[] = Object.freeze([]);

/**
 * The one transition function of a slot. An event that does not apply to the slot's phase
 * (a late answer after the slot ended, say) changes nothing, except that a task started for an
 * ended slot is stopped.
 */
export function step(slot: SlotState, event: SlotEvent, ctx: SlotContext): SlotStep {
  switch (event.kind) {
    case "turn":
      return turn(slot, event.granted, event.reserved, ctx);
    case "launched":
      return launched(slot, event.attempt, event.result, ctx);
    case "observed":
      return observed(slot, event.task);
    case "watched":
      return watched(slot, event.result, ctx);
    case "reported":
      return reported(slot, event.failure, ctx);
    case "backoffOver":
      return backoffOver(slot, event.completed, ctx);
    case "jobStopping":
      return jobStopping(slot);
    case "stopWatchOver":
      return slot.phase === "launching" && !slot.ended ? end(slot, "stopped") : unchanged(slot);
  }
}

function unchanged(slot: SlotState): SlotStep {
  return { slot, commands: NOTHING };
}

/** The slot ends; a phase that is not final becomes `stopped` (the job stopped it). */
function end(
  slot: SlotState,
  phase: SlotPhase = slot.phase,
  commands: readonly SlotCommand[] = [],
): SlotStep {
  if (slot.ended) return { slot, commands };
  return {
    slot: { ...slot, phase: isFinal(phase) ? phase : "stopped", ended: true },
    commands: [...commands, { kind: "done" }],
  };
}

function turn(slot: SlotState, granted: boolean, reserved: boolean, ctx: SlotContext): SlotStep {
  const giveBack: SlotCommand[] = reserved ? [{ kind: "unreserve" }] : [];
  if (!granted || ctx.stopping || slot.ended) return end(slot, slot.phase, giveBack);
  const attempt = slot.attempts + 1;
  return {
    slot: { ...slot, phase: "launching", stopRequested: false, retryAt: undefined },
    commands: [{ kind: "launch", attempt, reserved }],
  };
}

function launched(
  slot: SlotState,
  attempt: number,
  result: LaunchResult,
  ctx: SlotContext,
): SlotStep {
  const settle: SlotCommand[] =
    result.kind !== "started" && result.kind !== "fatal" && result.unsettled === true
      ? [{ kind: "settleLater", attempt }]
      : [];
  if (slot.ended || slot.phase !== "launching") {
    // Given up on while RunTask was in flight: a task it started is stopped on arrival.
    const arn = result.kind === "started" ? result.task.taskArn : undefined;
    return { slot, commands: [...settle, ...(arn === undefined ? [] : [stopOrphan(arn)])] };
  }
  switch (result.kind) {
    case "aborted":
      return end(slot, "stopped", settle);
    case "fatal":
      return end({ ...slot, attempts: attempt }, "stopped", [
        { kind: "stopJob", cause: { kind: "fatal", error: result.error } },
      ]);
    case "failed": {
      const failing = failed({ ...slot, attempts: attempt }, result.failure, undefined, ctx);
      return { slot: failing.slot, commands: [...settle, ...failing.commands] };
    }
    case "started":
      return started(slot, attempt, result.task, ctx);
  }
}

function stopOrphan(taskArn: string): SlotCommand {
  return { kind: "stopOrphan", taskArn };
}

function started(slot: SlotState, attempt: number, task: Task, ctx: SlotContext): SlotStep {
  const taskArn = task.taskArn as string;
  // The job may have started stopping while this RunTask was in flight: stopping comes first.
  const stopping = ctx.stopping;
  const next: SlotState = {
    ...slot,
    attempts: attempt,
    phase: "running",
    taskArn,
    lastStatus: task.lastStatus,
    exitCode: undefined,
    stopCode: undefined,
    stoppedReason: undefined,
    stopRequested: stopping,
  };
  const commands: SlotCommand[] = [];
  if (stopping) commands.push({ kind: "stop", taskArn });
  commands.push(
    { kind: "watch", taskArn, stopping },
    {
      kind: "emit",
      event: "taskStarted",
      payload: { taskIndex: slot.index, attempt, taskArn, taskName: slot.taskName },
    },
  );
  if (task.lastStatus !== undefined) commands.push(statusChanged(next, task.lastStatus));
  commands.push({ kind: "taskStarted", task });
  return { slot: next, commands };
}

function statusChanged(slot: SlotState, lastStatus: string): SlotCommand {
  return {
    kind: "emit",
    event: "taskStatusChanged",
    payload: {
      taskIndex: slot.index,
      attempt: slot.attempts,
      taskArn: slot.taskArn as string,
      lastStatus,
    },
  };
}

/**
 * A new status is reported, and the slot stays as it is: the watch keeps what it last saw and
 * gives it back when the watch ends (`recorded`), and nothing decides on a status in between.
 * A task goes through four or five statuses, so this keeps as many copies of the slot from
 * being made per task.
 */
function observed(slot: SlotState, task: Task): SlotStep {
  if (slot.ended || slot.phase !== "running") return unchanged(slot);
  return { slot, commands: [statusChanged(slot, task.lastStatus ?? "UNKNOWN")] };
}

function watched(slot: SlotState, result: WatchResult, ctx: SlotContext): SlotStep {
  if (slot.ended || slot.phase !== "running") return unchanged(slot);
  const taskArn = slot.taskArn as string;
  const last = result.kind === "stopped" ? result.task : result.lastTask;
  const seen = last === undefined ? slot : recorded(slot, last, ctx.essential);
  const done: SlotCommand = { kind: "taskDone", taskArn };
  switch (result.kind) {
    case "stopped":
      return verdict(
        seen,
        classifyStoppedTask(
          result.task,
          ctx.essential,
          slot.stopRequested || ctx.stoppedByRunner(result.task),
        ),
        {
          task: result.task,
          done,
          ctx,
        },
      );
    case "missing":
      if (slot.stopRequested) return end(seen, "stopped", [done]);
      // A task given up as missing may only be hidden from DescribeTasks: it is stopped before
      // its retry launches, and watched for the rest of the job in case it shows up again.
      return withFirst(
        [done, { kind: "giveUp", taskArn }],
        failed(seen, missingFailure(result.polls), { taskArn }, ctx),
      );
    case "error":
      return end(seen, "stopped", [
        done,
        { kind: "stopJob", cause: { kind: "fatal", error: result.error } },
      ]);
    case "cancelled":
      // The 2-minute watch after StopTask ran out: the slot keeps what was last seen.
      return end(seen, "stopped", [done]);
  }
}

function withFirst(first: readonly SlotCommand[], then: SlotStep): SlotStep {
  return { slot: then.slot, commands: [...first, ...then.commands] };
}

function verdict(
  slot: SlotState,
  outcome: TaskOutcome,
  at: { task: Task; done: SlotCommand; ctx: SlotContext },
): SlotStep {
  switch (outcome.status) {
    case "stopped": {
      const cause = slot.stopRequested || at.ctx.stopping ? undefined : at.ctx.runCauseIn(at.task);
      return end(slot, "stopped", [
        at.done,
        ...(cause === undefined ? [] : [{ kind: "stopJob", cause } as const]),
      ]);
    }
    case "succeeded":
      return end(slot, "succeeded", [
        at.done,
        {
          kind: "emit",
          event: "taskSucceeded",
          payload: {
            taskIndex: slot.index,
            attempt: slot.attempts,
            taskArn: slot.taskArn as string,
            exitCode: outcome.exitCode,
          },
        },
      ]);
    case "failed":
      return withFirst([at.done], failed(slot, outcome.failure, at.task, at.ctx));
  }
}

/**
 * An attempt failed: count it on its budget and decide whether it is retried. The report
 * follows at once, or after the log tail of a task that started has been read.
 */
function failed(
  slot: SlotState,
  failure: TaskFailure,
  task: Task | undefined,
  ctx: SlotContext,
): SlotStep {
  const application = FAILURE_BUDGETS[failure.kind] === "application";
  const counted: SlotState = {
    ...slot,
    applicationFailures: slot.applicationFailures + (application ? 1 : 0),
    launchFailures: slot.launchFailures + (application ? 0 : 1),
  };
  const willRetry = !ctx.stopping && ctx.shouldRetry(failure, retryContext(counted, ctx));
  const taskArn = task === undefined ? undefined : counted.taskArn;
  const report: FailureReport =
    taskArn === undefined ? { failure, willRetry } : { failure, willRetry, taskArn };
  const reporting: SlotState = { ...counted, phase: "reporting", report };
  if (task !== undefined && ctx.readsLogTails) {
    return { slot: reporting, commands: [{ kind: "readLogTail", failure, task }] };
  }
  return reported(reporting, failure, ctx);
}

/** The context a retry policy sees for the slot's last attempt. */
export function retryContext(
  slot: SlotState,
  ctx: Pick<SlotContext, "maxFailCount" | "maxLaunchRetries" | "backoff">,
): RetryContext {
  return {
    taskIndex: slot.index,
    attempt: slot.attempts,
    applicationFailures: slot.applicationFailures,
    launchFailures: slot.launchFailures,
    maxFailCount: ctx.maxFailCount,
    maxLaunchRetries: ctx.maxLaunchRetries,
    backoff: ctx.backoff,
  };
}

/** Reports a failure: `taskFailed`, then a retry after the backoff, or the slot's end. */
function reported(slot: SlotState, failure: TaskFailure, ctx: SlotContext): SlotStep {
  const report = slot.report;
  if (slot.ended || slot.phase !== "reporting" || report === undefined) return unchanged(slot);
  const taskArn = report.taskArn;
  const base: SlotState = {
    ...slot,
    report: undefined,
    lastFailure: failure,
    failedAt: ctx.now,
    failedTaskArns: taskArn === undefined ? slot.failedTaskArns : [...slot.failedTaskArns, taskArn],
  };
  const taskFailed: SlotCommand = {
    kind: "emit",
    event: "taskFailed",
    payload: {
      taskIndex: slot.index,
      attempt: slot.attempts,
      ...(taskArn === undefined ? {} : { taskArn }),
      failure,
      willRetry: report.willRetry,
    },
  };
  if (!report.willRetry) {
    // Out of retries (or the job is stopping): the job stops, its other tasks first.
    const stopJob: SlotCommand[] = ctx.stopping
      ? []
      : [{ kind: "stopJob", cause: { kind: "exhausted", taskIndex: slot.index, failure } }];
    return end({ ...base, phase: "failed" }, "failed", [...stopJob, taskFailed]);
  }
  const delayMs = waitOf(ctx.delay(failure, retryContext(slot, ctx)));
  return {
    slot: { ...base, phase: "backoff", retryAt: ctx.now + delayMs },
    commands: [
      taskFailed,
      {
        kind: "emit",
        event: "retried",
        payload: {
          taskIndex: slot.index,
          attempt: slot.attempts + 1,
          ...(taskArn === undefined ? {} : { previousTaskArn: taskArn }),
          delayMs,
        },
      },
      { kind: "sleep", ms: delayMs },
    ],
  };
}

/** A retry policy's delay as a wait: a number of ms ≥ 0, whatever the policy returned. */
function waitOf(delay: number): number {
  return Number.isFinite(delay) ? Math.max(0, Math.round(delay)) : 0;
}

function backoffOver(slot: SlotState, completed: boolean, ctx: SlotContext): SlotStep {
  if (slot.ended || slot.phase !== "backoff") return unchanged(slot);
  if (!completed) return end(slot, "stopped");
  return turn(slot, true, false, ctx);
}

function jobStopping(slot: SlotState): SlotStep {
  if (slot.ended || slot.phase !== "running" || slot.stopRequested || slot.taskArn === undefined)
    return unchanged(slot);
  return {
    slot: { ...slot, stopRequested: true },
    commands: [{ kind: "stop", taskArn: slot.taskArn }],
  };
}

/** What DescribeTasks said about an attempt, kept in its slot. */
function recorded(slot: SlotState, task: Task, essential: EssentialContainers): SlotState {
  const next: {
    -readonly [K in keyof SlotState]: SlotState[K];
  } = { ...slot, lastStatus: task.lastStatus };
  if (task.stopCode !== undefined) next.stopCode = task.stopCode;
  if (task.stoppedReason !== undefined) next.stoppedReason = task.stoppedReason;
  if (task.stoppedAt !== undefined) next.stoppedAt = new Date(task.stoppedAt).getTime();
  const containers = task.containers ?? [];
  const main = containers.find((c) => essential.get(c.name ?? "") !== false);
  if (main !== undefined && task.lastStatus === "STOPPED") {
    const failing = containers.find(
      (c) => essential.get(c.name ?? "") !== false && c.exitCode !== 0,
    );
    next.exitCode = (failing ?? main).exitCode ?? null;
  }
  return next;
}
