/**
 * Time and randomness are injected so that retry, backoff, polling and timeouts can be tested
 * deterministically (see `ManualClock` in `ecs-batch-runner/testing`).
 */

/** The runner's only source of time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds. When `signal` aborts first it rejects with the signal's
   * reason (an `AbortError`-style error), so callers can stop waiting without leaking timers.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A source of uniformly distributed numbers in [0, 1), used for backoff jitter and job ids. */
export type RandomSource = () => number;

/** Error used to reject `Clock.sleep` when its signal aborts without a reason of its own. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error(typeof reason === "string" ? reason : "The operation was aborted");
  err.name = "AbortError";
  return err;
}

/**
 * The longest wait one timer can take: Node fires a `setTimeout` longer than 2^31-1 ms
 * (about 24.8 days) at once, so longer waits are taken in chunks of this size.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The real clock: `Date.now()` and `setTimeout`, in chunks for waits past `MAX_TIMER_MS`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const end = Date.now() + Math.max(0, ms);
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(abortReason(signal as AbortSignal));
      };
      const wait = (left: number): void => {
        timer = setTimeout(
          () => {
            const rest = end - Date.now();
            if (rest > 0) {
              wait(rest);
              return;
            }
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
          Math.min(Math.max(0, left), MAX_TIMER_MS),
        );
      };
      wait(end - Date.now());
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
};

/**
 * A host's clock whose waits past `MAX_TIMER_MS` are taken in chunks, for clocks built on
 * `setTimeout` that would otherwise fire such a wait at once (a 600-hour timeout would end
 * the job immediately). The system clock chunks its own waits and is returned as it is.
 */
export function withLongSleeps(clock: Clock): Clock {
  if (clock === systemClock) return clock;
  const chunked = async (ms: number, signal?: AbortSignal): Promise<void> => {
    let left = ms;
    while (left > MAX_TIMER_MS) {
      await clock.sleep(MAX_TIMER_MS, signal);
      left -= MAX_TIMER_MS;
    }
    await clock.sleep(left, signal);
  };
  return {
    now: () => clock.now(),
    sleep: (ms, signal) => (ms > MAX_TIMER_MS ? chunked(ms, signal) : clock.sleep(ms, signal)),
  };
}

/** Waits on `clock` but resolves `false` instead of rejecting when `signal` aborts. */
export async function sleepUnlessAborted(
  clock: Clock,
  ms: number,
  signal?: AbortSignal,
): Promise<boolean> {
  if (signal?.aborted) return false;
  try {
    await clock.sleep(ms, signal);
    return true;
  } catch (err) {
    if (signal?.aborted) return false;
    throw err;
  }
}
