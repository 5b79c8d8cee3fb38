/**
 * Crash points drawn at random: a run with random outcomes (and, half the time, a cancel at a
 * random moment) is dropped (its host killed) at a random moment, a fresh host attaches once
 * the lease lapses, and the invariants hold: no task twice, none left running, every task ECS
 * started in the result, budgets respected, and a cancel that reached ECS is the run's end.
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
  timeout: fc.constant("2h"),
  scripts: taskScripts(4),
  cancelAtMs: fc.option(fc.integer({ min: 0, max: 400_000 }), { nil: undefined }),
});

describe("crash points, at random", () => {
  it("attach after a crash anywhere: no duplicate, no orphan, budgets kept", async () => {
    const runs = Number(process.env.FC_RUNS ?? 40);
    let attached = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const played = await play(s, [s.crashAtMs]);
        if (played.attaches > 0 && expectSettled(played, s) !== undefined) attached++;
      }),
      { numRuns: runs, seed: Number(process.env.FC_SEED ?? 20261206) },
    );
    // Most drawn crashes fall mid-run: the property is about attach, not about runs that ended.
    expect(attached).toBeGreaterThan(runs / 4);
  }, 120_000);
});
