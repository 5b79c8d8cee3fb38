/**
 * Sending RunTask (one call per task: overrides differ per task). Launches run in parallel up to
 * a concurrency limit, under a client-side rate limit that adapts when ECS throttles. Every
 * request carries its attempt's `clientToken`, so when a call fails in a way that may hide a
 * success (a 5xx, a timeout, an answer that cannot be read) the very same request is sent
 * again: ECS answers with the task it already started instead of starting a second one. Resends
 * are bounded in time; past that, or once the caller gives up, the task is looked up instead
 * (`startedBy` and tags), so an attempt always ends knowing whether it has a task.
 */
import type { RunTaskCommandInput, RunTaskCommandOutput, Task } from "@aws-sdk/client-ecs";
import { ecsSdk } from "../aws/sdk.js";
import {
  awsErrorMessage,
  awsErrorName,
  classifyAwsError,
  sendFor,
  type AwsClient,
} from "../aws.js";
import { sleepUnlessAborted, type Clock, type RandomSource } from "../clock.js";
import { formatDuration } from "../job/duration.js";
import { silentLogger, type Logger } from "../logger.js";
import { SharedAbortListeners } from "./abort-listeners.js";
import {
  describeWithTags,
  findStartedTasks,
  listTaskArns,
  settlingTask,
  type LookupResult,
} from "./lookup.js";
import { launchFailure } from "./outcome.js";
import { AdaptiveRateLimiter } from "../aws/rate-limiter.js";
import type { TaskFailure } from "../result.js";

/** How one launch ended. */
export type LaunchResult =
  /** RunTask accepted the task (or a lookup found the task a lost answer had started). */
  | { readonly kind: "started"; readonly task: Task }
  /**
   * A launch failure, retryable as a new attempt: RunTask returned the task in `failures[]`
   * (AGENT, RESOURCE:*, capacity), or kept throwing retryable errors for the resend window
   * and no task of the request was found. `unsettled`: whether a lost answer had started a
   * task could not be found out (the lookup failed too).
   */
  | { readonly kind: "failed"; readonly failure: TaskFailure; readonly unsettled?: boolean }
  /** RunTask threw an error retrying cannot fix (cluster not found, access denied, invalid parameter). */
  | { readonly kind: "fatal"; readonly error: unknown }
  /**
   * The caller gave up (`signal`) and no task of the request exists: nothing was sent, or what
   * was sent was refused, or a lookup found nothing. `unsettled`: a send may have started a task
   * that the lookup could not find out about.
   */
  | { readonly kind: "aborted"; readonly unsettled?: boolean };

/** What the launcher needs from the runner. */
export interface LauncherContext {
  readonly ecs: AwsClient;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly limiter: AdaptiveRateLimiter;
  /**
   * The DescribeTasks/ListTasks budget, for looking up the task of a lost answer. Default: a
   * limiter of its own at DescribeTasks' published rate.
   */
  readonly lookupLimiter?: AdaptiveRateLimiter;
  readonly logger?: Logger;
}

/** Launcher settings. */
export interface LauncherOptions {
  /** RunTask calls in flight at once. Default 10. */
  readonly concurrency?: number;
  /** Longest wait between two sends of the same request after transient errors. Default 30 s. */
  readonly maxResendDelayMs?: number;
  /**
   * How long one attempt's request is sent again while RunTask keeps throwing retryable errors
   * (throttling, 5xx, timeouts), counted from its first send. Then the attempt is a `launch`
   * failure, after a lookup of whether a lost answer started its task. Default 2 minutes.
   */
  readonly resendWindowMs?: number;
}

/**
 * How a RunTask error is handled:
 * - `throttled`: refused for rate before it did anything; send the same request again later;
 * - `ambiguous`: it may have started the task (a 5xx, a timeout, a reset socket, an answer that
 *   could not be read); only the same request again (same token) or a lookup can tell;
 * - `fatal`: refused for good (cluster not found, access denied, invalid parameter, ...).
 */
