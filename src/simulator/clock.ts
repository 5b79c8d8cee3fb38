/**
 * A clock whose time moves only when told to. Timers fire in time order (ties in the order they
 * were set), and between timers the microtask queue is drained, so async code that awaits
 * `sleep` runs exactly as it would with real time, only without waiting.
 */
import {
  setImmediate as realSetImmediate,
  setTimeout as realSetTimeout,
} from "node:timers/promises";
import { abortReason, type Clock } from "../clock.js";
import { MinHeap } from "./heap.js";

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
  cancelled: boolean;
}

/** Options of `ManualClock`. */
export interface ManualClockOptions {
  /** Start time in ms since the epoch. Default: 2026-01-01T00:00:00Z. */
  start?: number;
}

/** Why `runUntil` gave up. */
export class ClockStalledError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClockStalledError";
  }
}

/**
 * A deterministic `Clock` for tests and simulations.
 *
 * @example
 * const clock = new ManualClock();
 * const result = await clock.runUntil(runner.run(job)); // skips through every wait
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new MinHeap<Timer>((a, b) => a.at - b.at || a.seq - b.seq);

  constructor(options: ManualClockOptions = {}) {
    this.#now = options.start ?? Date.UTC(2026, 0, 1);
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        cancelled: false,
        fire: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        timer.cancelled = true;
        reject(abortReason(signal as AbortSignal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#timers.push(timer);
    });
  }

  /** Calls `fn` at `at` (ms since the epoch), or at once if that time has passed. */
  schedule(at: number, fn: () => void): { cancel(): void } {
    const timer: Timer = {
      at: Math.max(at, this.#now),
      seq: this.#seq++,
      cancelled: false,
      fire: fn,
    };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Timers that have not fired or been cancelled. */
  get pendingTimers(): number {
    let n = 0;
    for (const t of this.#timers.items()) if (!t.cancelled) n++;
    return n;
  }

  /** When the next timer fires, or `undefined` when none is set. */
  nextTimerAt(): number | undefined {
    this.#dropCancelled();
    return this.#timers.peek()?.at;
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.#now + ms);
  }

  /** Moves time forward to `time`, firing every timer due on the way, in order. */
  async advanceTo(time: number): Promise<void> {
    await flushMicrotasks();
    for (;;) {
      this.#dropCancelled();
      const next = this.#timers.peek();
      if (next === undefined || next.at > time) break;
      this.#timers.pop();
      this.#now = Math.max(this.#now, next.at);
      next.fire();
      await flushMicrotasks();
    }
    this.#now = Math.max(this.#now, time);
  }

  /** Fires the next timer (moving time to it). Returns false when no timer is set. */
  async next(): Promise<boolean> {
    await flushMicrotasks();
    const at = this.nextTimerAt();
    if (at === undefined) return false;
    await this.advanceTo(at);
    return true;
  }

  /**
   * Skips time forward timer by timer until `promise` settles, then returns its value (or
   * throws its error). When no timer is set and the promise is still pending, waits a little
   * real time for I/O (a file read, a child process) before giving up with `ClockStalledError`.
   */
  async runUntil<T>(
    promise: Promise<T>,
    options: { maxTimeMs?: number; realWaitMs?: number } = {},
  ): Promise<T> {
    const state: { settled: boolean; failed: boolean; value?: T; error?: unknown } = {
      settled: false,
      failed: false,
    };
    promise.then(
      (v) => {
        state.settled = true;
        state.value = v;
      },
      (e: unknown) => {
        state.settled = true;
        state.failed = true;
        state.error = e;
      },
    );
    const maxTimeMs = options.maxTimeMs ?? 7 * 24 * 3_600_000;
    const limit = this.#now + maxTimeMs;
    const realWaitMs = options.realWaitMs ?? 5000;
    let waitedReal = 0;
    await flushMicrotasks();
    while (!state.settled) {
      const at = this.nextTimerAt();
      // Real I/O in flight (a template file read, a module loading): let it finish before time
      // jumps, or a job's timeout would fire while its task definition is still being read.
      // I/O that outlasts realWaitMs is taken for background work and no longer waited for.
      const waitForIo = at !== undefined && waitedReal < realWaitMs && ioPending();
      if (at === undefined || waitForIo) {
        if (at === undefined && waitedReal >= realWaitMs) {
          throw new ClockStalledError(
            `nothing is scheduled and the promise has not settled after ${realWaitMs}ms of real time`,
          );
        }
        await realSetTimeout(1);
        waitedReal += 1;
        await flushMicrotasks();
        continue;
      }
      waitedReal = 0;
      if (at > limit) {
        throw new ClockStalledError(
          `the promise did not settle within ${maxTimeMs}ms of clock time`,
        );
      }
      await this.advanceTo(at);
    }
    if (state.failed) throw state.error;
    return state.value as T;
  }

  #dropCancelled(): void {
    while (this.#timers.peek()?.cancelled === true) this.#timers.pop();
  }
}

/**
 * Whether this process has file or network requests in flight (not timers, not idle handles):
 * a test that moves a `ManualClock` itself waits for them before time jumps, as `runUntil` does.
 */
export function ioPending(): boolean {
  return process.getActiveResourcesInfo().some((r) => /Req|Zlib|ConnectWrap|WriteWrap/.test(r));
}

/** Lets every queued microtask (and the ones they queue) run. */
export async function flushMicrotasks(): Promise<void> {
  // setImmediate callbacks run after the microtask queue drains; twice covers promise chains
  // that hop through one macrotask (as some stream and SDK helpers do).
  await realSetImmediate();
  await realSetImmediate();
}
