/**
 * One job's life (DESIGN 2.2, 2.3, 3.1-3.5): the driver of its task slots. Each slot's
 * behaviour is the pure transition function of `slot.ts`; this file carries out the commands a
 * step returns (launch, watch, stop, wait, emit) with the launcher, watcher, stopper and clock,
 * and feeds their answers back to the slot as events. It also owns what is the job's own: the
 * stop cause and its 2-minute stop watch, the tasks given up on, and the end of the run.
 */
import { setMaxListeners } from "node:events";
import type { Task } from "@aws-sdk/client-ecs";
import { awsErrorMessage, awsErrorName, commonSetupError, classifyAwsError } from "../aws.js";
import { sleepUnlessAborted, type Clock, type RandomSource } from "../clock.js";
import { EcsBatchDetachedError, EcsBatchSetupError, type EcsBatchErrorCode } from "../errors.js";
import type { EcsBatchRunnerEvents } from "../events.js";
import { formatDuration } from "../job/duration.js";
import type { JobLogPort } from "../logs/job-logs.js";
import { safeLogger, textOf, type Logger } from "../logger.js";
import { buildRunTaskInput } from "../request/build.js";
import { runnerTagsOf, taskName } from "../request/naming.js";
import { launchReservations, type Launcher, type LaunchOptions } from "./launcher.js";
import { settlingTask } from "./lookup.js";
import { essentialContainers } from "./outcome.js";
import type { PreparedJob } from "../prepare/prepare.js";
import type { RetryContext, RetryPolicy } from "./retry.js";
import {
  initialSlot,
  step,
  type SlotCommand,
  type SlotContext,
  type SlotEvent,
  type SlotState,
} from "./slot.js";
import {
  causeInReason,
  isStoppedByRunner,
  STOP_JOB_CAUSE,
  stopReason,
  type TaskStopper,
} from "./stopper.js";
import type { JobResult, JobStatus, TaskFailure, TaskResult } from "../result.js";
import { trackTask, type TaskWatcher, type WatchListener, type WatchResult } from "./watcher.js";

export type { SlotPhase, SlotState } from "./slot.js";

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
  /** Each slot's current state; a step replaces its slot's entry. */
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
  /** The job's logs (DESIGN 3.6): failure tails, following, the result's logs. None when absent. */
  readonly logs?: JobLogPort;
}

/**
 * Where a job's state is checkpointed (DESIGN 3.11), so another process can carry the run on.
 * The job tells it when the run starts, when its state changes and when it ends; writes and
 * the lease are the checkpointer's business.
 */
export interface JobCheckpoints {
  /**
   * The run's first checkpoint, awaited before its first RunTask. `onLost` is called if the
   * run's lease passes to another process: this one then stops driving the run.
   */
  started(state: JobState, onLost: (error: Error) => void): Promise<void>;
  /** The slot at `index` took a step that replaced it (its checkpointed fields may have changed). */
  changed(index: number): void;
  /**
   * The run began stopping (`state.stopCause` is set): written at once rather than on the next
   * beat, so a process that attaches after this one dies stops the run too, even when no
   * StopTask of it reached ECS (a cancel while every launch was still in flight).
   */
  stopping(): void;
  /**
   * Whether this process still holds the run's lease, asked before each RunTask: at once while
   * the lease has time left by this process's clock; otherwise (the process slept past it, or
   * renewals failed for a while) once it is renewed. False once the lease is lost, after
   * `onLost` was called: a process woken from a pause launches nothing for a run another
   * process carried on (and perhaps cancelled) meanwhile.
   */
  leaseHeld(): Promise<boolean>;
  /** The run ended (with its result), or stopped being driven here (`undefined`). */
  finished(state: JobState, result: JobResult | undefined): Promise<void>;
  /**
   * The run is handed over (`detach`): `state` (as it was when this process let go) is written
   * and the lease given back, so another process attaches at once and carries it on.
   */
  handOver(state: JobState): Promise<void>;
}

/** A run carried on from a checkpoint (or from what ECS knows): where it was. */
export interface ResumedState {
  readonly slots: readonly SlotState[];
  readonly failedTaskArns: readonly string[];
  readonly stopCause?: StopCause;
}

