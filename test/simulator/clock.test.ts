import { describe, expect, it } from "vitest";
import { ClockStalledError, ManualClock } from "../../src/testing/index.js";

describe("ManualClock", () => {
  it("fires timers in time order, ties in the order they were set", async () => {
    const clock = new ManualClock({ start: 0 });
    const seen: string[] = [];
    void clock.sleep(30).then(() => seen.push("c@30"));
    void clock.sleep(10).then(() => seen.push("a@10"));
    void clock.sleep(10).then(() => seen.push("b@10"));
    await clock.advance(20);
    expect(seen).toEqual(["a@10", "b@10"]);
    expect(clock.now()).toBe(20);
    await clock.advance(100);
    expect(seen).toEqual(["a@10", "b@10", "c@30"]);
  });

  it("runs async continuations between timers", async () => {
    const clock = new ManualClock({ start: 0 });
    const times: number[] = [];
    const loop = async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(1000);
        times.push(clock.now());
      }
      return "done";
    };
    await expect(clock.runUntil(loop())).resolves.toBe("done");
    expect(times).toEqual([1000, 2000, 3000]);
  });

  it("rejects a sleep whose signal aborts, and drops its timer", async () => {
    const clock = new ManualClock({ start: 0 });
    const ac = new AbortController();
    const sleeping = clock.sleep(1000, ac.signal);
    ac.abort(new Error("stop"));
    await expect(sleeping).rejects.toThrow("stop");
    expect(clock.pendingTimers).toBe(0);
    await expect(clock.sleep(5, ac.signal)).rejects.toThrow("stop");
  });

  it("gives up when nothing is scheduled and the promise cannot settle", async () => {
    const clock = new ManualClock();
    await expect(
      clock.runUntil(new Promise(() => undefined), { realWaitMs: 20 }),
    ).rejects.toBeInstanceOf(ClockStalledError);
  });

  it("stops at the time limit", async () => {
    const clock = new ManualClock({ start: 0 });
    const forever = (async () => {
      for (;;) await clock.sleep(60_000);
    })();
    await expect(clock.runUntil(forever, { maxTimeMs: 3_600_000 })).rejects.toThrow(
      /did not settle/,
    );
  });
});

describe("ManualClock and real I/O", () => {
  it("lets a file read finish before jumping to the next timer", async () => {
    const { readFile } = await import("node:fs/promises");
    const clock = new ManualClock({ start: 0 });
    const timeout = clock.sleep(3_600_000).then(() => "timeout");
    const work = (async () => {
      await readFile(new URL("../../package.json", import.meta.url));
      await clock.sleep(10_000);
      return "work";
    })();
    await expect(clock.runUntil(Promise.race([timeout, work]))).resolves.toBe("work");
    expect(clock.now()).toBe(10_000);
  });
});
