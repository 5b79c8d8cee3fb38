/**
 * A client-side token bucket that adapts: it starts at the published AWS rate, halves when the
 * service throttles (other clients share the account's bucket), and creeps back up while calls
 * succeed. Waiters are served in order, so one busy job cannot starve another.
 */
import { isThrottlingError, isTransientError } from "../aws.js";
import { sleepUnlessAborted, type Clock } from "../clock.js";

/** Settings of one rate limiter. */
export interface RateLimit {
  /** Tokens per second at the start and at most. */
  readonly ratePerSecond: number;
  /** Tokens that may be spent at once. */
  readonly burst: number;
  /** The rate never drops below this, however hard the service throttles. Default: 1/20 of `ratePerSecond`. */
  readonly minRatePerSecond?: number;
}

/** An adaptive token bucket on the injected clock. */
export class AdaptiveRateLimiter {
  readonly #clock: Clock;
  readonly #limit: RateLimit;
  #rate: number;
  #tokens: number;
  #last: number;
  #queue: Promise<void> = Promise.resolve();
  /** Throttling errors reported to this limiter. */
  throttles = 0;

  constructor(clock: Clock, limit: RateLimit) {
    this.#clock = clock;
    this.#limit = limit;
    this.#rate = limit.ratePerSecond;
    this.#tokens = limit.burst;
    this.#last = clock.now();
  }

  /** The current rate, tokens per second. */
  get rate(): number {
    return this.#rate;
  }

  /** Waits for a token. Resolves false (taking nothing) if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    const turn = this.#queue.then(() => this.#take(signal));
    this.#queue = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  async #take(signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal?.aborted === true) return false;
      this.#refill();
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return true;
      }
      const waitMs = Math.ceil(((1 - this.#tokens) / this.#rate) * 1000);
      if (!(await sleepUnlessAborted(this.#clock, waitMs, signal))) return false;
    }
  }

  /** The service throttled a call: halve the rate and drop saved-up tokens. */
  onThrottle(): void {
    this.throttles++;
    this.#refill();
    this.#rate = Math.max(
      this.#limit.minRatePerSecond ?? this.#limit.ratePerSecond / 20,
      this.#rate / 2,
    );
    this.#tokens = Math.min(this.#tokens, 0);
  }

  /** A call went through: recover a little (additive increase). */
  onSuccess(): void {
    if (this.#rate < this.#limit.ratePerSecond) {
      this.#rate = Math.min(
        this.#limit.ratePerSecond,
        this.#rate + this.#limit.ratePerSecond / 100,
      );
    }
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(
      this.#limit.burst,
      this.#tokens + ((now - this.#last) / 1000) * this.#rate,
    );
    this.#last = now;
  }
}

/** How a `limitedCall` ended. */
export type LimitedCallResult<T> =
  | { readonly ok: true; readonly value: T; readonly attempts: number }
  /** A non-transient error, the last transient one once attempts ran out, or `aborted`. */
  | {
      readonly ok: false;
      readonly error: unknown;
      readonly attempts: number;
      readonly aborted: boolean;
    };

/**
 * One AWS call under a rate limiter, sent again after throttling and transient errors (5xx,
 * network) with exponential backoff: the pattern every idempotent read and stop of this library
 * shares. Throttling also slows the limiter. Never rejects.
 */
export async function limitedCall<T>(
  limiter: AdaptiveRateLimiter,
  clock: Clock,
  call: () => Promise<T>,
  options: {
    /** Attempts at most. Default: unlimited (until `signal` aborts). */
    readonly maxAttempts?: number;
    /** Wait before attempt `n + 1`, ms. */
    readonly backoffMs: (attempt: number) => number;
    readonly signal?: AbortSignal;
    /** Called before each wait, e.g. to log. */
    readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  },
): Promise<LimitedCallResult<T>> {
  const max = options.maxAttempts ?? Number.POSITIVE_INFINITY;
  for (let attempt = 1; ; attempt++) {
    if (!(await limiter.acquire(options.signal)))
      return { ok: false, error: undefined, attempts: attempt - 1, aborted: true };
    try {
      const value = await call();
      limiter.onSuccess();
      return { ok: true, value, attempts: attempt };
    } catch (error) {
      if (!isTransientError(error) || attempt >= max)
        return { ok: false, error, attempts: attempt, aborted: false };
      if (isThrottlingError(error)) limiter.onThrottle();
      const delayMs = options.backoffMs(attempt);
      options.onRetry?.(error, attempt, delayMs);
      if (!(await sleepUnlessAborted(clock, delayMs, options.signal))) {
        return { ok: false, error, attempts: attempt, aborted: true };
      }
    }
  }
}
