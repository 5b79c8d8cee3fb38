/**
 * Sending RunTask (one call per task: overrides differ per task). Launches run in parallel up to
 * a concurrency limit, under a client-side rate limit that adapts when ECS throttles. Every
 * request carries its attempt's `clientToken`, so when a call fails in a way that may hide a
 * success (throttling, a 5xx, a timeout) the very same request is sent again: ECS answers with
 * the task it already started instead of starting a second one.
 */
import {
  RunTaskCommand,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  type Task,
} from "@aws-sdk/client-ecs";
import {
  awsErrorMessage,
  awsErrorName,
  isThrottlingError,
  isTransientError,
  type AwsClient,
} from "../aws.js";
import { sleepUnlessAborted, type Clock, type RandomSource } from "../clock.js";
import { silentLogger, type Logger } from "../logger.js";
import { launchFailure } from "./outcome.js";
import { SharedAbortListeners } from "./abort-listeners.js";
import type { AdaptiveRateLimiter } from "./rate-limiter.js";
import type { TaskFailure } from "./types.js";

/** How one launch ended. */
export type LaunchResult =
  /** RunTask accepted the task. */
  | { readonly kind: "started"; readonly task: Task }
  /** RunTask returned it in `failures[]` (AGENT, RESOURCE:*, capacity): a launch failure, retryable. */
  | { readonly kind: "failed"; readonly failure: TaskFailure }
  /** RunTask threw an error retrying cannot fix (cluster not found, access denied, invalid parameter). */
  | { readonly kind: "fatal"; readonly error: unknown }
  /** The caller gave up before the request was sent. */
  | { readonly kind: "aborted" };

/** What the launcher needs from the runner. */
export interface LauncherContext {
  readonly ecs: AwsClient;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly limiter: AdaptiveRateLimiter;
  readonly logger?: Logger;
}

/** Launcher settings. */
export interface LauncherOptions {
  /** RunTask calls in flight at once. Default 10. */
  readonly concurrency?: number;
  /** Longest wait between two sends of the same request after transient errors. Default 30 s. */
  readonly maxResendDelayMs?: number;
}

/**
 * Errors that say the request itself is wrong or not allowed. Everything else thrown is
 * treated as transient and the same request is sent again.
 */
export const NON_RETRYABLE_RUN_TASK_ERRORS: ReadonlySet<string> = new Set([
  "ClusterNotFoundException",
  "InvalidParameterException",
  "AccessDeniedException",
  "ClientException",
  "PlatformUnknownException",
  "PlatformTaskDefinitionIncompatibilityException",
  "UnsupportedFeatureException",
  "BlockedException",
  "ConflictException",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "ExpiredTokenException",
  "ValidationException",
]);

/**
 * After the caller gave up (timeout, cancel), how many more times an ambiguous request is sent
 * to learn whether it started a task. Bounded so a stopping job cannot wait forever on an API
 * that keeps failing; unbounded before that, since a new attempt could start a second task.
 */
export const MAX_SENDS_AFTER_ABORT = 3;

/** Sends RunTask with a concurrency cap, an adaptive rate limit and idempotent resends. */
export class Launcher {
  readonly #ctx: LauncherContext;
  readonly #concurrency: number;
  readonly #maxResendDelay: number;
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

  constructor(ctx: LauncherContext, options: LauncherOptions = {}) {
    this.#ctx = ctx;
    this.#concurrency = options.concurrency ?? 10;
    this.#maxResendDelay = options.maxResendDelayMs ?? 30_000;
  }

