/**
 * The retry policy (DESIGN 3.3) as pure functions. Two budgets: `maxFailCount` retries for
 * failures of the job's own making (`exit`, `start`, `stopped`, `missing`), and
 * `maxLaunchRetries` for capacity trouble (`launch`, `interrupted`), so an AGENT hiccup or a
 * Spot reclaim never spends the application's retries.
 */
import type { RandomSource } from "../clock.js";
import type { FailureKind, TaskFailure } from "../result.js";

/** Which budget a failure spends. */
export type RetryBudget = "application" | "launch";

/** The budget each failure kind spends. */
export const FAILURE_BUDGETS: Readonly<Record<FailureKind, RetryBudget>> = {
  exit: "application",
  start: "application",
  stopped: "application",
  missing: "application",
  launch: "launch",
  interrupted: "launch",
};

/** Everything a policy may look at when a task slot's attempt failed. */
export interface RetryContext {
  readonly taskIndex: number;
  /** The attempt that failed (1-based). */
  readonly attempt: number;
  /** Failures so far on the application budget, this one included. */
  readonly applicationFailures: number;
  /** Failures so far on the launch budget, this one included. */
  readonly launchFailures: number;
  /** Retries the application budget allows. */
  readonly maxFailCount: number;
  /** Retries the launch budget allows. */
  readonly maxLaunchRetries: number;
  readonly backoff: { readonly initial: number; readonly max: number; readonly factor: number };
}

/** Decides whether a failed attempt gets another, and how long to wait before it. Replaceable through the runner's `retryPolicy` option. */
export interface RetryPolicy {
  shouldRetry(failure: TaskFailure, context: RetryContext): boolean;
  /** Milliseconds to wait before the next attempt. */
  delay(failure: TaskFailure, context: RetryContext, random: RandomSource): number;
}

/** Whether the failure's budget still allows a retry. With `maxFailCount: 3`, the 4th application failure exhausts the slot. */
export function withinBudget(failure: TaskFailure, context: RetryContext): boolean {
  return FAILURE_BUDGETS[failure.kind] === "application"
    ? context.applicationFailures <= context.maxFailCount
    : context.launchFailures <= context.maxLaunchRetries;
}

/**
 * Exponential backoff with full jitter: a uniform draw from [0, min(max, initial·factor^(n−1))]
 * for the n-th retry. Full jitter spreads retries of many tasks that failed together (one bad
 * capacity moment) instead of sending them back in lockstep.
 */
export function backoffDelay(
  n: number,
  backoff: RetryContext["backoff"],
  random: RandomSource,
): number {
  const cap = Math.min(backoff.max, backoff.initial * backoff.factor ** Math.max(0, n - 1));
  return Math.floor(random() * cap);
}

/** The default policy: retry while the failure's budget allows; back off by the retry number. */
export const defaultRetryPolicy: RetryPolicy = {
  shouldRetry: withinBudget,
  delay: (_failure, context, random) => backoffDelay(context.attempt, context.backoff, random),
};