/** Options of a job's execution. */
export interface JobExecutionOptions {
  /** Checkpoints the run (a runner with a `store`). */
  readonly checkpoints?: JobCheckpoints;
  /** Carries a run on from where another process left it. */
  readonly resume?: ResumedState;
  /** When a resumed run that had already finished ended (ms since epoch), for its result. */
  readonly finishedAt?: number;
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
  /** What every step of this job's slots reads: one object, whose `stopping` and `now` are live. */
  readonly #slotContext: SlotContext;
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
   * Ends StopTask sends still waiting or retrying once StopTask has made no progress (no call
   * accepted) for a stop watch: the API is down, and the job must still end. While calls go
   * through, however slowly (10,000 stops at 40 per second take four minutes), none is given
   * up: a StopTask not sent is a task left running.
   */
  #stopSends = manyListeners();
  /** StopTask sends not yet settled. */
  #stopsPending = 0;
  /** When a StopTask was last accepted, or the watch over sends began. */
  #lastStopProgress = 0;
  #stopSendsWatched = false;
  /**
   * Attempts whose RunTask may have started a task nobody could find out about (a lost answer,
   * and a lookup that failed too): looked up again, and stopped, before the job ends.
   */
  readonly #unsettled: { readonly index: number; readonly attempt: number }[] = [];
  /**
   * Slots of a resumed run that had never launched, or whose attempt had already failed, when
   * the run was taken up, by index, with that attempt (0: none): the process before may have
   * sent the next attempt's RunTask just before it died, and ECS may start its task after this
   * process looked. A slot that ends here without this process sending that attempt itself
   * (the run stopping) has it looked for (`#lookForLate`).
   */
  readonly #takenUpAt = new Map<number, number>();
  /** The first attempt looked for, by slot index, while `#sweepLate` runs. */
  readonly #lateWanted = new Map<number, number>();
  #sweepingLate = false;
  /** Those looks, each over by the end of the stop watch: the result waits for them. */
  readonly #lateSweeps: Promise<void>[] = [];
  #started = false;
  /** Slots not at their end yet; `#slotsDone` when none is left. */
  #slotsLeft = 0;
  #slotsDone: () => void = () => undefined;
  #pendingStop: StopCause | undefined;
  #completed = false;
  readonly #checkpoints: JobCheckpoints | undefined;
  /** How every launch of the job is sent: with a store, each send asks for the lease first. */
  readonly #launchOptions: LaunchOptions;
  readonly #resume: ResumedState | undefined;
  readonly #finishedAt: number | undefined;
  /** Set when another process took the run over: this one stops driving it, its tasks alone. */
  #detached: Error | undefined;
  /** Asked to hand the run over before it started: done as soon as it has. */
  #detachRequested = false;
  /** The run as this process let go of it, when it handed the run over (`detach`). */
  #handedOver: Pick<JobState, "slots" | "failedTaskArns" | "stopCause"> | undefined;

  constructor(
    prepared: PreparedJob,
    services: JobServices,
    startedAt: number,
    options: JobExecutionOptions = {},
  ) {
    this.#prepared = prepared;
    this.#services = services;
    const checkpoints = options.checkpoints;
    this.#checkpoints = checkpoints;
    this.#launchOptions = {
      settleSignal: this.#stopWatchDeadline.signal,
      ...(checkpoints === undefined ? {} : { beforeSend: () => checkpoints.leaseHeld() }),
    };
    this.#resume = options.resume;
    this.#finishedAt = options.finishedAt;
    this.#log = safeLogger(services.logger);
    const job = prepared.job;
    for (const c of [this.#stopping, this.#stopWatchDeadline, this.#done]) manyListeners(c);
    const isStopping = (): boolean => this.#isStopping();
    this.#slotContext = {
      get stopping() {
        return isStopping();
      },
      get now() {
        return services.clock.now();
      },
      essential: essentialContainers(prepared.taskDefinition.definition),
      maxFailCount: job.maxFailCount,
      maxLaunchRetries: job.retry.maxLaunchRetries,
      backoff: job.retry.backoff,
      shouldRetry: (failure, context) => this.#shouldRetry(failure, context),
      delay: (failure, context) => services.retryPolicy.delay(failure, context, services.random),
      readsLogTails: services.logs?.readsTails ?? false,
      stoppedByRunner: (task) => isStoppedByRunner(job.jobId, task.stoppedReason),
      runCauseIn: (task) => causeInStopReason(job.jobId, task.stoppedReason),
    };
    this.state = {
      jobId: job.jobId,
      runId: prepared.plan.runId ?? "",
      cluster: job.cluster,
      taskDefinitionArn: prepared.taskDefinition.taskDefinitionArn,
      startedAt,
      slots:
        options.resume === undefined
          ? Array.from({ length: job.taskCount }, (_, index) =>
              initialSlot(index, taskName(job.taskNamePrefix, job.jobId, index)),
            )
          : // Records of the job's own: it changes them in place (`#setSlot`).
            options.resume.slots.map((slot) => ({ ...slot })),
      failedTaskArns: [...(options.resume?.failedTaskArns ?? [])],
    };
  }

