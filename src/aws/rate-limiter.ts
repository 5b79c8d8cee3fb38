/**
 * A client-side token bucket that adapts: it starts at the published AWS rate, halves when the
 * service throttles (other clients share the account's bucket), and creeps back up while calls
 * succeed. Waiters are served in order, so one busy job cannot starve another.
 */
import { isRetryableError, isThrottlingError } from "../aws.js";
import { sleepUnlessAborted, type Clock } from "../clock.js";

/** Settings of one rate limiter. */
export interface RateLimit {
  /** Tokens per second at the start and at most. */
  readonly ratePerSecond: number;
  /** Tokens that may be spent at once. */
  readonly burst: number;
  /**
   * The rate never drops below this, however hard the service throttles. Where more than 20
   * runners share an account, set about the account's rate divided by the number of runners
   * (docs/multi-host-budget.md). Default: 1/20 of `ratePerSecond`.
   */
  readonly minRatePerSecond?: number;
}

/** An adaptive token bucket on the injected clock. */
export class AdaptiveRateLimiter {
  readonly #clock: Clock;
  readonly #limit: RateLimit;
  #rate: number;
  #tokens: number;
  #last: number;
  /** Callers waiting for a token, first come first served. */
  readonly #waiters: Waiter[] = [];
  /** Index of the first in line: served waiters are dropped from the array in bulk. */
  #head = 0;
  /** The loop serving the waiters runs. */
  #pumping = false;
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

  /**
   * Waits for a token. Resolves false (taking nothing) if `signal` aborts first: at once when
   * the caller is next in line, otherwise when its turn comes. A token there when nobody waits
   * is taken at once, with no promise of its own; those who wait share one loop and one timer.
   * A caller that must not act after an abort checks its signal again on resuming: the token
   * may have come just before.
   */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted === true) return REFUSED;
    if (this.#head === this.#waiters.length) {
      this.#refill();
      if (this.#tokens >= this.#whole()) {
        this.#tokens -= 1;
        return GRANTED;
      }
    }
    return new Promise<boolean>((resolve) => {
      this.#waiters.push({ resolve, signal });
      if (!this.#pumping) {
        this.#pumping = true;
        this.#pump();
      }
    });
  }

  /**
   * Grants tokens to the waiters in order as they come. Between tokens it sleeps on the clock
   * until the next is due, the sleep cut short if the first in line gives up: one timer however
   * many wait. Called back by the clock rather than looping in an async function: this runs
   * once per token.
   */
  readonly #pump = (): void => {
    this.#refill();
    let waiter = this.#first();
    while (waiter !== undefined && this.#tokens >= this.#whole()) {
      this.#tokens -= 1;
      this.#serve(true);
      waiter = this.#first();
    }
    if (waiter === undefined) {
      this.#pumping = false;
      return;
    }
    // Until a whole token is there (`#whole` allows for waking a little early); the epsilon
    // keeps a float just above an integer (51.00000000000001) from costing a millisecond more.
    const waitMs = Math.ceil(((1 - this.#tokens) / this.#rate) * 1000 - 1e-9);
    // Woken either way: when the sleep ends, or when the first in line gives up.
    this.#clock.sleep(waitMs, waiter.signal).then(this.#pump, this.#pump);
  };

  /**
   * Tokens that count as a whole one: a token due within the next millisecond is granted now.
   * Timers fire up to a millisecond early against the clock (Node counts from a loop time that
   * lags), and waiting for the rest cost a second wake-up per token; the balance may go that
   * much below zero, so the rate over time stays exact.
   */
  #whole(): number {
    return 1 - this.#rate / 1000;
  }

  /** The first in line, after refusing those ahead of it whose signal aborted. */
  #first(): Waiter | undefined {
    for (;;) {
      const waiter = this.#waiters[this.#head];
      if (waiter?.signal?.aborted !== true) return waiter;
      this.#serve(false);
    }
  }

  /** Answers the first in line and takes it out. */
  #serve(granted: boolean): void {
    const waiter = this.#waiters[this.#head] as Waiter;
    this.#head++;
    if (this.#head === this.#waiters.length) {
      this.#waiters.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#waiters.length) {
      this.#waiters.splice(0, this.#head);
      this.#head = 0;
    }
    waiter.resolve(granted);
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

/** One caller of `acquire` waiting for a token. */
interface Waiter {
  readonly resolve: (granted: boolean) => void;
  readonly signal: AbortSignal | undefined;
}

/** Shared answers of `acquire` when it need not wait: a settled promise can have any number of readers. */
const GRANTED: Promise<boolean> = Promise.resolve(true);
const REFUSED: Promise<boolean> = Promise.resolve(false);

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
    const granted = await limiter.acquire(options.signal);
    if (!granted || options.signal?.aborted === true)
      return { ok: false, error: undefined, attempts: attempt - 1, aborted: true };
    try {
      const value = await call();
      limiter.onSuccess();
      return { ok: true, value, attempts: attempt };
    } catch (error) {
      if (!isRetryableError(error) || attempt >= max)
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