  /**
   * Launches one task. Resolves when RunTask answered for good; never rejects. An abort only
   * takes effect before the first send: a request already sent may have started a task, so its
   * answer is always awaited and returned. `request` may be a function that builds the input:
   * it is called once, when the request is about to be sent, so a job that queues thousands of
   * launches does not hold thousands of built requests while they wait.
   */
  async launch(
    request: RunTaskCommandInput | (() => RunTaskCommandInput),
    signal?: AbortSignal,
    options: {
      /** The caller holds a slot `queue` reserved for it: no waiting, and the slot is used up. */
      readonly reserved?: boolean;
    } = {},
  ): Promise<LaunchResult> {
    if (options.reserved !== true && !(await this.#slot(signal))) return { kind: "aborted" };
    let fatal = false;
    try {
      let sent = 0;
      let input: RunTaskCommandInput | undefined;
      /** A send failed in a way that may hide a success (5xx, timeout): only a resend can tell. */
      let ambiguous = false;
      /** Sends made after the caller gave up, to settle an ambiguous earlier send. */
      let afterAbort = 0;
      for (;;) {
        if (sent === 0) {
          // A token can be granted a moment before the abort comes: not sent yet, not sent at all.
          const granted = await this.#ctx.limiter.acquire(signal);
          if (!granted || signal?.aborted === true) return { kind: "aborted" };
        }
        if (sent > 0) {
          if (signal?.aborted === true) {
            // Throttled requests were refused before they did anything: nothing to settle.
            if (!ambiguous) return { kind: "aborted" };
            if (afterAbort >= MAX_SENDS_AFTER_ABORT) {
              (this.#ctx.logger ?? silentLogger).error(
                "RunTask kept failing after the job stopped; a task may have started unseen",
                { startedBy: input?.startedBy, clientToken: input?.clientToken },
              );
              return { kind: "aborted" };
            }
            afterAbort++;
          }
          await this.#ctx.limiter.acquire();
        }
        if (input === undefined) {
          try {
            input = typeof request === "function" ? request() : request;
          } catch (error) {
            fatal = true;
            return { kind: "fatal", error };
          }
        }
        this.calls++;
        if (sent > 0) this.resends++;
        sent++;
        try {
          const out = (await this.#ctx.ecs.send(new RunTaskCommand(input))) as RunTaskCommandOutput;
          this.#ctx.limiter.onSuccess();
          const task = out.tasks?.[0];
          if (task?.taskArn !== undefined) return { kind: "started", task };
          const failure = out.failures?.[0];
          return {
            kind: "failed",
            failure: launchFailure(
              failure ?? { reason: "RunTask returned no task and no failure" },
            ),
          };
        } catch (error) {
          const name = awsErrorName(error);
          if (NON_RETRYABLE_RUN_TASK_ERRORS.has(name) || !isTransientError(error)) {
            fatal = true;
            return { kind: "fatal", error };
          }
          if (isThrottlingError(error)) this.#ctx.limiter.onThrottle();
          else ambiguous = true;
          const wait = this.#resendDelay(sent);
          (this.#ctx.logger ?? silentLogger).warn(
            "RunTask failed; sending the same request again",
            {
              startedBy: input.startedBy,
              error: `${name}: ${awsErrorMessage(error)}`,
              attempt: sent,
              delayMs: wait,
            },
          );
          // An ambiguous send may have started a task and only a resend finds out, so that
          // wait ignores the caller's abort; a merely throttled one can be dropped at once.
          await sleepUnlessAborted(this.#ctx.clock, wait, ambiguous ? undefined : signal);
        }
      }
    } finally {
      // After an error no resend can fix (a missing cluster, access denied), the next waiter,
      // often of the same job, gets the slot only once the caller has seen the error and had
      // the chance to stop its other launches.
      if (fatal) void this.#ctx.clock.sleep(0).then(() => this.#release());
      else this.#release();
    }
  }

  #resendDelay(sends: number): number {
    const cap = Math.min(this.#maxResendDelay, 500 * 2 ** Math.min(sends, 16));
    return Math.floor(cap / 2 + (this.#ctx.random() * cap) / 2);
  }

  /**
   * Queues `count` launches at once, first come first served (behind the retries waiting, see
   * `#slot`), without a waiting promise each:
   * `start(true, i)` is called, in order of `i`, once a launch slot is reserved for launch `i`,
   * whose caller then passes `{ reserved: true }` to `launch` (or gives the slot back with
   * `unreserve`); `start(false, i)` when `signal` aborted first. A job queues all its tasks as
   * one entry, so 10,000 tasks waiting to launch cost next to nothing, where a suspended call
   * each was memory every garbage collection had to walk through.
   */
  queue(
    count: number,
    start: (reserved: boolean, index: number) => void,
    signal?: AbortSignal,
  ): void {
    this.#queue(count, start, signal, false);
  }

  /** `queue`, where `single` waiters go ahead of the batches (see `#slot`). */
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

  /** Gives back a slot `queue` reserved, when the caller will not launch after all. */
  unreserve(): void {
    this.#release();
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
