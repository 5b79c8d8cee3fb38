/**
 * The runner's typed events (DESIGN 2.2). One payload object per event; every payload carries
 * `jobId` and `runId`, so a host running many jobs (or runs of one job) on one runner can tell
 * them apart.
 */
import { EventEmitter } from "eventemitter3";
import type { JobResult, TaskFailure } from "./result.js";
import { safeLogger, silentLogger, textOf, type Logger } from "./logger.js";

/** Preparation is done; the first RunTask is about to be sent. */
export interface JobStartedEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly taskCount: number;
  readonly taskDefinitionArn: string;
  /** This process carries on a run another one started (`runner.attach`). */
  readonly attached?: boolean;
}

/** RunTask accepted an attempt of a task. */
export interface TaskStartedEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly taskIndex: number;
  /** 1-based. */
  readonly attempt: number;
  readonly taskArn: string;
  readonly taskName: string;
}

/** A new `lastStatus` was observed (PROVISIONING, PENDING, RUNNING, DEPROVISIONING, STOPPED, ...). */
export interface TaskStatusChangedEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly taskIndex: number;
  readonly attempt: number;
  readonly taskArn: string;
  readonly lastStatus: string;
}

/** An attempt stopped with every essential container exiting 0. */
export interface TaskSucceededEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly taskIndex: number;
  readonly attempt: number;
  readonly taskArn: string;
  readonly exitCode: number;
}

/** An attempt failed (DESIGN 3.2). `willRetry` says whether another attempt follows. */
export interface TaskFailedEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly taskIndex: number;
  readonly attempt: number;
  /** Absent when the attempt never reached ECS (a RunTask launch failure). */
  readonly taskArn?: string;
  readonly failure: TaskFailure;
  readonly willRetry: boolean;
}

/** A retry is scheduled; it starts after `delayMs`. */
export interface RetriedEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly taskIndex: number;
  /** The new attempt's number. */
  readonly attempt: number;
  readonly previousTaskArn?: string;
  readonly delayMs: number;
}

/** The job's timeout passed; unfinished tasks are being stopped. */
export interface TimedOutEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly timeoutMs: number;
  readonly elapsedMs: number;
  readonly stoppedTaskArns: readonly string[];
}

/** One log line of a running task (`logs.follow` only). */
export interface LogEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly taskIndex: number;
  readonly attempt: number;
  readonly taskArn: string;
  readonly container: string;
  /** Milliseconds since the epoch, as CloudWatch Logs recorded it. */
  readonly timestamp: number;
  readonly message: string;
}

/**
 * The job could not run: invalid input or a setup error before any task was launched. Its
 * `run()` rejects with `error`. Every submitted job ends with either this or `jobCompleted`.
 */
export interface JobRejectedEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly error: Error;
}

/** The job is over; always the job's last event. */
export interface JobCompletedEvent {
  readonly jobId: string;
  /** The run of the job this event belongs to (DESIGN 3.1). */
  readonly runId: string;
  /** When the runner emitted the event: ms since the epoch, from the runner's clock. */
  readonly emittedAt: number;
  readonly result: JobResult;
}

/** The event map of `EcsBatchRunner`. */
export interface EcsBatchRunnerEvents {
  /** After preparation, before the first RunTask. */
  jobStarted: (event: JobStartedEvent) => void;
  /** RunTask accepted an attempt. */
  taskStarted: (event: TaskStartedEvent) => void;
  /** A new lastStatus was observed. */
  taskStatusChanged: (event: TaskStatusChangedEvent) => void;
  /** An attempt succeeded. */
  taskSucceeded: (event: TaskSucceededEvent) => void;
  /** An attempt failed; see `willRetry`. */
  taskFailed: (event: TaskFailedEvent) => void;
  /** A retry was scheduled. */
  retried: (event: RetriedEvent) => void;
  /** The job timed out. */
  timedOut: (event: TimedOutEvent) => void;
  /** A log line (`logs.follow`). */
  log: (event: LogEvent) => void;
  /** The job finished; always last. */
  jobCompleted: (event: JobCompletedEvent) => void;
  /** The job was rejected before any task was launched (invalid input, setup error). */
  jobRejected: (event: JobRejectedEvent) => void;
}