  /**
   * Hands the run over to another process: this one stops driving it (nothing more is
   * launched, no StopTask sent, no task watched), writes where the run was and gives its lease
   * back; its tasks run on. `run()` then rejects with `EcsBatchDetachedError`. A job that is
   * ending already ends as it would have.
   */
  detach(): void {
    if (this.#started) this.#letGo();
    else this.#detachRequested = true;
  }

  #letGo(): void {
    if (this.#detached !== undefined || this.#done.signal.aborted) return;
    // Taken before anything reacts to the detach: a backoff cut short, say, must not be
    // written as a slot that stopped.
    this.#handedOver = {
      slots: this.state.slots.map((slot) => ({ ...slot })),
      failedTaskArns: [...this.state.failedTaskArns],
      ...(this.state.stopCause === undefined ? {} : { stopCause: this.state.stopCause }),
    };
    const launched = this.state.slots.some((s) => s.attempts > 0 || s.phase !== "pending");
    this.#detach(
      new EcsBatchDetachedError(
        this.state.jobId,
        this.state.runId,
        launched ? "running" : "unlaunched",
      ),
    );
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
    const job = this.#prepared.job;
    // The run is on record before anything is launched, so any process can find it.
    try {
      await this.#checkpoints?.started(this.state, (error) => this.#detach(error));
    } catch (error) {
      // Nothing was launched: the lease goes back, for a retry from any process.
      await this.#checkpoints?.finished(this.state, undefined);
      throw error;
    }
    this.#emit("jobStarted", {
      taskCount: job.taskCount,
      taskDefinitionArn: this.state.taskDefinitionArn,
      ...(this.#resume === undefined ? {} : { attached: true }),
    });
    this.#started = true;
    if (this.#detachRequested) this.#letGo();
    const resumedCause = this.#resume?.stopCause;
    try {
      const slotsOver = this.#detached === undefined ? this.#runSlots() : Promise.resolve();
      // A run that was stopping when its process went stops again here: its cause is kept.
      if (resumedCause !== undefined) this.#stop(resumedCause);
      // A timeout or cancel that came while the job was being prepared: nothing gets launched.
      if (this.#pendingStop !== undefined) this.#stop(this.#pendingStop);
      await slotsOver;
      if (this.#detached === undefined) {
        await Promise.all(this.#lateSweeps);
        await this.#settleUnsettled();
        await this.#stopsSent();
      }
      // The last reads of followed logs come before `jobCompleted`, with their `log` events.
      await this.#services.logs?.settled();
    } finally {
      this.#done.abort();
    }
    if (this.#detached !== undefined) {
      if (this.#handedOver === undefined) await this.#checkpoints?.finished(this.state, undefined);
      else await this.#checkpoints?.handOver({ ...this.state, ...this.#handedOver });
      throw this.#detached;
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
      finishedAt: new Date(this.#finishedAt ?? this.#services.clock.now()),
      taskDefinitionArn: this.state.taskDefinitionArn,
      tasks: this.state.slots.map(taskResult),
      failedTaskArns: [...this.state.failedTaskArns],
      ...logs,
      ...(cause === undefined ? {} : { error: errorOf(cause, job.jobId) }),
    };
    await this.#checkpoints?.finished(this.state, result);
    this.#emit("jobCompleted", { result });
    this.#completed = true;
    return result;
  }

  /**
   * Another process took the run over: stop driving it, and leave its tasks alone (their new
   * owner watches them). Queued launches, waits and watches end; no StopTask is sent.
   */
  #detach(error: Error): void {
    if (this.#detached !== undefined || this.#done.signal.aborted) return;
    this.#detached = error;
    this.#log.warn("another process took the run over; this one stops driving it", {
      jobId: this.state.jobId,
      runId: this.state.runId,
    });
    this.#stopping.abort();
    this.#stopWatchDeadline.abort();
    for (const slot of this.state.slots) {
      if (!slot.ended) this.#setSlot(slot.index, { ...slot, ended: true });
    }
    this.#slotsLeft = 0;
    this.#slotsDone();
  }

  /**
   * Every slot takes its place in the launch queue at once, as one entry: a slot waiting for
   * its first launch costs the queue nothing. The run's slots are over when the last one ends.
   */
  #runSlots(): Promise<void> {
    const slots = this.state.slots;
    const pending = slots.filter((s) => s.phase === "pending").map((s) => s.index);
    if (this.#resume !== undefined) {
      for (const index of pending) this.#takenUpAt.set(index, (slots[index] as SlotState).attempts);
    }
    // Taken before the queue starts launching (which changes the slots' phases).
    const carriedOn = slots.filter((s) => !s.ended && s.phase !== "pending");
    return new Promise<void>((resolve) => {
      this.#slotsLeft = slots.filter((s) => !s.ended).length;
      this.#slotsDone = resolve;
      if (this.#slotsLeft === 0) resolve();
      launchReservations.queue(
        this.#services.launcher,
        pending.length,
        (reserved, i) =>
          this.#step(pending[i] as number, { kind: "turn", granted: reserved, reserved }),
        this.#stopping.signal,
      );
      for (const slot of carriedOn) this.#carryOn(slot);
    });
  }

  /**
   * Takes up a slot of a resumed run where it was: its task watched again (and stopped again,
   * if it was being stopped), a report finished, a backoff waited out, and a RunTask that was
   * in flight settled by a lookup of its task before it is sent again (with the same token).
   */
  #carryOn(slot: SlotState): void {
    const index = slot.index;
    if (mayHaveBeenRetried(slot)) this.#takenUpAt.set(index, slot.attempts);
    switch (slot.phase) {
      case "running":
        if (slot.taskArn === undefined) return;
        this.#run(index, { kind: "watch", taskArn: slot.taskArn, stopping: slot.stopRequested });
        if (slot.stopRequested) this.#sendStop(slot.taskArn);
        return;
      case "reporting":
        if (slot.report !== undefined) {
          this.#step(index, { kind: "reported", failure: slot.report.failure });
        }
        return;
      case "backoff": {
        const wait = Math.max(0, (slot.retryAt ?? 0) - this.#services.clock.now());
        this.#run(index, { kind: "sleep", ms: wait });
        return;
      }
      case "launching":
        this.#settleInherited(index, slot.attempts + 1).catch((error: unknown) =>
          this.#fail(error, index),
        );
        return;
      default:
        return;
    }
  }

  /**
   * Settles a RunTask a previous process sent and never saw answered: its task, if ECS
   * started it, is looked up; if none is found the request is sent again with the same token
   * (ECS then starts at most one task for the two). A stopping run sends nothing, yet ECS may
   * still start the task of the request in flight, after this process took the run: so it
   * looks again every few seconds until the stop watch is over, and stops the task when it
   * appears. Given up then, the attempt gets the job's last lookup (`#settleUnsettled`).
   */
  async #settleInherited(index: number, attempt: number): Promise<void> {
    const request = buildRunTaskInput(this.#prepared.plan, index, attempt);
    const launcher = this.#services.launcher;
    const deadline = this.#stopWatchDeadline.signal;
    let sent = false;
    for (;;) {
      const found = await launcher.lookup(request, deadline);
      const task = found.ok ? settlingTask(found.tasks) : undefined;
      if (task !== undefined) {
        this.#step(index, { kind: "launched", attempt, result: { kind: "started", task } });
        return;
      }
      if (!sent && !this.#stopping.signal.aborted) {
        sent = true;
        const result = await launcher.launch(request, this.#stopping.signal, this.#launchOptions);
        // Not sent (the run began stopping first), or sent and refused: the earlier request may
        // still start its task, as above.
        if (result.kind !== "aborted") {
          this.#step(index, { kind: "launched", attempt, result });
          return;
        }
      }
      if (!(await sleepUnlessAborted(this.#services.clock, STOPPING_POLL_MS, deadline))) {
        // The stop watch gave the slot up meanwhile.
        this.#unsettled.push({ index, attempt });
        return;
      }
    }
  }

  /**
   * A slot that ended: if it had not launched, or its attempt had failed, before this process
   * took the run up, and this process never sent the next attempt (the run stopping), that
   * attempt may have been sent by the process before; it is looked for.
   */
  #lookForLate(index: number): void {
    const takenUp = this.#takenUpAt.get(index);
    if (takenUp === undefined) return;
    this.#takenUpAt.delete(index);
    const slot = this.state.slots[index] as SlotState;
    if (slot.attempts !== takenUp || this.state.stopCause === undefined) return;
    // A run handed over is its next owner's to look after.
    if (this.#detached !== undefined) return;
    this.#lateWanted.set(index, takenUp + 1);
    if (this.#sweepingLate) return;
    this.#sweepingLate = true;
    this.#lateSweeps.push(
      this.#sweepLate()
        .catch((error: unknown) => {
          this.#log.error("could not look for tasks the previous process may have launched", {
            jobId: this.state.jobId,
            error: awsErrorName(error),
          });
        })
        .finally(() => (this.#sweepingLate = false)),
    );
  }

  /**
   * Looks for the attempts of `#lateWanted` (or later ones) among the tasks ECS means to run
   * (of the job's task definition family), every few seconds until each is found or the stop
   * watch is over: one listing for them all, each task described once. A task found is
   * stopped, watched, and becomes its slot's attempt.
   */
  async #sweepLate(): Promise<void> {
    const deadline = this.#stopWatchDeadline.signal;
    const seen = new Set<string>();
    for (const slot of this.state.slots) {
      if (slot.taskArn !== undefined) seen.add(slot.taskArn);
      for (const arn of slot.failedTaskArns) seen.add(arn);
    }
    const family = this.#prepared.taskDefinition.definition.family;
    const stopping: Promise<WatchResult>[] = [];
    while (this.#lateWanted.size > 0) {
      const found = await this.#services.launcher.findRunning(
        this.state.cluster,
        family,
        seen,
        deadline,
      );
      for (const task of found.ok ? found.tasks : []) {
        if (task.taskArn === undefined) continue;
        seen.add(task.taskArn);
        const tagged = runnerTagsOf(task);
        if (tagged === undefined || tagged.runId !== this.state.runId) continue;
        // That attempt or a later one: a launch RunTask refused (AGENT, capacity) leaves no
        // task, so the previous process may have been at a later attempt than ECS shows.
        const wanted = this.#lateWanted.get(tagged.index);
        if (wanted === undefined || tagged.attempt < wanted) continue;
        this.#lateWanted.delete(tagged.index);
        stopping.push(this.#stopLate(tagged.index, tagged.attempt, task, task.taskArn));
      }
      if (this.#lateWanted.size === 0) break;
      if (!(await sleepUnlessAborted(this.#services.clock, STOPPING_POLL_MS, deadline))) break;
    }
    this.#lateWanted.clear();
    await Promise.all(stopping);
  }

  /** A task found late: its slot's attempt, stopped and watched to STOPPED. */
  #stopLate(index: number, attempt: number, task: Task, taskArn: string): Promise<WatchResult> {
    this.#log.warn("found a task the previous process launched as it died; stopping it", {
      jobId: this.state.jobId,
      taskIndex: index,
      attempt,
      taskArn,
    });
    this.#setSlot(index, lateAttempt(this.state.slots[index] as SlotState, attempt, task));
    this.#sendStop(taskArn);
    return this.#services.watcher.watch({
      cluster: this.state.cluster,
      taskArn,
      pollInterval: STOPPING_POLL_MS,
      signal: this.#sweepDeadline(),
    });
  }

  /**
   * Makes `next` the slot's state, and the checkpoints' to write. The job keeps one object per
   * slot for the run's life and copies each new state into it: at AWS's pace a slot's state
   * lives from one step to the next (seconds to minutes), long enough for V8 to move each
   * version into the old generation, where 10,000 tasks' versions made every collection dearer
   * for the whole process (bench/README.md, series 8). A step that kept the slot (a status seen
   * again, say) leaves it, and the checkpoint, as they were.
   */
  #setSlot(index: number, next: SlotState): void {
    const record = this.state.slots[index] as SlotState;
    if (next === record) return;
    Object.assign(record, next);
    this.#checkpoints?.changed(index);
  }

  /**
   * Steps a slot and carries out the commands. The one guard of the engine: whatever throws
   * here (a bug, or host code such as a retry policy) ends the job `failed` instead of
   * breaking it (`#fail`).
   */
  #step(index: number, event: SlotEvent): void {
    let commands: readonly SlotCommand[];
    try {
      const next = step(this.state.slots[index] as SlotState, event, this.#slotContext);
      this.#setSlot(index, next.slot);
      commands = next.commands;
    } catch (error) {
      this.#fail(error, index);
      return;
    }
    let failure: { error: unknown } | undefined;
    for (const command of commands) {
      try {
        this.#run(index, command);
      } catch (error) {
        // The slot's other commands still run (its `done`, say); the job fails once they have.
        failure ??= { error };
      }
    }
    if (failure !== undefined) this.#fail(failure.error, index);
  }

  /** Carries out one command of a slot. */
  #run(index: number, command: SlotCommand): void {
    const services = this.#services;
    const slot = this.state.slots[index] as SlotState;
    switch (command.kind) {
      case "launch":
        this.#launch(index, command.attempt, command.reserved);
        return;
      case "unreserve":
        launchReservations.unreserve(services.launcher);
        return;
      case "watch": {
        const poll = this.#prepared.job.pollInterval;
        trackTask(
          services.watcher,
          {
            cluster: this.state.cluster,
            taskArn: command.taskArn,
            pollInterval: command.stopping ? Math.min(poll, STOPPING_POLL_MS) : poll,
            lastStatus: slot.lastStatus,
            signal: this.#stopWatchDeadline.signal,
          },
          this.#watchListener,
          index,
        );
        return;
      }
      case "stop":
        services.watcher.expedite(command.taskArn, STOPPING_POLL_MS);
        this.#sendStop(command.taskArn);
        return;
      case "giveUp":
        this.#sendStop(
          command.taskArn,
          "gave up on a task ECS reported missing",
          this.#done.signal,
        );
        this.#watchGivenUp({ index, taskArn: command.taskArn, stopping: false });
        return;
      case "stopOrphan":
        this.#log.error("RunTask answered after the job gave up on it; stopping that task", {
          jobId: this.state.jobId,
          taskIndex: index,
          taskArn: command.taskArn,
        });
        this.#sendStop(command.taskArn);
        return;
      case "settleLater":
        this.#unsettled.push({ index, attempt: command.attempt });
        return;
      case "readLogTail":
        this.#readLogTail(index, command.failure, command.task);
        return;
      case "sleep":
        sleepUnlessAborted(services.clock, command.ms, this.#stopping.signal).then(
          (completed) => this.#step(index, { kind: "backoffOver", completed }),
          (error: unknown) => this.#fail(error, index),
        );
        return;
      case "emit":
        if (command.event === "taskFailed" && command.payload.taskArn !== undefined) {
          this.state.failedTaskArns.push(command.payload.taskArn);
        }
        this.#emit(command.event, command.payload);
        return;
      case "stopJob":
        if (command.cause.kind === "fatal") {
          this.#log.error("an AWS call failed for good; stopping the job", {
            jobId: this.state.jobId,
            taskIndex: index,
            error: awsErrorName(command.cause.error),
          });
        }
        this.#stop(command.cause);
        return;
      case "taskStarted":
        services.logs?.taskStarted(index, slot.attempts, command.task);
        return;
      case "taskDone":
        services.logs?.taskDone(command.taskArn);
        return;
      case "done":
        this.#lookForLate(index);
        if (--this.#slotsLeft === 0) this.#slotsDone();
        return;
    }
  }

  #launch(index: number, attempt: number, reserved: boolean): void {
    // Built when sent, not while queued: 10,000 waiting launches would hold 10,000 requests.
    const plan = this.#prepared.plan;
    const launcher = this.#services.launcher;
    const request = () => buildRunTaskInput(plan, index, attempt);
    const options = this.#launchOptions;
    (reserved
      ? launchReservations.launch(launcher, request, this.#stopping.signal, options)
      : launcher.launch(request, this.#stopping.signal, options)
    ).then(
      (result) => this.#step(index, { kind: "launched", attempt, result }),
      (error: unknown) => this.#fail(error, index),
    );
  }

  /** One listener for every watch of the job; the subject is the slot's index. */
  readonly #watchListener: WatchListener<number> = {
    onStatus: (index, task) => this.#step(index, { kind: "observed", task }),
    onDone: (index, result) => this.#step(index, { kind: "watched", result }),
  };

  /** The log tail of a failed task, then the report; a tail that cannot be read is left out. */
  #readLogTail(index: number, failure: TaskFailure, task: Task): void {
    const logs = this.#services.logs;
    const tailed = logs === undefined ? Promise.resolve(failure) : logs.withTail(failure, task);
    tailed.then(
      (withTail) => this.#step(index, { kind: "reported", failure: withTail }),
      () => this.#step(index, { kind: "reported", failure }),
    );
  }

  /** The retry decision: the policy, then the job's own veto. */
  #shouldRetry(failure: TaskFailure, context: RetryContext): boolean {
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

  /**
   * Something threw where nothing should: the job stops with the error as its cause, and the
   * slot that saw it ends, its task stopped (a task still watched ends through its watch).
   */
  #fail(error: unknown, index: number): void {
    this.#log.error("unexpected error; stopping the job", {
      jobId: this.state.jobId,
      taskIndex: index,
      error: textOf(error),
    });
    this.#stop({ kind: "fatal", error });
    const slot = this.state.slots[index] as SlotState;
    if (slot.ended) return;
    const arn = slot.taskArn;
    if (slot.phase === "running" && arn !== undefined && this.#services.watcher.isWatching(arn))
      return;
    if (arn !== undefined && slot.lastStatus !== "STOPPED" && !slot.stopRequested) {
      this.#sendStop(arn);
    }
    this.#setSlot(index, {
      ...slot,
      phase: slot.phase === "succeeded" || slot.phase === "failed" ? slot.phase : "stopped",
      stopRequested: slot.stopRequested || arn !== undefined,
      ended: true,
    });
    if (--this.#slotsLeft === 0) this.#slotsDone();
  }

  #stop(cause: StopCause): void {
    if (this.state.stopCause !== undefined || this.#done.signal.aborted) return;
    // A run this process no longer drives is its new owner's to stop.
    if (this.#detached !== undefined) return;
    this.state.stopCause = cause;
    // Stopping comes first: the tasks, then the waits, then telling anyone about it.
    const running = this.state.slots.filter(
      (s) => s.phase === "running" && s.taskArn !== undefined,
    );
    for (const slot of running) this.#step(slot.index, { kind: "jobStopping" });
    this.#checkpoints?.stopping();
    this.#stopping.abort();
    // The stop watch starts now; the job's end cancels its timer.
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
      this.#step(slot.index, { kind: "stopWatchOver" });
    }
  }

  #watchGivenUp(ghost: GivenUpTask): void {
    if (this.#done.signal.aborted) return;
    trackTask(
      this.#services.watcher,
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
        taskIndex: ghost.index,
        taskArn: ghost.taskArn,
      });
      this.#sendStop(ghost.taskArn, "gave up on a task ECS reported missing", this.#done.signal);
    },
    onDone: (ghost, watched) => {
      // Missing again: keep looking for as long as the job runs.
      if (watched.kind === "missing") this.#watchGivenUp(ghost);
    },
  };

  /**
   * StopTask for one task, awaited before the job ends; never throws. Given up only when
   * `signal` aborts (default: StopTask made no progress for a stop watch).
   */
  #sendStop(taskArn: string, why?: string, signal: AbortSignal = this.#stopSends.signal): void {
    // A run taken over by another process is that process's to stop.
    if (this.#detached !== undefined) return;
    const cause = this.state.stopCause;
    const reason = stopReason(
      this.state.jobId,
      why ?? (cause === undefined ? "is stopping" : causeText(cause)),
    );
    // The quiet is counted from the first send of a batch, not from a send long ago.
    if (this.#stopsPending++ === 0) this.#lastStopProgress = this.#services.clock.now();
    this.#watchStopSends();
    try {
      this.#stopRequests.push(
        this.#services.stopper.stop(this.state.cluster, taskArn, reason, signal).then(
          (accepted) => {
            this.#stopsPending--;
            if (accepted) this.#lastStopProgress = this.#services.clock.now();
            return accepted;
          },
          () => {
            this.#stopsPending--;
            return false;
          },
        ),
      );
    } catch (error) {
      this.#stopsPending--;
      this.#log.error("StopTask could not be sent", { taskArn, error: textOf(error) });
    }
  }

  /** Gives StopTask sends up once StopTask has accepted nothing for a stop watch. */
  #watchStopSends(): void {
    if (this.#stopSendsWatched) return;
    this.#stopSendsWatched = true;
    const clock = this.#services.clock;
    const check = async (): Promise<void> => {
      while (this.#stopsPending > 0) {
        const quietFor = clock.now() - this.#lastStopProgress;
        if (quietFor >= STOP_WATCH_MS) {
          this.#log.error(
            "StopTask has accepted nothing for two minutes; giving up the sends left",
            {
              jobId: this.state.jobId,
              pending: this.#stopsPending,
            },
          );
          this.#stopSends.abort();
          // Stops asked for later (the API may be back) get sends of their own.
          this.#stopSends = manyListeners();
          break;
        }
        if (!(await sleepUnlessAborted(clock, STOP_WATCH_MS - quietFor, this.#done.signal))) break;
      }
      this.#stopSendsWatched = false;
    };
    void check();
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
    for (const { index, attempt } of this.#unsettled.splice(0)) {
      const slot = this.state.slots[index] as SlotState;
      const request = buildRunTaskInput(this.#prepared.plan, index, attempt);
      const found = await this.#services.launcher.lookup(request);
      if (!found.ok) {
        this.#log.error("could not find out whether a lost RunTask answer started a task", {
          jobId: this.state.jobId,
          taskIndex: index,
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
          taskIndex: index,
          attempt,
          taskArn: task.taskArn,
        });
        this.#sendStop(task.taskArn, "stopping a task whose RunTask answer was lost");
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

  /** The result's logs; a fetcher that fails (or throws) leaves an error in their place. */
  async #collectLogs(status: JobStatus): Promise<Pick<JobResult, "logs" | "taskLogs">> {
    const logs = this.#services.logs;
    if (logs === undefined) return {};
    try {
      return await logs.collect(this.state, status);
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
      emittedAt: this.#services.clock.now(),
      ...payload,
    } as EventPayload<E>);
  }

  /** A method, not a property read: the flag changes across awaits, which narrowing cannot see. */
  #isStopping(): boolean {
    return this.#stopping.signal.aborted;
  }
}

