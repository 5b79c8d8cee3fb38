/**
 * One job's life (DESIGN 2.2, 2.3, 3.1-3.5): launch every task slot, watch each attempt,
 * classify, retry within the budgets, and stop everything unfinished on exhaustion, timeout,
 * cancel or a non-retryable error. The job's state is a plain value (`JobState`), kept apart
 * from the promises and timers that drive it, so it can be inspected, serialised and (later)
 * used to re-attach after a restart.
 */
import { setMaxListeners } from "node:events";
import type { Task } from "@aws-sdk/client-ecs";
import { awsErrorMessage, awsErrorName, isAccessDeniedError, timeOf } from "../aws.js";
import { sleepUnlessAborted, type Clock, type RandomSource } from "../clock.js";
import { EcsBatchSetupError, type EcsBatchErrorCode } from "../errors.js";
import type { EcsBatchRunnerEvents } from "../events.js";
import { formatDuration } from "../job/duration.js";
import type { Logger } from "../logger.js";
import { buildRunTaskInput } from "../request/build.js";
import { taskName } from "../request/naming.js";
import type { Launcher, LaunchResult } from "./launcher.js";
import {
  classifyStoppedTask,
  essentialContainers,
  missingFailure,
  type EssentialContainers,
} from "./outcome.js";
import type { PreparedJob } from "./prepare.js";
import { FAILURE_BUDGETS, type RetryContext, type RetryPolicy } from "./retry.js";
import { stopReason, type TaskStopper } from "./stopper.js";
import type { JobResult, JobStatus, TaskFailure, TaskResult } from "./types.js";
import { shared, type TaskWatcher, type WatchListener, type WatchResult } from "./watcher.js";

/** Where a task slot is. */
export type SlotPhase =
  "pending" | "launching" | "running" | "backoff" | "succeeded" | "failed" | "stopped";

/** One task slot's state: plain data. */
export interface SlotState {
  readonly index: number;
  readonly taskName: string;
  phase: SlotPhase;
  /** Attempts made, launch failures included. */
  attempts: number;
  applicationFailures: number;
  launchFailures: number;
  /** The current (or last) attempt's task. */
  taskArn?: string;
  lastStatus?: string;
  /** Failed attempts' ARNs, oldest first; replaced, not mutated, when one is added. */
  failedTaskArns: readonly string[];
  exitCode?: number | null;
  stopCode?: string;
  stoppedReason?: string;
  lastFailure?: TaskFailure;
  /** When the last failure happened (ms since epoch). */
  failedAt?: number;
  /** When the last attempt's task stopped (ms since epoch). */
  stoppedAt?: number;
  /** This runner asked ECS to stop the current attempt. */
  stopRequested: boolean;
}

/**
 * The failed ARNs of a slot with none, shared by every such slot: most slots never fail, and
 * an empty array each was 10,000 more objects for every full collection to mark.
 */
const NO_FAILED_ARNS: readonly string[] = Object.freeze([]);

/** The launch options of a slot, shared: one object each, not one per launch. */
const RESERVED = { reserved: true } as const;
const NOT_RESERVED = { reserved: false } as const;

/** Why a job stopped early. */
export type StopCause =
  | { readonly kind: "exhausted"; readonly taskIndex: number; readonly failure: TaskFailure }
  | { readonly kind: "timeout"; readonly timeoutMs: number }
  | { readonly kind: "cancel"; readonly reason?: string }
  | { readonly kind: "fatal"; readonly error: unknown };

/** A job's state: plain data. */
export interface JobState {
  readonly jobId: string;
  readonly cluster: string;
  readonly taskDefinitionArn: string;
  readonly startedAt: number;
  readonly slots: SlotState[];
  /** Every failed attempt's ARN, in the order they failed. */
  readonly failedTaskArns: string[];
  stopCause?: StopCause;
}

/** Emits a runner event. */
export type Emit = <E extends keyof EcsBatchRunnerEvents>(
  event: E,
  payload: Parameters<EcsBatchRunnerEvents[E]>[0],
) => void;

