/**
 * A real clock that runs `speed` times faster than wall time: `now()` advances `speed`
 * simulated milliseconds per real millisecond and `sleep(ms)` waits `ms / speed` real
 * milliseconds. The runner process and the simulator process build it from the same start, so
 * they agree on the time. Every rate (20 launches per simulated second, a poll every 15
 * simulated seconds) keeps its simulated value, while the runner's work per real second is
 * `speed` times denser than on AWS: the process figures are measured under that harsher load.
 */
import { abortReason, type Clock } from "../../src/clock.js";

/** Milliseconds since the epoch, with sub-millisecond resolution, the same in every process. */
export function realNow(): number {
  return performance.timeOrigin + performance.now();
}

export class ScaledClock implements Clock {
  constructor(
    readonly speed: number,
    /** Simulated time at `realStart`. */
    readonly epoch: number,
    /** Real time (`realNow()`) the clock starts from. */
    readonly realStart: number,
  ) {}

  now(): number {
    return this.at(realNow());
  }

  /** The simulated time at the real instant `real` (a `realNow()` reading). */
  at(real: number): number {
    return this.epoch + (real - this.realStart) * this.speed;
  }

  /**
   * Node timers count whole milliseconds from a loop time that may lag real time, so a timer
   * can fire early, by a millisecond or so: `speed` simulated milliseconds. A sleep that would
   * return before its time is re-armed for the rest, so callers never see time short of it. The
   * first timer is set a millisecond long so that this is rare: at 1x, re-arming cost 280 of the
   * first 978 sleeps of a 10,000-task run a second wake-up, work a host's clock (`systemClock`,
   * which lets a timer end a little early) does not make the runner do.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const until = this.now() + Math.max(0, ms);
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(abortReason(signal));
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      let pad = 1;
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(abortReason(signal as AbortSignal));
      };
      const arm = (): void => {
        const left = until - this.now();
        if (left <= 0) {
          signal?.removeEventListener("abort", onAbort);
          resolve();
          return;
        }
        timer = setTimeout(arm, Math.ceil(left / this.speed) + pad);
        pad = 0;
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      arm();
    });
  }
}
