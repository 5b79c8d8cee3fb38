import { describe, expect, it } from "vitest";
import { AdaptiveRateLimiter } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";

describe("AdaptiveRateLimiter", () => {
  const setup = (ratePerSecond = 10, burst = 3) => {
    const clock = new ManualClock({ start: 0 });
    const limiter = new AdaptiveRateLimiter(clock, { ratePerSecond, burst });
    /** Grant times and order of the acquires made through `take`. */
    const granted: { id: number; at: number; ok: boolean }[] = [];
    const take = (id: number, signal?: AbortSignal): Promise<boolean> =>
      limiter.acquire(signal).then((ok) => {
        granted.push({ id, at: clock.now(), ok });
        return ok;
      });
    return { clock, limiter, granted, take };
  };

  it("spends the burst at once, then grants one token per 1/rate, first come first served", async () => {
    const { clock, granted, take } = setup(10, 3);
    const all = Promise.all([1, 2, 3, 4, 5, 6].map((id) => take(id)));
    await clock.runUntil(all);
    expect(granted).toEqual([
      { id: 1, at: 0, ok: true },
      { id: 2, at: 0, ok: true },
      { id: 3, at: 0, ok: true },
      { id: 4, at: 100, ok: true },
      { id: 5, at: 200, ok: true },
      { id: 6, at: 300, ok: true },
    ]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("refills while idle, up to the burst and no more", async () => {
    const { clock, granted, take } = setup(10, 2);
    await clock.runUntil(Promise.all([take(1), take(2)]));
    await clock.advance(10_000);
    const at = clock.now();
    await clock.runUntil(Promise.all([take(3), take(4), take(5)]));
    expect(granted.slice(2).map((g) => g.at - at)).toEqual([0, 0, 100]);
  });

  it("resolves false at once when the signal aborts, without taking a token from those behind", async () => {
    const { clock, granted, take } = setup(10, 1);
    const controller = new AbortController();
    const first = take(1);
    const second = take(2, controller.signal);
    const third = take(3);
    await clock.advance(50);
    controller.abort();
    await clock.advance(0);
    expect(await second).toBe(false);
    expect(granted.map((g) => [g.id, g.at, g.ok])).toEqual([
      [1, 0, true],
      [2, 50, false],
    ]);
    await clock.runUntil(Promise.all([first, third]));
    // The aborted waiter left its place: the third gets the token the second was waiting for.
    expect(granted.at(-1)).toEqual({ id: 3, at: 100, ok: true });
    expect(clock.pendingTimers).toBe(0);
  });

  it("refuses a waiter further back whose signal aborted when its turn comes, at no cost to the next", async () => {
    const { clock, granted, take } = setup(10, 1);
    const controller = new AbortController();
    const all = Promise.all([take(1), take(2), take(3, controller.signal), take(4)]);
    await clock.advance(50);
    controller.abort();
    await clock.runUntil(all);
    expect(granted.map((g) => [g.id, g.at, g.ok])).toEqual([
      [1, 0, true],
      [2, 100, true],
      [3, 100, false],
      [4, 200, true],
    ]);
  });

  it("refuses an already aborted signal and leaves no timer behind when every waiter gives up", async () => {
    const { clock, limiter, take } = setup(10, 1);
    const aborted = AbortSignal.abort();
    expect(await limiter.acquire(aborted)).toBe(false);
    // The refused call took nothing: the one token is still there.
    expect(await take(1)).toBe(true);
    expect(clock.now()).toBe(0);
    const controller = new AbortController();
    const waiting = take(2, controller.signal);
    await clock.advance(10);
    controller.abort();
    expect(await waiting).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it("halves the rate and drops saved tokens on throttling, and creeps back on success", async () => {
    const { clock, limiter, granted, take } = setup(10, 3);
    limiter.onThrottle();
    expect(limiter.rate).toBe(5);
    expect(limiter.throttles).toBe(1);
    await clock.runUntil(Promise.all([take(1), take(2)]));
    // No saved token left: each waits 1/5 s.
    expect(granted.map((g) => g.at)).toEqual([200, 400]);
    for (let i = 0; i < 100; i++) limiter.onSuccess();
    expect(limiter.rate).toBe(10);
  });

  it("grants a token due within a millisecond now, and makes the next wait that much longer", async () => {
    const { clock, granted, take } = setup(20, 1);
    await take(1);
    // A timer that fires a millisecond early finds 0.98 of a token: granted, not slept on again.
    await clock.advance(49);
    await clock.runUntil(take(2));
    await clock.runUntil(take(3));
    expect(granted.map((g) => g.at)).toEqual([0, 49, 100]);
  });

  it("never drops below the minimum rate", () => {
    const clock = new ManualClock({ start: 0 });
    const limiter = new AdaptiveRateLimiter(clock, {
      ratePerSecond: 16,
      burst: 1,
      minRatePerSecond: 4,
    });
    for (let i = 0; i < 10; i++) limiter.onThrottle();
    expect(limiter.rate).toBe(4);
  });
});