/** What a job needs from its runner. */
export interface JobServices {
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  readonly launcher: Launcher;
  readonly watcher: TaskWatcher;
  readonly stopper: TaskStopper;
  readonly retryPolicy: RetryPolicy;
  readonly emit: Emit;
  /** Collects the logs that go into the result; none when absent. */
  readonly collectLogs?: (
    state: JobState,
    status: JobStatus,
    prepared: PreparedJob,
  ) => Promise<Pick<JobResult, "logs" | "taskLogs">>;
  /** Attaches a log tail to a failure, when the attempt's containers log to awslogs. */
  readonly withLogTail?: (
    failure: TaskFailure,
    task: Task | undefined,
    prepared: PreparedJob,
  ) => Promise<TaskFailure>;
  /** Called when a task starts and when it is done, for live log following. */
  readonly onTaskStarted?: (state: JobState, slot: SlotState, task: Task) => void;
  /**
   * The job waits for the promise, if any, before it completes, not before it moves on.
   */
  readonly onTaskDone?: (
    state: JobState,
    slot: SlotState,
    taskArn: string,
  ) => Promise<void> | undefined;
}

/** After StopTask, how long the runner keeps watching for STOPPED (DESIGN 3.4). */
export const STOP_WATCH_MS = 120_000;
/** How often a task being stopped is polled. */
const STOPPING_POLL_MS = 5000;

/** Drives one prepared job to its result. */
export class JobExecution {
  readonly state: JobState;
  readonly #prepared: PreparedJob;
  readonly #services: JobServices;
  readonly #essential: EssentialContainers;
  /** Aborted when the job starts stopping: queued launches and backoff waits end. */
  readonly #stopping = new AbortController();
  /** Aborted 2 minutes after stopping began: watches of tasks being stopped end. */
  readonly #stopWatchDeadline = new AbortController();
  /** Aborted when the job is done: its timers end. */
  readonly #done = new AbortController();
  #stopRequests: Promise<unknown>[] = [];
  /**
   * Work that must finish before `jobCompleted` (the last read of followed logs), counted, not
   * kept: a 10,000-task job would otherwise hold a settled promise per task to its end.
   */
  #logReadsLeft = 0;
  #logReadsDone: (() => void) | undefined;
  readonly #logReadSettled = (): void => {
    if (--this.#logReadsLeft === 0) this.#logReadsDone?.();
  };
  #started = false;
  /** Slots not at their end yet; `#slotsDone` when none is left. */
  #slotsLeft = 0;
  #slotsDone: () => void = () => undefined;
  /** Ends the run with an error: a bug in a step, not anything ECS did. */
  #slotsFailed: (error: unknown) => void = () => undefined;
  #pendingStop: StopCause | undefined;
  #completed = false;

