/**
 * Crash points drawn at random: a run with random outcomes (and, half the time, a cancel at a
 * random moment) is dropped (its host killed, or half the time handed over) at a random
 * moment, or within a poll interval of the cancel, or, with a store, frozen and woken later; a
 * fresh host attaches (once the lease lapses, or at once after a hand-over), with a memory
 * store, a file store per host, or none, and the
 * invariants hold: no task twice, none left running, every task ECS started in the result,
 * budgets respected, and a cancel that reached ECS (or, with a store, that the host took) is
 * the run's end.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expectSettled, play, taskScripts } from "./crash-play.js";

const scenario = fc.record({
  taskCount: fc.integer({ min: 1, max: 5 }),
  maxFailCount: fc.integer({ min: 0, max: 2 }),
  maxLaunchRetries: fc.integer({ min: 0, max: 2 }),
  runMs: fc.integer({ min: 5_000, max: 300_000 }),
  crashAtMs: fc.integer({ min: 0, max: 400_000 }),
  lostAnswers: fc.constantFrom(0, 0, 0.3),
  store: fc.boolean(),
  fileStore: fc.boolean(),
  handOver: fc.boolean(),
  timeout: fc.constant("2h"),
  scripts: taskScripts(4),
  cancelAtMs: fc.option(fc.integer({ min: 0, max: 400_000 }), { nil: undefined }),
  /** Half the cancels are followed by the crash within a poll interval (5 s). */
  crashAfterCancelMs: fc.option(fc.integer({ min: 0, max: 5_000 })),
  /** 30 s: longer than the lease's time to live, so a RunTask can outlast its host's lease. */
  launchLatencyMs: fc.constantFrom(0, 0, 8_000, 30_000),
  /** With a store and no hand-over, half the first hosts are frozen, not killed, and woken. */
  freezeForMs: fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: undefined }),
});

describe("crash points, at random", () => {
  it("attach after a crash anywhere: no duplicate, no orphan, budgets kept", async () => {
    const runs = Number(process.env.FC_RUNS ?? 40);
    let attached = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const crashAt =
          s.cancelAtMs === undefined || s.crashAfterCancelMs === null
            ? s.crashAtMs
            : s.cancelAtMs + s.crashAfterCancelMs;
        const played = await play(s, [crashAt]);
        if (played.attaches > 0 && expectSettled(played, s) !== undefined) attached++;
      }),
      { numRuns: runs, seed: Number(process.env.FC_SEED ?? 20261206) },
    );
    // Most drawn crashes fall mid-run: the property is about attach, not about runs that ended.
    expect(attached).toBeGreaterThan(runs / 4);
  }, 120_000);
});
