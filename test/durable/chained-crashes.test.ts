/**
 * Hosts that keep dying: a run is dropped at a random moment, a fresh host attaches, and it is
 * dropped in turn, up to three times, before a last host attaches and finishes the run. Each
 * attach takes over from a host that died mid-attach or mid-run, so what one host left half
 * done (a launch in flight, a stop sent, a checkpoint behind) is the next one's to settle.
 * Stores are a shared memory store or a file store per host; in the comparison with the run
 * never interrupted, the first host sometimes hands the run over instead of dying.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { JobResult } from "../../src/index.js";
import type { TaskScript } from "../../src/testing/index.js";
import { expectSettled, outcome, play, taskScripts, type CrashScenario } from "./crash-play.js";

const scenario = fc.record({
  taskCount: fc.integer({ min: 1, max: 6 }),
  maxFailCount: fc.integer({ min: 0, max: 2 }),
  maxLaunchRetries: fc.integer({ min: 0, max: 2 }),
  runMs: fc.integer({ min: 20_000, max: 300_000 }),
  /** How long each host lives, from its submit or attach. */
  lives: fc.array(fc.integer({ min: 0, max: 60_000 }), { minLength: 2, maxLength: 3 }),
  lostAnswers: fc.constantFrom(0, 0, 0.3),
  store: fc.boolean(),
  fileStore: fc.boolean(),
  timeout: fc.constantFrom("1h", "6m"),
  scripts: taskScripts(5),
  /** The first host hands the run over instead of dying. */
  handOver: fc.boolean(),
  /** The first host cancels the run, if it is still alive then. */
  cancelAtMs: fc.option(fc.integer({ min: 0, max: 90_000 }), { nil: undefined }),
  /** 30 s: longer than a lease's time to live, so a RunTask can outlast its host. */
  launchLatencyMs: fc.constantFrom(0, 0, 8_000, 30_000),
});

/** A few tasks whose every attempt has an outcome drawn, and hosts that die often. */
const fewTasks = fc.record({
  maxFailCount: fc.integer({ min: 0, max: 2 }),
  maxLaunchRetries: fc.integer({ min: 0, max: 2 }),
  fileStore: fc.boolean(),
  handOver: fc.boolean(),
  runMs: fc.integer({ min: 5_000, max: 60_000 }),
  lives: fc.array(fc.integer({ min: 0, max: 90_000 }), { minLength: 1, maxLength: 3 }),
  outcomes: fc.array(fc.array(outcome, { minLength: 5, maxLength: 5 }), {
    minLength: 1,
    maxLength: 3,
  }),
});

describe("crashes one after another", () => {
  it("each host dies in turn; the last one finishes: no duplicate, no orphan, budgets kept", async () => {
    const runs = Number(process.env.FC_RUNS ?? 100);
    let finishedByAttach = 0;
    /** Hosts killed mid-run after attaching: the crashes this test adds to properties.test.ts. */
    let attachersKilled = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const played = await play(s, s.lives);
        attachersKilled += played.attachersKilled;
        if (expectSettled(played, s) !== undefined && played.attaches > 0) finishedByAttach++;
      }),
      { numRuns: runs, seed: Number(process.env.FC_SEED ?? 20261207) },
    );
    expect(finishedByAttach).toBeGreaterThan(runs / 4);
    expect(attachersKilled).toBeGreaterThan(runs / 4);
  }, 300_000);

  it("with a store, each task's attempts and outcome are those of the run never interrupted", async () => {
    const runs = Number(process.env.FC_RUNS ?? 100);
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(fewTasks, async (drawn) => {
        // No lost answers, no deadline in reach: each task's scripts (keyed by attempt) alone
        // decide its history, budget spent included, whenever its hosts die. With siblings,
        // only a run that succeeded is timing-free (a sibling stop depends on when it came).
        const s: CrashScenario = {
          ...drawn,
          taskCount: drawn.outcomes.length,
          store: true,
          lostAnswers: 0,
          timeout: "1h",
          scripts: drawn.outcomes.flatMap((scripts, taskIndex) =>
            scripts.map((script, i) => ({ taskIndex, attempt: i + 1, script })),
          ),
        };
        const reference = await play(s, []);
        if (s.taskCount > 1 && reference.result?.status !== "succeeded") return;
        const crashed = await play(s, drawn.lives);
        if (crashed.world.aws.taskHistory.length === 0) return;
        compared++;
        const summary = (r: JobResult | undefined) => ({
          status: r?.status,
          tasks: r?.tasks.map((t) => ({
            status: t.status,
            attempts: t.attempts,
            failed: t.failedTaskArns.length,
            exitCode: t.exitCode,
            failure: t.lastFailure?.kind,
          })),
        });
        expect(summary(crashed.result)).toEqual(summary(reference.result));
      }),
      { numRuns: runs, seed: Number(process.env.FC_SEED ?? 20261207) },
    );
    expect(compared).toBeGreaterThan(runs / 4);
  }, 300_000);

  it("a launch failure the last checkpoint missed is still the task's last failure after an attach", async () => {
    // Attempt 2 exits 1 (checkpointed), attempt 3 fails to launch and attempt 4 starts, then
    // the host dies before the next checkpoint: ECS shows attempts 1, 2 and 4 only.
    const s: CrashScenario = {
      taskCount: 1,
      maxFailCount: 2,
      maxLaunchRetries: 1,
      runMs: 21_007,
      lostAnswers: 0,
      store: true,
      timeout: "1h",
      scripts: [
        { startFailure: "CannotPullContainerError" },
        { exitCode: 1 },
        { launchFailure: "AGENT" },
        {},
      ].map((script: TaskScript, i) => ({ taskIndex: 0, attempt: i + 1, script })),
    };
    const crashed = await play(s, [47_383]);
    expect(crashed.world.aws.taskHistory.map((h) => h.context.attempt)).toEqual([1, 2, 4]);
    const task = crashed.result?.tasks[0];
    expect(task).toMatchObject({ status: "succeeded", attempts: 4 });
    expect(task?.failedTaskArns).toHaveLength(2);
    expect(task?.lastFailure?.kind).toBe("launch");
    expect(task?.lastFailure?.reason).toContain("attempt 3");
  });
});