  constructor(prepared: PreparedJob, services: JobServices, startedAt: number) {
    this.#prepared = prepared;
    this.#services = services;
    const job = prepared.job;
    this.#essential = essentialContainers(prepared.taskDefinition.definition);
    // Every queued launch, backoff and watch of the job listens to these signals, one listener
    // per task slot: thousands is expected, not a leak, so Node must not warn about it.
    setMaxListeners(0, this.#stopping.signal, this.#stopWatchDeadline.signal, this.#done.signal);
    this.state = {
      jobId: job.jobId,
      cluster: job.cluster,
      taskDefinitionArn: prepared.taskDefinition.taskDefinitionArn,
      startedAt,
      // Every field from the start, and none ever deleted: slots keep one compact shape (a
      // deleted property turns an object into a hash table), which matters at 10,000 slots.
      slots: Array.from({ length: job.taskCount }, (_, index) => ({
        index,
        taskName: taskName(job.taskNamePrefix, job.jobId, index),
        phase: "pending",
        attempts: 0,
        applicationFailures: 0,
        launchFailures: 0,
        taskArn: undefined,
        lastStatus: undefined,
        failedTaskArns: NO_FAILED_ARNS,
        exitCode: undefined,
        stopCode: undefined,
        stoppedReason: undefined,
        lastFailure: undefined,
        failedAt: undefined,
        stoppedAt: undefined,
        stopRequested: false,
      })),
      failedTaskArns: [],
    };
  }

  /** Requests the job to stop (timeout, cancel). The first cause wins. */
  requestStop(cause: StopCause): void {
    if (this.#started) this.#stop(cause);
    else this.#pendingStop ??= cause;
  }

  /** Runs the job to its end. Rejects only with `EcsBatchSetupError` when nothing was launched. */
  async run(): Promise<JobResult> {
    const { emit, clock } = this.#services;
    const job = this.#prepared.job;
    emit("jobStarted", {
      jobId: job.jobId,
      taskCount: job.taskCount,
      taskDefinitionArn: this.state.taskDefinitionArn,
    });
    this.#started = true;
    // A timeout or cancel that came while the job was being prepared: nothing gets launched.
    if (this.#pendingStop !== undefined) this.#stop(this.#pendingStop);
    try {
      await this.#runSlots();
      await Promise.all(this.#stopRequests);
      if (this.#logReadsLeft > 0) await new Promise<void>((r) => (this.#logReadsDone = r));
    } finally {
      this.#done.abort();
    }
    const cause = this.state.stopCause;
    if (
      cause?.kind === "fatal" &&
      this.state.slots.every((s) => s.taskArn === undefined && s.failedTaskArns.length === 0)
    ) {
      throw setupErrorFrom(cause.error);
    }
    const status = jobStatus(cause, this.state.slots);
    const logs =
      (await this.#services
        .collectLogs?.(this.state, status, this.#prepared)
        .catch((error: unknown) => ({
          logs: { error: `could not fetch logs: ${String(error)}` },
        }))) ?? {};
    const result: JobResult = {
      jobId: job.jobId,
      status,
      startedAt: new Date(this.state.startedAt),
      finishedAt: new Date(clock.now()),
      taskDefinitionArn: this.state.taskDefinitionArn,
      tasks: this.state.slots.map(taskResult),
      failedTaskArns: [...this.state.failedTaskArns],
      ...logs,
      ...(cause === undefined ? {} : { error: errorOf(cause, job.jobId) }),
    };
    this.#completed = true;
    emit("jobCompleted", { jobId: job.jobId, result });
    return result;
  }

  #emit: Emit = (event, payload) => {
    if (!this.#completed) this.#services.emit(event, payload);
  };

  /** A method, not a property read: the flag changes across awaits, which narrowing cannot see. */
  #isStopping(): boolean {
    return this.#stopping.signal.aborted;
  }

  get #log(): Logger {
    return this.#services.logger;
  }

  /**
   * The slots take their places in the launch queue at once, in order, as one entry; a slot's
   * run starts when its turn comes, so a slot waiting to launch costs nothing. From there each
   * slot moves by callbacks (launch answered, watch ended, backoff over), not by a suspended
   * call per slot: a running task costs its slot and the watcher's record of it, which is what
   * every garbage collection of a host running 10,000 tasks walks through.
   */
  #runSlots(): Promise<void> {
    const slots = this.state.slots;
    return new Promise<void>((resolve, reject) => {
      this.#slotsLeft = slots.length;
      this.#slotsDone = resolve;
      this.#slotsFailed = reject;
      if (slots.length === 0) resolve();
      this.#services.launcher.queue(
        slots.length,
        (reserved, index) => {
          try {
            this.#attempt(slots[index] as SlotState, reserved);
          } catch (error) {
            this.#fail(error);
          }
        },
        this.#stopping.signal,
      );
    });
  }

  /** Runs a step of a slot; anything it throws is a bug, and fails the job's run as such. */
  #guard(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * A step failed unexpectedly: the run rejects with the error, and the tasks already running
   * are stopped rather than left running unwatched.
   */
  #fail(error: unknown): void {
    try {
      this.#stop({ kind: "fatal", error });
    } finally {
      this.#slotsFailed(error);
    }
  }

  /** The slot has reached its end (succeeded, failed, stopped). */
  #slotDone(slot: SlotState): void {
    // Neither succeeded nor failed: the job is stopping, or the watch ended without a verdict.
    if (slot.phase !== "succeeded" && slot.phase !== "failed") slot.phase = "stopped";
    if (--this.#slotsLeft === 0) this.#slotsDone();
  }

  /** Launches the slot's next attempt; `reserved`: the launcher holds a launch slot for it. */
  #attempt(slot: SlotState, reserved: boolean): void {
    if (this.#isStopping()) {
      // A reservation is either used by `launch` below or, when the job is stopping, given back.
      if (reserved) this.#services.launcher.unreserve();
      this.#slotDone(slot);
      return;
    }
    const attempt = slot.attempts + 1;
    slot.phase = "launching";
    slot.stopRequested = false;
    // Built when sent, not while queued: 10,000 waiting launches would hold 10,000 requests.
    const plan = this.#prepared.plan;
    this.#services.launcher
      .launch(
        () => buildRunTaskInput(plan, slot.index, attempt),
        this.#stopping.signal,
        reserved ? RESERVED : NOT_RESERVED,
      )
      .then((launched) => {
        try {
          this.#launched(slot, attempt, launched);
        } catch (error) {
          this.#fail(error);
        }
      }, this.#failed);
  }

  #launched(slot: SlotState, attempt: number, launched: LaunchResult): void {
    if (launched.kind === "aborted") {
      this.#slotDone(slot);
      return;
    }
    slot.attempts = attempt;
    if (launched.kind === "fatal") {
      this.#log.error("RunTask failed for good", {
        jobId: this.state.jobId,
        taskIndex: slot.index,
        error: awsErrorName(launched.error),
      });
      this.#stop({ kind: "fatal", error: launched.error });
      this.#slotDone(slot);
      return;
    }
    if (launched.kind === "failed") {
      this.#afterFailure(slot, attempt, launched.failure, undefined);
      return;
    }
    const task = launched.task;
    const arn = task.taskArn as string;
    slot.taskArn = arn;
    slot.lastStatus = shared(task.lastStatus);
    slot.phase = "running";
    slot.exitCode = undefined;
    slot.stopCode = undefined;
    slot.stoppedReason = undefined;
    this.#emit("taskStarted", {
      jobId: this.state.jobId,
      taskIndex: slot.index,
      attempt,
      taskArn: arn,
      taskName: slot.taskName,
    });
    if (task.lastStatus !== undefined) this.#statusChanged(slot, task.lastStatus);
    this.#services.onTaskStarted?.(this.state, slot, task);
    // The job may have started stopping while this RunTask was in flight.
    if (this.#isStopping()) this.#stopSlot(slot);
    const job = this.#prepared.job;
    // The RunTask answer is not kept: it would stay alive as long as the task runs.
    this.#services.watcher.track(
      {
        cluster: job.cluster,
        taskArn: arn,
        pollInterval: slot.stopRequested
          ? Math.min(job.pollInterval, STOPPING_POLL_MS)
          : job.pollInterval,
        lastStatus: slot.lastStatus,
        signal: this.#stopWatchDeadline.signal,
      },
      this.#watchListener,
      slot,
    );
  }

  /**
   * One listener for every watch of the job: the slot is the watch's subject, and its current
   * attempt and ARN are the watched ones (they change only when the next attempt launches).
   */
  readonly #watchListener: WatchListener<SlotState> = {
    // Guarded like `#guard`, written out: these run for every status of every task.
    onStatus: (slot, task) => {
      try {
        slot.lastStatus = shared(task.lastStatus);
        this.#statusChanged(slot, task.lastStatus ?? "UNKNOWN");
      } catch (error) {
        this.#fail(error);
      }
    },
    onDone: (slot, watched) => {
      try {
        this.#watched(slot, watched);
      } catch (error) {
        this.#fail(error);
      }
    },
  };

  readonly #failed = (error: unknown): void => this.#fail(error);

  /** `taskStatusChanged` for the slot's current attempt. */
  #statusChanged(slot: SlotState, lastStatus: string): void {
    this.#emit("taskStatusChanged", {
      jobId: this.state.jobId,
      taskIndex: slot.index,
      attempt: slot.attempts,
      taskArn: slot.taskArn as string,
      lastStatus,
    });
  }

  #watched(slot: SlotState, watched: WatchResult): void {
    const arn = slot.taskArn as string;
    const attempt = slot.attempts;
    const last = watched.kind === "stopped" ? watched.task : watched.lastTask;
    if (last !== undefined) recordTask(slot, last, this.#essential);
    const done = this.#services.onTaskDone?.(this.state, slot, arn);
    if (done !== undefined) {
      this.#logReadsLeft++;
      void done.then(this.#logReadSettled, this.#logReadSettled);
    }
    const outcome = this.#outcome(slot, watched);
    if (outcome === undefined || outcome.status === "stopped") {
      if (outcome !== undefined) slot.phase = "stopped";
      this.#slotDone(slot);
      return;
    }
    if (outcome.status === "succeeded") {
      slot.phase = "succeeded";
      this.#emit("taskSucceeded", {
        jobId: this.state.jobId,
        taskIndex: slot.index,
        attempt,
        taskArn: arn,
        exitCode: outcome.exitCode,
      });
      this.#slotDone(slot);
      return;
    }
    this.#afterFailure(
      slot,
      attempt,
      outcome.failure,
      watched.kind === "stopped" ? watched.task : { taskArn: arn },
    );
  }

  /**
   * A failed attempt: count it, decide, report, then end the slot or retry after the backoff.
   * `task`: what ECS said of the attempt's task; `undefined` when it never started.
   */
  #afterFailure(slot: SlotState, attempt: number, failure: TaskFailure, task?: Task): void {
    this.#retryOrEnd(slot, attempt, failure, task).then(
      (retry) => {
        if (retry) this.#guard(() => this.#attempt(slot, false));
        else this.#guard(() => this.#slotDone(slot));
      },
      (error: unknown) => this.#fail(error),
    );
  }

  /** Resolves `true` once the backoff before the next attempt is over. */
  async #retryOrEnd(
    slot: SlotState,
    attempt: number,
    failure: TaskFailure,
    task: Task | undefined,
  ): Promise<boolean> {
    const job = this.#prepared.job;
    const { clock, random, retryPolicy } = this.#services;
    const started = task !== undefined;
    if (FAILURE_BUDGETS[failure.kind] === "application") slot.applicationFailures++;
    else slot.launchFailures++;
    const context: RetryContext = {
      taskIndex: slot.index,
      attempt,
      applicationFailures: slot.applicationFailures,
      launchFailures: slot.launchFailures,
      maxFailCount: job.maxFailCount,
      maxLaunchRetries: job.retry.maxLaunchRetries,
      backoff: job.retry.backoff,
    };
    const willRetry = !this.#isStopping() && this.#decide(failure, context);
    if (this.#services.withLogTail !== undefined && started) {
      failure = await this.#services
        .withLogTail(failure, task, this.#prepared)
        .catch(() => failure);
    }
    slot.lastFailure = failure;
    slot.failedAt = clock.now();
    const failedArn = started ? slot.taskArn : undefined;
    if (failedArn !== undefined) {
      slot.failedTaskArns = [...slot.failedTaskArns, failedArn];
      this.state.failedTaskArns.push(failedArn);
    }
    this.#emit("taskFailed", {
      jobId: job.jobId,
      taskIndex: slot.index,
      attempt,
      ...(failedArn === undefined ? {} : { taskArn: failedArn }),
      failure,
      willRetry,
    });
    if (!willRetry) {
      slot.phase = "failed";
      if (!this.#isStopping()) this.#stop({ kind: "exhausted", taskIndex: slot.index, failure });
      return false;
    }
    const delayMs = Math.max(0, Math.round(retryPolicy.delay(failure, context, random)));
    slot.phase = "backoff";
    this.#emit("retried", {
      jobId: job.jobId,
      taskIndex: slot.index,
      attempt: attempt + 1,
      ...(failedArn === undefined ? {} : { previousTaskArn: failedArn }),
      delayMs,
    });
    return sleepUnlessAborted(clock, delayMs, this.#stopping.signal);
  }

  /** The retry decision: the policy, then the job's own veto. */
  #decide(failure: TaskFailure, context: RetryContext): boolean {
    if (!this.#services.retryPolicy.shouldRetry(failure, context)) return false;
    const veto = this.#prepared.job.retry.shouldRetry;
    if (veto === undefined) return true;
    try {
      return veto(failure, { taskIndex: context.taskIndex, attempt: context.attempt });
    } catch (error) {
      // A broken veto must not cause silent retries: treat it as "do not retry", loudly.
      this.#log.error("retry.shouldRetry threw; not retrying", {
        jobId: this.state.jobId,
        taskIndex: context.taskIndex,
        error: String(error),
      });
      return false;
    }
  }

  /** Reads a watch result; `undefined` when the slot is done without a verdict (watching ended). */
  #outcome(
    slot: SlotState,
    watched: WatchResult,
  ): ReturnType<typeof classifyStoppedTask> | undefined {
    switch (watched.kind) {
      case "stopped":
        return classifyStoppedTask(watched.task, this.#essential, slot.stopRequested);
      case "missing":
        return slot.stopRequested
          ? { status: "stopped" }
          : { status: "failed", failure: missingFailure(watched.polls) };
      case "error":
        this.#stop({ kind: "fatal", error: watched.error });
        slot.phase = "stopped";
        return undefined;
      case "cancelled":
        // The 2-minute watch after StopTask ran out: keep what was last seen.
        slot.phase = "stopped";
        return undefined;
    }
  }

  #stopSlot(slot: SlotState): void {
    const arn = slot.taskArn;
    if (arn === undefined || slot.stopRequested || slot.phase !== "running") return;
    slot.stopRequested = true;
    const cause = this.state.stopCause;
    const reason = stopReason(
      this.state.jobId,
      cause === undefined ? "is stopping" : causeText(cause),
    );
    this.#services.watcher.expedite(arn, STOPPING_POLL_MS);
    this.#stopRequests.push(
      this.#services.stopper.stop(this.state.cluster, arn, reason, this.#stopWatchDeadline.signal),
    );
  }

  #stop(cause: StopCause): void {
    if (this.state.stopCause !== undefined || this.#done.signal.aborted) return;
    this.state.stopCause = cause;
    this.#log.info("stopping job", { jobId: this.state.jobId, cause: causeText(cause) });
    this.#stopping.abort();
    // The stop-watch deadline starts now; the job's end cancels the timer.
    void sleepUnlessAborted(this.#services.clock, STOP_WATCH_MS, this.#done.signal).then(
      (elapsed) => {
        if (elapsed) this.#stopWatchDeadline.abort();
      },
    );
    const running = this.state.slots.filter(
      (s) => s.phase === "running" && s.taskArn !== undefined,
    );
    for (const slot of running) this.#stopSlot(slot);
    if (cause.kind === "timeout") {
      this.#emit("timedOut", {
        jobId: this.state.jobId,
        timeoutMs: cause.timeoutMs,
        elapsedMs: this.#services.clock.now() - this.state.startedAt,
        stoppedTaskArns: running.map((s) => s.taskArn as string),
      });
    }
  }
}