export function runTaskErrorKind(error: unknown): "throttled" | "ambiguous" | "fatal" {
  switch (classifyAwsError(error)) {
    case "throttled":
      return "throttled";
    case "transient":
    case "ambiguous":
      return "ambiguous";
    default:
      return "fatal";
  }
}

/** A RunTask input, or a function that builds it when it is about to be sent. */
export type LaunchRequest = RunTaskCommandInput | (() => RunTaskCommandInput);

/** Options of one launch. */
export interface LaunchOptions {
  /** Ends the lookup made when `signal` aborted while a send may have started the task. */
  readonly settleSignal?: AbortSignal;
  /**
   * Asked before each send, once the rate limiter granted it: false ends the launch as if
   * `signal` had aborted, nothing more sent. A durable run asks whether it still holds its
   * lease, for a process woken from a pause must not launch for a run in other hands.
   */
  readonly beforeSend?: () => Promise<boolean>;
}

/**
 * The launch queue's reservation protocol: how the engine (execution/job.ts) queues a job's
 * first launches, thousands at once, as one entry that costs next to nothing while it waits.
 * Not part of the package's surface (src/index.ts does not export it): a caller that holds no
 * reservation and launches as if it did would overrun the concurrency cap.
 */
export interface LaunchReservations {
  /**
   * Queues `count` launches at once, first come first served, behind the single launches
   * (retries) waiting: `start(true, i)` is called, in order of `i`, once a slot is reserved for
   * launch `i`, whose caller then sends it with `launch` (or gives the slot back with
   * `unreserve`); `start(false, i)` when `signal` aborted first.
   */
  queue(
    launcher: Launcher,
    count: number,
    start: (reserved: boolean, index: number) => void,
    signal?: AbortSignal,
  ): void;
  /** `Launcher.launch` in a slot `queue` reserved: no waiting, and the slot is used up. */
  launch(
    launcher: Launcher,
    request: LaunchRequest,
    signal?: AbortSignal,
    options?: LaunchOptions,
  ): Promise<LaunchResult>;
  /** Gives back a slot `queue` reserved, when the caller will not launch after all. */
  unreserve(launcher: Launcher): void;
}

/**
 * The reservation protocol (`LaunchReservations`). `Launcher`'s static block sets it when this
 * module loads: the one place that can reach the launcher's private queue.
 */
export let launchReservations: LaunchReservations;

const ABORTED: LaunchResult = Object.freeze({ kind: "aborted" });

/** Sends RunTask with a concurrency cap, an adaptive rate limit and idempotent resends. */
export class Launcher {
  readonly #ctx: LauncherContext;
  readonly #concurrency: number;
  readonly #maxResendDelay: number;
  readonly #resendWindow: number;
  readonly #lookupLimiter: AdaptiveRateLimiter;
  #inFlight = 0;
  /**
   * Launches waiting for a free slot: single launches (retries) first, then queued batches
   * (jobs' first attempts), each first come first served.
   */
  readonly #waiting: Waiter[] = [];
  /** Waiters of an aborted signal give up; the others keep their order. */
  readonly #abortListeners = new SharedAbortListeners((signal) => {
    const refused: Waiter[] = [];
    for (const w of this.#waiting.splice(0))
      (w.signal === signal ? refused : this.#waiting).push(w);
    for (const w of refused) for (let i = w.next; i < w.end; i++) w.start(false, i);
  });
  /** RunTask calls sent, resends included. */
  calls = 0;
  /** Sends of a request that had been sent before (after throttling or a transient error). */
  resends = 0;
  /** Lookups made to settle a send whose answer was lost. */
  lookups = 0;

