/**
 * Crash points drawn at random: a run with random outcomes is dropped (its host killed) at a
 * random moment, a fresh host attaches once the lease lapses, and the invariants hold: no task
 * twice, none left running, every task ECS started in the result, budgets respected.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryJobStore } from "../../src/index.js";
import type { TaskScript } from "../../src/testing/index.js";
import { durableJob, world } from "./harness.js";

const outcome = fc.oneof(
  fc.constant<TaskScript>({}),
  fc.integer({ min: 1, max: 255 }).map<TaskScript>((exitCode) => ({ exitCode })),
  fc.constantFrom<TaskScript>(
    { launchFailure: "AGENT" },
    { startFailure: "CannotPullContainerError" },
  ),
  fc.integer({ min: 0, max: 20_000 }).map<TaskScript>((afterMs) => ({ interrupted: { afterMs } })),
);

const scenario = fc.record({
  taskCount: fc.integer({ min: 1, max: 5 }),
  maxFailCount: fc.integer({ min: 0, max: 2 }),
  maxLaunchRetries: fc.integer({ min: 0, max: 2 }),
  runMs: fc.integer({ min: 5_000, max: 300_000 }),
  crashAtMs: fc.integer({ min: 0, max: 400_000 }),
  lostAnswers: fc.constantFrom(0, 0, 0.3),
  store: fc.boolean(),
  scripts: fc.array(
    fc.record({
      taskIndex: fc.integer({ min: 0, max: 4 }),
      attempt: fc.integer({ min: 1, max: 4 }),
      script: outcome,
    }),
    { maxLength: 8 },
  ),
});

describe("crash points, at random", () => {
  it("attach after a crash anywhere: no duplicate, no orphan, budgets kept", async () => {
    const runs = Number(process.env.FC_RUNS ?? 40);
    let attached = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const { aws, clock, host, until } = world();
        aws.script({}, { runMs: s.runMs });
        for (const { taskIndex, attempt, script } of s.scripts)
          aws.script({ taskIndex, attempt }, script);
        if (s.lostAnswers > 0) {
          aws.inject({
            action: "RunTask",
            error: "ServerException",
            afterProcessing: true,
            probability: s.lostAnswers,
          });
        }
        const store = s.store ? new MemoryJobStore() : undefined;
        const job = durableJob({
          taskCount: s.taskCount,
          maxFailCount: s.maxFailCount,
          retry: { maxLaunchRetries: s.maxLaunchRetries, backoff: { initial: "2s", max: "20s" } },
        });
        const options = store === undefined ? {} : { store };
        const first = host(options);
        const handle = first.runner.submit(job);
        const crashAt = clock.now() + s.crashAtMs;
        const run = { finished: false };
        void handle.result.then(
          () => (run.finished = true),
          () => (run.finished = true),
        );
        await until(() => run.finished || clock.now() >= crashAt, s.crashAtMs + 1);
        first.kill();
        if (run.finished || aws.taskHistory.length === 0) return;
        await clock.runUntil(clock.sleep(20_000));
        const second = host(options);
        const outcomeOf = await clock.runUntil(
          second.runner.attach(job).result.then(
            (value) => ({ ok: true as const, value }),
            (error: unknown) => ({ ok: false as const, error }),
          ),
        );
        if (!outcomeOf.ok) {
          // Without a store, a run whose tasks ECS no longer shows cannot be found.
          expect(outcomeOf.error).toMatchObject({ code: "RUN_NOT_FOUND" });
          return;
        }
        const result = outcomeOf.value;
        attached++;
        aws.assert.noDuplicateTasks();
        aws.assert.noUnfinishedTasks();
        const accounted = new Set(result.tasks.flatMap((t) => [t.taskArn, ...t.failedTaskArns]));
        for (const h of aws.taskHistory) expect(accounted.has(h.taskArn)).toBe(true);
        for (const t of result.tasks) {
          expect(t.attempts).toBeLessThanOrEqual(s.maxFailCount + s.maxLaunchRetries + 2);
        }
      }),
      { numRuns: runs, seed: Number(process.env.FC_SEED ?? 20261206) },
    );
    // Most drawn crashes fall mid-run: the property is about attach, not about runs that ended.
    expect(attached).toBeGreaterThan(runs / 4);
  }, 120_000);
});