/** Copies what DescribeTasks said about an attempt into its slot. */
function recordTask(slot: SlotState, task: Task, essential: EssentialContainers): void {
  slot.lastStatus = shared(task.lastStatus);
  if (task.stopCode !== undefined) slot.stopCode = shared(task.stopCode);
  if (task.stoppedReason !== undefined) slot.stoppedReason = shared(task.stoppedReason);
  if (task.stoppedAt !== undefined) slot.stoppedAt = timeOf(task.stoppedAt);
  const main = (task.containers ?? []).find((c) => essential.get(c.name ?? "") !== false);
  if (main !== undefined && task.lastStatus === "STOPPED") {
    const failing = (task.containers ?? []).find(
      (c) => essential.get(c.name ?? "") !== false && c.exitCode !== 0,
    );
    slot.exitCode = (failing ?? main).exitCode ?? null;
  }
}

function jobStatus(cause: StopCause | undefined, slots: readonly SlotState[]): JobStatus {
  switch (cause?.kind) {
    case "timeout":
      return "timedOut";
    case "cancel":
      return "cancelled";
    case "exhausted":
    case "fatal":
      return "failed";
    case undefined:
      return slots.every((s) => s.phase === "succeeded") ? "succeeded" : "failed";
  }
}

function causeText(cause: StopCause): string {
  switch (cause.kind) {
    case "timeout":
      return `timed out after ${formatDuration(cause.timeoutMs)}`;
    case "cancel":
      return cause.reason === undefined ? "was cancelled" : `was cancelled: ${cause.reason}`;
    case "exhausted":
      return `gave up: task ${cause.taskIndex} ${cause.failure.kind === "launch" || cause.failure.kind === "interrupted" ? "could not be launched" : "failed"} (${cause.failure.reason})`;
    case "fatal":
      return `failed: ${awsErrorName(cause.error)}: ${awsErrorMessage(cause.error)}`;
  }
}

