/**
 * One job's life (DESIGN 2.2, 2.3, 3.1-3.5): launch every task slot, watch each attempt,
 * classify, retry within the budgets, and stop everything unfinished on exhaustion, timeout,
 * cancel or a non-retryable error. The job's state is a plain value (`JobState`), kept apart
 * from the promises and timers that drive it, so it can be inspected, serialised and (later)
 * used to re-attach after a restart.
 */
import { setMaxListeners } from "node:events";
import type { Task } from "@aws-sdk/client-ecs";
import {
  awsErrorMessage,
  awsErrorName,
  commonSetupError,
  isAccessDeniedError,
  timeOf,
} from "../aws.js";
import { sleepUnlessAborted, type Clock, type RandomSource } from "../clock.js";
import { EcsBatchSetupError, type EcsBatchErrorCode } from "../errors.js";
import type { EcsBatchRunnerEvents } from "../events.js";
import { formatDuration } from "../job/duration.js";
import { safeLogger, textOf, type Logger } from "../logger.js";
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
  /** The slot has reached its end and is counted as done. */
  ended: boolean;
}

/**
 * The failed ARNs of a slot with none, shared by every such slot: most slots never fail, and
 * an empty array each was 10,000 more objects for every full collection to mark.
 */
const NO_FAILED_ARNS: readonly string[] = Object.freeze([]);

/** Why a job stopped early. */
export type StopCause =
  | { readonly kind: "exhausted"; readonly taskIndex: number; readonly failure: TaskFailure }
  | { readonly kind: "timeout"; readonly timeoutMs: number }
  | { readonly kind: "cancel"; readonly reason?: string }
  | { readonly kind: "fatal"; readonly error: unknown };

/** A job's state: plain data. */
export interface JobState {
  readonly jobId: string;
  /** The run (DESIGN 3.1); empty for a plan built without one. */
  readonly runId: string;
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
  readonly #log: Logger;
  readonly #essential: EssentialContainers;
  /** Aborted when the job starts stopping: queued launches, resend and backoff waits end. */
  readonly #stopping = new AbortController();
  /**
   * Aborted 2 minutes after stopping began: watches of tasks being stopped end, and slots still
   * waiting for a RunTask answer are given up, so a stop is bounded whatever the API does.
   */
  readonly #stopWatchDeadline = new AbortController();
  /** Aborted when the job is done: its timers and watches of given-up tasks end. */
  readonly #done = new AbortController();
  /** StopTask calls of the job, awaited (each settles by the stop-watch deadline) before it ends. */
  readonly #stopRequests: Promise<unknown>[] = [];
  /**
   * Attempts whose RunTask may have started a task nobody could find out about (a lost answer,
   * and a lookup that failed too): looked up again, and stopped, before the job ends.
   */
  readonly #unsettled: { readonly slot: SlotState; readonly attempt: number }[] = [];
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
  #pendingStop: StopCause | undefined;
  #completed = false;

