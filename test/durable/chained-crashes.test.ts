/**
 * Hosts that keep dying: a run is dropped at a random moment, a fresh host attaches, and it is
 * dropped in turn, up to three times, before a last host attaches and finishes the run. Each
 * attach takes over from a host that died mid-attach or mid-run, so what one host left half
 * done (a launch in flight, a stop sent, a checkpoint behind) is the next one's to settle.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MemoryJobStore, type JobResult } from "../../src/index.js";
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
  taskCount: fc.integer({ min: 1, max: 6 }),
  maxFailCount: fc.integer({ min: 0, max: 2 }),
  maxLaunchRetries: fc.integer({ min: 0, max: 2 }),
  runMs: fc.integer({ min: 20_000, max: 300_000 }),
  /** How long each host lives, from its submit or attach. */
  lives: fc.array(fc.integer({ min: 0, max: 60_000 }), { minLength: 2, maxLength: 3 }),
  lostAnswers: fc.constantFrom(0, 0, 0.3),
  store: fc.boolean(),
  timeout: fc.constantFrom("1h", "6m"),
  scripts: fc.array(
    fc.record({
      taskIndex: fc.integer({ min: 0, max: 5 }),
      attempt: fc.integer({ min: 1, max: 4 }),
      script: outcome,
    }),
    { maxLength: 8 },
  ),
});

/** A few tasks whose every attempt has an outcome drawn, and hosts that die often. */
const fewTasks = fc.record({
  maxFailCount: fc.integer({ min: 0, max: 2 }),
  maxLaunchRetries: fc.integer({ min: 0, max: 2 }),
  runMs: fc.integer({ min: 5_000, max: 60_000 }),
  lives: fc.array(fc.integer({ min: 0, max: 90_000 }), { minLength: 1, maxLength: 3 }),
  outcomes: fc.array(fc.array(outcome, { minLength: 5, maxLength: 5 }), {
    minLength: 1,
    maxLength: 3,
  }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** Plays `s` with hosts that live `lives` ms each (none: one host runs the job to its end). */
async function play(
  s: Scenario,
  lives: readonly number[],
): Promise<{
  result?: JobResult;
  error?: unknown;
  attachersKilled: number;
  world: ReturnType<typeof world>;
}> {
  const w = world();
  const { aws, clock, host, until } = w;
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
    timeout: s.timeout,
    retry: { maxLaunchRetries: s.maxLaunchRetries, backoff: { initial: "2s", max: "20s" } },
  });
  const options = store === undefined ? {} : { store };
  const out: { result?: JobResult; error?: unknown } = {};
  let attachersKilled = 0;
  for (let life = 0; life <= lives.length; life++) {
    const current = host(options);
    const handle =
      life === 0
        ? current.runner.submit(job)
        : current.runner.attach(job, { waitForLease: 600_000 });
    const settled = { done: false };
    void handle.result.then(
      (value) => {
        out.result = value;
        settled.done = true;
      },
      (error: unknown) => {
        out.error = error;
        settled.done = true;
      },
    );
    const lifetime = lives[life];
    if (lifetime === undefined) {
      await until(() => settled.done, 6 * 3_600_000);
      break;
    }
    await until(() => settled.done, lifetime + 1);
    current.kill();
    if (settled.done) break;
    if (life > 0) attachersKilled++;
    // The next host comes a little later; it waits for the dead one's lease to lapse.
    await clock.runUntil(clock.sleep(5_000));
  }
  return { ...out, attachersKilled, world: w };
}

describe("crashes one after another", () => {
  it("each host dies in turn; the last one finishes: no duplicate, no orphan, budgets kept", async () => {
    const runs = Number(process.env.FC_RUNS ?? 100);
    let finishedByAttach = 0;
    /** Hosts killed mid-run after attaching: the crashes this test adds to properties.test.ts. */
    let attachersKilled = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const played = await play(s, s.lives);
        const { aws } = played.world;
        attachersKilled += played.attachersKilled;
        const result = played.result;
        if (result === undefined) {
          if (aws.taskHistory.length === 0) return;
          // Without a store, a run whose tasks ECS no longer shows cannot be found.
          expect(played.error).toMatchObject({ code: "RUN_NOT_FOUND" });
          return;
        }
        finishedByAttach++;
        aws.assert.noDuplicateTasks();
        aws.assert.noUnfinishedTasks();
        const accounted = new Set(result.tasks.flatMap((t) => [t.taskArn, ...t.failedTaskArns]));
        for (const h of aws.taskHistory) expect(accounted.has(h.taskArn)).toBe(true);
        for (const t of result.tasks) {
          expect(t.attempts).toBeLessThanOrEqual(s.maxFailCount + s.maxLaunchRetries + 2);
        }
        expect(result.tasks).toHaveLength(s.taskCount);
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
        const s: Scenario = {
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
        const crashed = await play(s, s.lives);
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
    const s: Scenario = {
      taskCount: 1,
      maxFailCount: 2,
      maxLaunchRetries: 1,
      runMs: 21_007,
      lives: [47_383],
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
    const crashed = await play(s, s.lives);
    expect(crashed.world.aws.taskHistory.map((h) => h.context.attempt)).toEqual([1, 2, 4]);
    const task = crashed.result?.tasks[0];
    expect(task).toMatchObject({ status: "succeeded", attempts: 4 });
    expect(task?.failedTaskArns).toHaveLength(2);
    expect(task?.lastFailure?.kind).toBe("launch");
    expect(task?.lastFailure?.reason).toContain("attempt 3");
  });
});