function errorOf(cause: StopCause, jobId: string): { code: string; message: string } {
  switch (cause.kind) {
    case "timeout":
      return { code: "TIMED_OUT", message: `job ${jobId} ${causeText(cause)}` };
    case "cancel":
      return { code: "CANCELLED", message: `job ${jobId} ${causeText(cause)}` };
    case "exhausted":
      return {
        code: "TASK_FAILED",
        message: `task ${cause.taskIndex} exhausted its retries: ${cause.failure.reason}`,
      };
    case "fatal":
      return { code: awsErrorName(cause.error), message: awsErrorMessage(cause.error) };
  }
}

function taskResult(slot: SlotState): TaskResult {
  return {
    index: slot.index,
    taskName: slot.taskName,
    status:
      slot.phase === "succeeded" ? "succeeded" : slot.phase === "failed" ? "failed" : "stopped",
    attempts: slot.attempts,
    ...(slot.taskArn === undefined ? {} : { taskArn: slot.taskArn }),
    failedTaskArns: [...slot.failedTaskArns],
    ...(slot.exitCode === undefined ? {} : { exitCode: slot.exitCode }),
    ...(slot.stopCode === undefined ? {} : { stopCode: slot.stopCode }),
    ...(slot.stoppedReason === undefined ? {} : { stoppedReason: slot.stoppedReason }),
    ...(slot.lastFailure === undefined ? {} : { lastFailure: slot.lastFailure }),
  };
}

/** The setup error for a non-retryable RunTask error that struck before anything was launched. */
export function setupErrorFrom(error: unknown): EcsBatchSetupError {
  const name = awsErrorName(error);
  const code: EcsBatchErrorCode =
    name === "ClusterNotFoundException"
      ? "CLUSTER_NOT_FOUND"
      : isAccessDeniedError(error)
        ? "ACCESS_DENIED"
        : name === "InvalidParameterException" || name === "ClientException"
          ? "INVALID_PARAMETER"
          : "AWS_ERROR";
  const hint =
    code === "CLUSTER_NOT_FOUND"
      ? "; check cluster and the region"
      : code === "ACCESS_DENIED"
        ? "; grant ecs:RunTask (and iam:PassRole for the task's roles)"
        : "";
  return new EcsBatchSetupError(
    code,
    `RunTask failed before any task started: ${name}: ${awsErrorMessage(error)}${hint}`,
    { cause: error },
  );
}