  constructor(prepared: PreparedJob, services: JobServices, startedAt: number) {
    this.#prepared = prepared;
    this.#services = services;
    this.#log = safeLogger(services.logger);
    const job = prepared.job;
    this.#essential = essentialContainers(prepared.taskDefinition.definition);
    // Every queued launch, backoff and watch of the job listens to these signals, one listener
    // per task slot: thousands is expected, not a leak, so Node must not warn about it.
    setMaxListeners(0, this.#stopping.signal, this.#stopWatchDeadline.signal, this.#done.signal);
    this.state = {
      jobId: job.jobId,
      runId: prepared.plan.runId ?? "",
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
        ended: false,
      })),
      failedTaskArns: [],
    };
  }

  /** Requests the job to stop (timeout, cancel). The first cause wins. */
  requestStop(cause: StopCause): void {
    if (this.#started) this.#stop(cause);
    else this.#pendingStop ??= cause;
  }

  /**
   * Runs the job to its end. Rejects only with `EcsBatchSetupError` when nothing was launched;
   * once a task was launched it resolves, whatever happened (an unexpected error included: the
   * job then ends `failed` with `error`, its tasks stopped).
   */
  async run(): Promise<JobResult> {
    const { clock } = this.#services;
    const job = this.#prepared.job;
    this.#emit("jobStarted", {
      taskCount: job.taskCount,
      taskDefinitionArn: this.state.taskDefinitionArn,
    });
    this.#started = true;
    // A timeout or cancel that came while the job was being prepared: nothing gets launched.
    if (this.#pendingStop !== undefined) this.#stop(this.#pendingStop);
    try {
      await this.#runSlots();
      await this.#settleUnsettled();
      await this.#stopsSent();
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
    const logs = await this.#collectLogs(status);
    const result: JobResult = {
      jobId: job.jobId,
      runId: this.state.runId,
      status,
      startedAt: new Date(this.state.startedAt),
      finishedAt: new Date(clock.now()),
      taskDefinitionArn: this.state.taskDefinitionArn,
      tasks: this.state.slots.map(taskResult),
      failedTaskArns: [...this.state.failedTaskArns],
      ...logs,
      ...(cause === undefined ? {} : { error: errorOf(cause, job.jobId) }),
    };
    this.#emit("jobCompleted", { result });
    this.#completed = true;
    return result;
  }

  /** The result's logs; a fetcher that fails (or throws) leaves an error in their place. */
  async #collectLogs(status: JobStatus): Promise<Pick<JobResult, "logs" | "taskLogs">> {
    const collect = this.#services.collectLogs;
    if (collect === undefined) return {};
    try {
      return await collect(this.state, status, this.#prepared);
    } catch (error) {
      return { logs: { error: `could not fetch logs: ${textOf(error)}` } };
    }
  }

  /** Emits a runner event with the job's and the run's ids; nothing after `jobCompleted`. */
  #emit<E extends keyof EcsBatchRunnerEvents>(event: E, payload: OwnPayload<E>): void {
    if (this.#completed) return;
    this.#services.emit(event, {
      jobId: this.state.jobId,
      runId: this.state.runId,
      ...payload,
    } as EventPayload<E>);
  }

  /** A method, not a property read: the flag changes across awaits, which narrowing cannot see. */
  #isStopping(): boolean {
    return this.#stopping.signal.aborted;
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
    return new Promise<void>((resolve) => {
      this.#slotsLeft = slots.length;
      this.#slotsDone = resolve;
      if (slots.length === 0) resolve();
      this.#services.launcher.queue(
        slots.length,
        (reserved, index) => {
          const slot = slots[index] as SlotState;
          try {
            this.#attempt(slot, reserved);
          } catch (error) {
            this.#fail(error, slot);
          }
        },
        this.#stopping.signal,
      );
    });
  }

  /**
   * Something threw where nothing should (a bug, or host code such as a retry policy): the job
   * stops with the error as its cause, the slot that saw it ends (its task stopped, if it has
   * one), and the run resolves `failed` once the other slots end, rather than hanging or
   * leaving tasks running unwatched.
   */
  #fail(error: unknown, slot: SlotState): void {
    this.#log.error("unexpected error; stopping the job", {
      jobId: this.state.jobId,
      taskIndex: slot.index,
      error: textOf(error),
    });
    this.#stop({ kind: "fatal", error });
    if (slot.ended) return;
    const arn = slot.taskArn;
    // A task still watched is being stopped by `#stop`; its watch ends the slot with its final
    // state. Any other slot ends here, its task (if any) stopped.
    if (slot.phase === "running" && arn !== undefined && this.#services.watcher.isWatching(arn))
      return;
    if (arn !== undefined && slot.lastStatus !== "STOPPED" && !slot.stopRequested) {
      slot.stopRequested = true;
      this.#sendStop(arn, this.#stopWatchDeadline.signal);
    }
    this.#slotDone(slot);
  }

  /** The slot has reached its end (succeeded, failed, stopped); counted once. */
  #slotDone(slot: SlotState): void {
    if (slot.ended) return;
    slot.ended = true;
    // Neither succeeded nor failed: the job is stopping, or the watch ended without a verdict.
    if (slot.phase !== "succeeded" && slot.phase !== "failed") slot.phase = "stopped";
    if (--this.#slotsLeft === 0) this.#slotsDone();
  }

  /** Launches the slot's next attempt; `reserved`: the launcher holds a launch slot for it. */
  #attempt(slot: SlotState, reserved: boolean): void {
    if (this.#isStopping() || slot.ended) {
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
      .launch(() => buildRunTaskInput(plan, slot.index, attempt), this.#stopping.signal, {
        reserved,
        settleSignal: this.#stopWatchDeadline.signal,
      })
      .then(
        (launched) => {
          try {
            this.#launched(slot, attempt, launched);
          } catch (error) {
            this.#fail(error, slot);
          }
        },
        (error: unknown) => this.#fail(error, slot),
      );
  }

  #launched(slot: SlotState, attempt: number, launched: LaunchResult): void {
    if (launched.kind !== "started" && launched.kind !== "fatal" && launched.unsettled === true) {
      this.#unsettled.push({ slot, attempt });
    }
    if (slot.ended) {
      // Given up on while RunTask was in flight (the stop-watch deadline passed): a task it
      // started now is stopped at once rather than left running unwatched.
      if (launched.kind === "started" && launched.task.taskArn !== undefined) {
        this.#log.error("RunTask answered after the job gave up on it; stopping that task", {
          jobId: this.state.jobId,
          taskIndex: slot.index,
          taskArn: launched.task.taskArn,
        });
        this.#sendStop(launched.task.taskArn, undefined);
      }
      return;
    }
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
    // The job may have started stopping while this RunTask was in flight: stopping comes first.
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
    this.#emit("taskStarted", {
      taskIndex: slot.index,
      attempt,
      taskArn: arn,
      taskName: slot.taskName,
    });
    if (task.lastStatus !== undefined) this.#statusChanged(slot, task.lastStatus);
    this.#services.onTaskStarted?.(this.state, slot, task);
  }

  /**
   * One listener for every watch of the job: the slot is the watch's subject, and its current
   * attempt and ARN are the watched ones (they change only when the next attempt launches).
   */
  readonly #watchListener: WatchListener<SlotState> = {
    // Guarded like every step, written out: these run for every status of every task.
    onStatus: (slot, task) => {
      try {
        slot.lastStatus = shared(task.lastStatus);
        this.#statusChanged(slot, task.lastStatus ?? "UNKNOWN");
      } catch (error) {
        this.#fail(error, slot);
      }
    },
    onDone: (slot, watched) => {
      try {
        this.#watched(slot, watched);
      } catch (error) {
        this.#fail(error, slot);
      }
    },
  };

  /** `taskStatusChanged` for the slot's current attempt. */
  #statusChanged(slot: SlotState, lastStatus: string): void {
    this.#emit("taskStatusChanged", {
      taskIndex: slot.index,
      attempt: slot.attempts,
      taskArn: slot.taskArn as string,
      lastStatus,
    });
  }

  #watched(slot: SlotState, watched: WatchResult): void {
    if (slot.ended) return;
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
        taskIndex: slot.index,
        attempt,
        taskArn: arn,
        exitCode: outcome.exitCode,
      });
      this.#slotDone(slot);
      return;
    }
    // A task given up as missing may only be hidden from DescribeTasks: it is stopped before
    // its retry launches, and watched for the rest of the job in case it shows up again.
    if (outcome.failure.kind === "missing") this.#giveUp(slot, arn);
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
        try {
          if (retry) this.#attempt(slot, false);
          else this.#slotDone(slot);
        } catch (error) {
          this.#fail(error, slot);
        }
      },
      (error: unknown) => this.#fail(error, slot),
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
      try {
        failure = await this.#services.withLogTail(failure, task, this.#prepared);
      } catch {
        // The tail is a courtesy: a failure is reported without it rather than not at all.
      }
    }
    slot.lastFailure = failure;
    slot.failedAt = clock.now();
    const failedArn = started ? slot.taskArn : undefined;
    if (failedArn !== undefined) {
      slot.failedTaskArns = [...slot.failedTaskArns, failedArn];
      this.state.failedTaskArns.push(failedArn);
    }
    if (!willRetry) {
      slot.phase = "failed";
      if (!this.#isStopping()) this.#stop({ kind: "exhausted", taskIndex: slot.index, failure });
    }
    this.#emit("taskFailed", {
      taskIndex: slot.index,
      attempt,
      ...(failedArn === undefined ? {} : { taskArn: failedArn }),
      failure,
      willRetry,
    });
    if (!willRetry) return false;
    const delayMs = backoffOf(retryPolicy.delay(failure, context, random));
    slot.phase = "backoff";
    this.#emit("retried", {
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
      // A veto written in JavaScript may return anything: `willRetry` is a boolean all the same.
      const allowed: unknown = veto(failure, {
        taskIndex: context.taskIndex,
        attempt: context.attempt,
      });
      return Boolean(allowed);
    } catch (error) {
      // A broken veto must not cause silent retries: treat it as "do not retry", loudly.
      this.#log.error("retry.shouldRetry threw; not retrying", {
        jobId: this.state.jobId,
        taskIndex: context.taskIndex,
        error: textOf(error),
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

  /**
   * Gives up on an attempt ECS reported missing: StopTask for it (best effort: ECS usually no
   * longer knows it, which the stopper counts as stopped), and a watch for the rest of the job
   * that stops it again should it reappear.
   */
  #giveUp(slot: SlotState, taskArn: string): void {
    this.#sendStop(taskArn, this.#done.signal, "gave up on a task ECS reported missing");
    this.#watchGivenUp({ slot, taskArn, stopping: false });
  }

  #watchGivenUp(ghost: GivenUpTask): void {
    if (this.#done.signal.aborted) return;
    this.#services.watcher.track(
      {
        cluster: this.state.cluster,
        taskArn: ghost.taskArn,
        pollInterval: this.#prepared.job.pollInterval,
        signal: this.#done.signal,
      },
      this.#givenUpListener,
      ghost,
    );
  }

  /** Watches tasks given up as missing: one that shows up unstopped is stopped. */
  readonly #givenUpListener: WatchListener<GivenUpTask> = {
    onStatus: (ghost, task) => {
      if (task.lastStatus === "STOPPED" || ghost.stopping) return;
      ghost.stopping = true;
      this.#log.warn("a task given up as missing is running after all; stopping it", {
        jobId: this.state.jobId,
        taskIndex: ghost.slot.index,
        taskArn: ghost.taskArn,
      });
      this.#sendStop(ghost.taskArn, this.#done.signal, "gave up on a task ECS reported missing");
    },
    onDone: (ghost, watched) => {
      // Missing again: keep looking for as long as the job runs.
      if (watched.kind === "missing") this.#watchGivenUp(ghost);
    },
  };

  #stopSlot(slot: SlotState): void {
    const arn = slot.taskArn;
    if (arn === undefined || slot.stopRequested || slot.phase !== "running") return;
    slot.stopRequested = true;
    this.#services.watcher.expedite(arn, STOPPING_POLL_MS);
    this.#sendStop(arn, this.#stopWatchDeadline.signal);
  }

  /** StopTask for one task, awaited before the job ends; never throws. */
  #sendStop(taskArn: string, signal: AbortSignal | undefined, why?: string): void {
    const cause = this.state.stopCause;
    const reason = stopReason(
      this.state.jobId,
      why ?? (cause === undefined ? "is stopping" : causeText(cause)),
    );
    try {
      this.#stopRequests.push(
        this.#services.stopper.stop(this.state.cluster, taskArn, reason, signal).catch(() => false),
      );
    } catch (error) {
      this.#log.error("StopTask could not be sent", { taskArn, error: textOf(error) });
    }
  }

  /** Waits for every StopTask sent, including those sent while waiting. */
  async #stopsSent(): Promise<void> {
    for (let seen = 0; seen < this.#stopRequests.length;) {
      const batch = this.#stopRequests.slice(seen);
      seen = this.#stopRequests.length;
      await Promise.all(batch);
    }
  }

  /**
   * Looks up, once more, the tasks of attempts whose launch could not be settled, and stops
   * any that exist: the job's last chance to keep a task it never learned of from running on.
   */
  async #settleUnsettled(): Promise<void> {
    const stopped: Promise<WatchResult>[] = [];
    for (const { slot, attempt } of this.#unsettled.splice(0)) {
      const request = buildRunTaskInput(this.#prepared.plan, slot.index, attempt);
      const found = await this.#services.launcher.lookup(request);
      if (!found.ok) {
        this.#log.error("could not find out whether a lost RunTask answer started a task", {
          jobId: this.state.jobId,
          taskIndex: slot.index,
          attempt,
          startedBy: request.startedBy,
        });
        continue;
      }
      for (const task of found.tasks) {
        if (task.taskArn === undefined || task.lastStatus === "STOPPED") continue;
        if (task.taskArn === slot.taskArn && slot.stopRequested) continue;
        this.#log.error("found a task whose RunTask answer was lost; stopping it", {
          jobId: this.state.jobId,
          taskIndex: slot.index,
          attempt,
          taskArn: task.taskArn,
        });
        this.#sendStop(task.taskArn, undefined, "stopping a task whose RunTask answer was lost");
        // Watched to STOPPED (for the stop watch's length at most), like every task stopped.
        stopped.push(
          this.#services.watcher.watch({
            cluster: this.state.cluster,
            taskArn: task.taskArn,
            pollInterval: STOPPING_POLL_MS,
            signal: this.#sweepDeadline(),
          }),
        );
      }
    }
    await Promise.all(stopped);
  }

  /** A signal that aborts one stop watch from now (the sweep may come after the job's own). */
  #sweepDeadline(): AbortSignal {
    const deadline = new AbortController();
    void sleepUnlessAborted(this.#services.clock, STOP_WATCH_MS, this.#done.signal).then(
      () => deadline.abort(),
      () => deadline.abort(),
    );
    return deadline.signal;
  }

  #stop(cause: StopCause): void {
    if (this.state.stopCause !== undefined || this.#done.signal.aborted) return;
    this.state.stopCause = cause;
    // Stopping comes first: the tasks, then the timers, then telling anyone about it.
    const running = this.state.slots.filter(
      (s) => s.phase === "running" && s.taskArn !== undefined,
    );
    for (const slot of running) this.#stopSlot(slot);
    this.#stopping.abort();
    // The stop-watch deadline starts now; the job's end cancels the timer.
    void sleepUnlessAborted(this.#services.clock, STOP_WATCH_MS, this.#done.signal).then(
      (elapsed) => {
        if (elapsed) this.#stopWatchOver();
      },
      () => this.#stopWatchOver(),
    );
    this.#log.info("stopping job", { jobId: this.state.jobId, cause: causeText(cause) });
    if (cause.kind === "timeout") {
      this.#emit("timedOut", {
        timeoutMs: cause.timeoutMs,
        elapsedMs: this.#services.clock.now() - this.state.startedAt,
        stoppedTaskArns: running.map((s) => s.taskArn as string),
      });
    }
  }

  /**
   * The stop watch is over: watches of tasks being stopped end, and a slot still waiting for a
   * RunTask answer is given up (its task, should one start later, is stopped on arrival).
   */
  #stopWatchOver(): void {
    this.#stopWatchDeadline.abort();
    for (const slot of this.state.slots) {
      if (slot.ended || slot.phase !== "launching") continue;
      this.#log.error("RunTask has not answered since the job stopped; giving up on it", {
        jobId: this.state.jobId,
        taskIndex: slot.index,
      });
      this.#slotDone(slot);
    }
  }
}

/** A task given up as missing, watched for the rest of its job. */
interface GivenUpTask {
  readonly slot: SlotState;
  readonly taskArn: string;
  /** StopTask was sent after it showed up again. */
  stopping: boolean;
}

type EventPayload<E extends keyof EcsBatchRunnerEvents> = Parameters<EcsBatchRunnerEvents[E]>[0];
/** An event's payload without the ids every payload of a job carries. */
type OwnPayload<E extends keyof EcsBatchRunnerEvents> = Omit<EventPayload<E>, "jobId" | "runId">;

/** A retry policy's delay as a wait: a number of ms ≥ 0, whatever the policy returned. */
function backoffOf(delay: number): number {
  return Number.isFinite(delay) ? Math.max(0, Math.round(delay)) : 0;
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
  const common = commonSetupError("RunTask", error);
  if (common !== undefined) return common;
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