/** Names of the runner's events. */
export type EcsBatchRunnerEventName = keyof EcsBatchRunnerEvents;

/** Every event name, in the order a job emits them; for hosts that forward all events. */
export const EVENT_NAMES: readonly EcsBatchRunnerEventName[] = [
  "jobStarted",
  "taskStarted",
  "taskStatusChanged",
  "taskSucceeded",
  "taskFailed",
  "retried",
  "timedOut",
  "log",
  "jobCompleted",
  "jobRejected",
];

type Listener = (...args: never[]) => void;

/**
 * An EventEmitter whose listeners cannot break the emitter: each listener is wrapped so that
 * a throw is logged and the remaining listeners (and the job) carry on.
 */
export class SafeEventEmitter<
  Events extends EventEmitter.ValidEventTypes,
> extends EventEmitter<Events> {
  readonly #wrappers = new Map<string | symbol, WeakMap<Listener, Listener>>();
  #listenerLogger: Logger = silentLogger;

  /** Where listener errors are reported; a logger that throws is ignored (`safeLogger`). */
  protected setListenerLogger(logger: Logger): void {
    this.#listenerLogger = safeLogger(logger);
  }

  #wrap(event: string | symbol, fn: Listener): Listener {
    let perEvent = this.#wrappers.get(event);
    if (perEvent === undefined) {
      perEvent = new WeakMap();
      this.#wrappers.set(event, perEvent);
    }
    let wrapped = perEvent.get(fn);
    if (wrapped === undefined) {
      const logger = (): Logger => this.#listenerLogger;
      wrapped = function (this: unknown, ...args: never[]) {
        try {
          const out: unknown = (fn as (...a: unknown[]) => unknown).apply(this, args);
          if (out instanceof Promise) {
            out.catch((err: unknown) =>
              logger().error(`a "${String(event)}" listener rejected`, { error: textOf(err) }),
            );
          }
        } catch (err) {
          // Whatever a listener throws (even a value String() cannot print) stays here.
          logger().error(`a "${String(event)}" listener threw`, { error: textOf(err) });
        }
      };
      perEvent.set(fn, wrapped);
    }
    return wrapped;
  }

  #unwrap(event: string | symbol, fn: Listener | undefined): Listener | undefined {
    if (fn === undefined) return undefined;
    return this.#wrappers.get(event)?.get(fn) ?? fn;
  }

  override on<T extends EventEmitter.EventNames<Events>>(
    event: T,
    fn: EventEmitter.EventListener<Events, T>,
    context?: unknown,
  ): this {
    return super.on(
      event,
      this.#wrap(event, fn as Listener) as EventEmitter.EventListener<Events, T>,
      context,
    );
  }

  override addListener<T extends EventEmitter.EventNames<Events>>(
    event: T,
    fn: EventEmitter.EventListener<Events, T>,
    context?: unknown,
  ): this {
    return this.on(event, fn, context);
  }

  override once<T extends EventEmitter.EventNames<Events>>(
    event: T,
    fn: EventEmitter.EventListener<Events, T>,
    context?: unknown,
  ): this {
    return super.once(
      event,
      this.#wrap(event, fn as Listener) as EventEmitter.EventListener<Events, T>,
      context,
    );
  }

  override off<T extends EventEmitter.EventNames<Events>>(
    event: T,
    fn?: EventEmitter.EventListener<Events, T>,
    context?: unknown,
    once?: boolean,
  ): this {
    return super.off(
      event,
      this.#unwrap(event, fn as Listener | undefined) as
        EventEmitter.EventListener<Events, T> | undefined,
      context,
      once,
    );
  }

  override removeListener<T extends EventEmitter.EventNames<Events>>(
    event: T,
    fn?: EventEmitter.EventListener<Events, T>,
    context?: unknown,
    once?: boolean,
  ): this {
    return this.off(event, fn, context, once);
  }
}