/** A task given up as missing, watched for the rest of its job. */
interface GivenUpTask {
  readonly index: number;
  readonly taskArn: string;
  /** StopTask was sent after it showed up again. */
  stopping: boolean;
}

type EventPayload<E extends keyof EcsBatchRunnerEvents> = Parameters<EcsBatchRunnerEvents[E]>[0];
/** An event's payload without the ids every payload of a job carries. */
type OwnPayload<E extends keyof EcsBatchRunnerEvents> = Omit<
  EventPayload<E>,
  "jobId" | "runId" | "emittedAt"
>;

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

/**
 * The run's cause in a StopTask reason the runner of job `jobId` wrote (`causeText` after the
 * marker), when it is one nothing else records: a cancel (`stopJob`'s stops included, as a
 * cancel whose reason says so), or a fatal error (its name and message). A process that dies
 * after sending its stops and before its next checkpoint leaves the cause only there. A
 * timeout follows from the deadline and an exhausted slot from its budgets, so those are not
 * read back; nor is a reason cut at ECS's 255 characters read as more than it says.
 */
export function causeInStopReason(
  jobId: string,
  reason: string | undefined,
): Extract<StopCause, { kind: "cancel" | "fatal" }> | undefined {
  const text = causeInReason(jobId, reason);
  if (text === undefined) return undefined;
  if (text === "was cancelled") return { kind: "cancel" };
  if (text === STOP_JOB_CAUSE || text.startsWith(`${STOP_JOB_CAUSE}: `)) {
    return { kind: "cancel", reason: text };
  }
  if (text.startsWith("was cancelled: "))
    return { kind: "cancel", reason: text.slice("was cancelled: ".length) };
  const fatal = /^failed: ([^:\s]+): (.*)$/s.exec(text);
  if (fatal === null) return undefined;
  const error = new Error(fatal[2]);
  error.name = fatal[1] as string;
  return { kind: "fatal", error };
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
  const kind = classifyAwsError(error);
  const code: EcsBatchErrorCode =
    name === "ClusterNotFoundException"
      ? "CLUSTER_NOT_FOUND"
      : kind === "accessDenied"
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

/**
 * A controller whose signal every queued launch, backoff, watch or StopTask of a job may listen
 * to: thousands of listeners are expected, not a leak, so Node must not warn about them.
 */
function manyListeners(controller = new AbortController()): AbortController {
  setMaxListeners(0, controller.signal);
  return controller;
}

/**
 * Whether a slot taken up from an earlier process had an attempt that failed, whose retry that
 * process may already have sent: one seen stopped on its own (not by the runner), or one whose
 * failure was being reported or waited out with a retry to come.
 */
function mayHaveBeenRetried(slot: SlotState): boolean {
  switch (slot.phase) {
    case "running":
      return slot.lastStatus === "STOPPED" && !slot.stopRequested;
    case "reporting":
      return slot.report?.willRetry === true;
    case "backoff":
      return true;
    default:
      return false;
  }
}

/**
 * An ended slot with the task of its next attempt, found late: being stopped. The attempt
 * before it stays among the slot's failed tasks.
 */
function lateAttempt(slot: SlotState, attempt: number, task: Task): SlotState {
  const failedTaskArns =
    slot.taskArn === undefined || slot.failedTaskArns.includes(slot.taskArn)
      ? slot.failedTaskArns
      : [...slot.failedTaskArns, slot.taskArn];
  return {
    ...slot,
    phase: "stopped",
    attempts: attempt,
    taskArn: task.taskArn,
    lastStatus: task.lastStatus,
    failedTaskArns,
    exitCode: undefined,
    stopCode: undefined,
    stoppedReason: undefined,
    stoppedAt: undefined,
    stopRequested: true,
    report: undefined,
    retryAt: undefined,
  };
}