  constructor(ctx: LauncherContext, options: LauncherOptions = {}) {
    this.#ctx = ctx;
    this.#concurrency = options.concurrency ?? 10;
    this.#maxResendDelay = options.maxResendDelayMs ?? 30_000;
    this.#resendWindow = options.resendWindowMs ?? 120_000;
    this.#lookupLimiter =
      ctx.lookupLimiter ?? new AdaptiveRateLimiter(ctx.clock, { ratePerSecond: 20, burst: 100 });
  }

  get #log(): Logger {
    return this.#ctx.logger ?? silentLogger;
  }

  /**
   * Launches one task. Resolves when RunTask answered for good; never rejects. `request` may
   * be a function that builds the input: it is called once, when the request is about to be
   * sent, so a job that queues thousands of launches does not hold thousands of built requests.
   *
   * A request whose send failed in a way that may hide a started task is sent again with the
   * same token (ECS then answers with the task it started, never a second one), for up to the
   * resend window. An abort takes effect at once wherever the launch waits; a send already on
   * its way is still awaited (RunTask is never cancelled mid-flight), and if any send may have
   * started the task, the task is looked up (`startedBy`, tags) instead of sending again, so it
   * can be returned, and stopped, rather than left running unseen. `settleSignal` bounds that
   * lookup (default: a few attempts).
   */
  launch(
    request: LaunchRequest,
    signal?: AbortSignal,
    options: LaunchOptions = {},
  ): Promise<LaunchResult> {
    return this.#launch(request, signal, options, false);
  }

  /** `launch`; `reserved`: the caller holds a slot `#queue` reserved for it, used up here. */
  async #launch(
    request: LaunchRequest,
    signal: AbortSignal | undefined,
    options: LaunchOptions,
    reserved: boolean,
  ): Promise<LaunchResult> {
    if (!reserved && !(await this.#slot(signal))) return ABORTED;
    let fatal = false;
    try {
      // A token can be granted a moment before the abort comes: not sent yet, not sent at all.
      const granted = await this.#ctx.limiter.acquire(signal);
      if (!granted || signal?.aborted === true) return ABORTED;
      let input: RunTaskCommandInput;
      try {
        input = typeof request === "function" ? request() : request;
      } catch (error) {
        fatal = true;
        return { kind: "fatal", error };
      }
      const clock = this.#ctx.clock;
      const firstSentAt = clock.now();
      /** The last error of a send that may have started the task, if any did. */
      let ambiguous: unknown;
      let sends = 0;
      for (;;) {
        if (sends > 0 && !(await this.#ctx.limiter.acquire(signal))) {
          return await this.#settleAborted(input, ambiguous, options.settleSignal);
        }
        // The check may wait on a store call: an abort meanwhile still stops the send.
        if (
          options.beforeSend !== undefined &&
          (!(await options.beforeSend()) || isAborted(signal))
        ) {
          return await this.#settleAborted(input, ambiguous, options.settleSignal);
        }
        this.calls++;
        if (sends > 0) this.resends++;
        sends++;
        let out: RunTaskCommandOutput;
        try {
          // Never with an abort signal: a RunTask cancelled mid-flight may still start a task.
          out = await sendFor<RunTaskCommandOutput>(
            this.#ctx.ecs,
            new (ecsSdk().RunTaskCommand)(input),
          );
        } catch (error) {
          const kind = runTaskErrorKind(error);
          if (kind === "fatal") {
            fatal = true;
            if (ambiguous === undefined) return { kind: "fatal", error };
            // An earlier send may still have started the task: find it before failing.
            const found = await this.#lookup(input, options.settleSignal);
            return found.task === undefined ? { kind: "fatal", error } : started(found.task);
          }
          if (kind === "throttled") this.#ctx.limiter.onThrottle();
          else ambiguous = error;
          if (isAborted(signal)) {
            return await this.#settleAborted(input, ambiguous, options.settleSignal);
          }
          const elapsed = clock.now() - firstSentAt;
          if (elapsed >= this.#resendWindow) {
            return await this.#giveUp(input, error, ambiguous, options.settleSignal);
          }
          const wait = Math.min(this.#resendDelay(sends), this.#resendWindow - elapsed);
          this.#log.warn("RunTask failed; sending the same request again", {
            startedBy: input.startedBy,
            error: `${awsErrorName(error)}: ${awsErrorMessage(error)}`,
            attempt: sends,
            delayMs: wait,
          });
          if (!(await sleepUnlessAborted(clock, wait, signal))) {
            return await this.#settleAborted(input, ambiguous, options.settleSignal);
          }
          continue;
        }
        this.#ctx.limiter.onSuccess();
        const task = out.tasks?.[0];
        if (task?.taskArn !== undefined) return started(task);
        const failure = out.failures?.[0];
        return {
          kind: "failed",
          failure: launchFailure(failure ?? { reason: "RunTask returned no task and no failure" }),
        };
      }
    } finally {
      // After an error no resend can fix (a missing cluster, access denied), the next waiter,
      // often of the same job, gets the slot only once the caller has seen the error and had
      // the chance to stop its other launches.
      if (fatal) void this.#ctx.clock.sleep(0).then(() => this.#release());
      else this.#release();
    }
  }

  /**
   * Finds the tasks `request` started, if any: for a caller settling a launch it gave up on.
   * Each call is tried up to 4 times; with a `signal`, until the signal aborts.
   */
  async lookup(request: RunTaskCommandInput, signal?: AbortSignal): Promise<LookupResult> {
    this.lookups++;
    return findStartedTasks(
      { ecs: this.#ctx.ecs, clock: this.#ctx.clock, limiter: this.#lookupLimiter },
      request,
      signal === undefined ? {} : { signal, attempts: Number.POSITIVE_INFINITY },
    );
  }

  /**
   * The tasks ECS means to run in `cluster` (in one task definition family), with their tags,
   * but those in `skip`: a stopping run's look for tasks an earlier process launched as it died.
   */
  async findRunning(
    cluster: string | undefined,
    family: string | undefined,
    skip: ReadonlySet<string>,
    signal: AbortSignal,
  ): Promise<LookupResult> {
    this.lookups++;
    const ctx = { ecs: this.#ctx.ecs, clock: this.#ctx.clock, limiter: this.#lookupLimiter };
    const options = { signal, attempts: Number.POSITIVE_INFINITY };
    const listing = { cluster, stopped: false, ...(family === undefined ? {} : { family }) };
    const listed = await listTaskArns(ctx, listing, options);
    if (!listed.ok) return listed;
    const wanted = listed.value.arns.filter((arn) => !skip.has(arn));
    const described = await describeWithTags(ctx, cluster, wanted, options);
    return described.ok ? { ok: true, tasks: described.value } : described;
  }

  /** The caller gave up while a send may have started the task: look it up. */
  async #settleAborted(
    input: RunTaskCommandInput,
    ambiguous: unknown,
    settleSignal: AbortSignal | undefined,
  ): Promise<LaunchResult> {
    // Throttled sends were refused before they did anything: nothing to settle.
    if (ambiguous === undefined) return ABORTED;
    const found = await this.#lookup(input, settleSignal);
    if (found.task !== undefined) return started(found.task);
    return found.settled ? ABORTED : { kind: "aborted", unsettled: true };
  }

  /** The resend window is over: a launch failure, unless a lost answer started the task. */
  async #giveUp(
    input: RunTaskCommandInput,
    last: unknown,
    ambiguous: unknown,
    settleSignal: AbortSignal | undefined,
  ): Promise<LaunchResult> {
    const failure: TaskFailure = {
      kind: "launch",
      reason: `RunTask kept failing for ${formatDuration(this.#resendWindow)}: ${awsErrorName(last)}: ${awsErrorMessage(last)}`,
    };
    if (ambiguous === undefined) return { kind: "failed", failure };
    const found = await this.#lookup(input, settleSignal);
    if (found.task !== undefined) return started(found.task);
    return found.settled
      ? { kind: "failed", failure }
      : { kind: "failed", failure, unsettled: true };
  }

  /** `lookup` for one request: its task, or whether it is known that there is none. */
  async #lookup(
    input: RunTaskCommandInput,
    signal: AbortSignal | undefined,
  ): Promise<{ task?: Task; settled: boolean }> {
    const found = await this.lookup(input, signal);
    if (!found.ok) {
      this.#log.error(
        "RunTask may have started a task whose answer was lost, and looking it up failed",
        {
          startedBy: input.startedBy,
          clientToken: input.clientToken,
          error: `${awsErrorName(found.error)}: ${awsErrorMessage(found.error)}`,
        },
      );
      return { settled: false };
    }
    const task = settlingTask(found.tasks);
    return task === undefined ? { settled: true } : { task, settled: true };
  }

  #resendDelay(sends: number): number {
    const cap = Math.min(this.#maxResendDelay, 500 * 2 ** Math.min(sends, 16));
    return Math.floor(cap / 2 + (this.#ctx.random() * cap) / 2);
  }

  static {
    launchReservations = {
      queue: (launcher, count, start, signal) => launcher.#queue(count, start, signal, false),
      launch: (launcher, request, signal, options = {}) =>
        launcher.#launch(request, signal, options, true),
      unreserve: (launcher) => launcher.#release(),
    };
  }

  /**
   * Queues `count` launches as one first-come-first-served entry (see `LaunchReservations`);
   * `single` waiters go ahead of the batches (see `#slot`).
   */
  #queue(
    count: number,
    start: (reserved: boolean, index: number) => void,
    signal: AbortSignal | undefined,
    single: boolean,
  ): void {
    let index = 0;
    if (signal?.aborted === true) {
      for (; index < count; index++) start(false, index);
      return;
    }
    while (index < count && this.#inFlight < this.#concurrency && this.#waiting.length === 0) {
      this.#inFlight++;
      start(true, index++);
    }
    if (index >= count) return;
    const waiter: Waiter = {
      start,
      next: index,
      end: count,
      single,
      ...(signal === undefined ? {} : { signal }),
    };
    const firstBatch = single ? this.#waiting.findIndex((w) => !w.single) : -1;
    if (firstBatch === -1) this.#waiting.push(waiter);
    else this.#waiting.splice(firstBatch, 0, waiter);
    if (signal !== undefined) this.#abortListeners.join(signal);
  }

  /**
   * A slot for one launch, ahead of the batches still waiting. That launch is a retry: a task
   * that keeps failing exhausts its retries, and can fail its job, before the rest of a large
   * job launches, instead of after every other slot of every job has had its first attempt.
   */
  #slot(signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      this.#queue(1, resolve, signal, true);
    });
  }

  /** A launch ended: its slot goes to the next launch still waiting, or becomes free. */
  #release(): void {
    for (;;) {
      const head = this.#waiting[0];
      if (head === undefined) {
        this.#inFlight--;
        return;
      }
      const index = head.next++;
      if (head.next >= head.end) {
        this.#waiting.shift();
        if (head.signal !== undefined) this.#abortListeners.leave(head.signal);
      }
      if (head.signal?.aborted === true) {
        head.start(false, index);
        continue;
      }
      head.start(true, index);
      return;
    }
  }
}

/** Launches `next` to `end - 1` of one `queue` call, waiting for free slots. */
interface Waiter {
  /** Called once per launch: `true` with a slot reserved, `false` when `signal` aborted first. */
  readonly start: (reserved: boolean, index: number) => void;
  next: number;
  readonly end: number;
  /** A single launch (`launch` without a reservation): served before the batches. */
  readonly single: boolean;
  readonly signal?: AbortSignal;
}

/** A function, not a property read: the flag changes across awaits, which narrowing cannot see. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function started(task: Task): LaunchResult {
  return { kind: "started", task };
}
