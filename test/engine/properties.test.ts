/**
 * Property-based tests: random jobs against random scenarios, checking the invariants that
 * must hold whatever happens. The seed is fixed so CI is reproducible; set FC_SEED and FC_RUNS
 * to explore further.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EcsBatchSetupError, type Logger, type PatchOperation } from "../../src/index.js";
import type { TaskScript } from "../../src/testing/index.js";
import { job, setup, type Recorded } from "../helpers/sim.js";

const outcome = fc.oneof(
  fc.constant<TaskScript>({}),
  fc.integer({ min: 1, max: 255 }).map<TaskScript>((exitCode) => ({ exitCode })),
  fc.constant<TaskScript>({ startFailure: "CannotPullContainerError: not found" }),
  fc.constantFrom<TaskScript>({ launchFailure: "AGENT" }, { launchFailure: "RESOURCE:MEMORY" }),
  fc.integer({ min: 0, max: 20_000 }).map<TaskScript>((afterMs) => ({ interrupted: { afterMs } })),
  fc
    .integer({ min: 0, max: 20_000 })
    .map<TaskScript>((afterMs) => ({ stoppedExternally: { afterMs } })),
  fc.integer({ min: 1000, max: 60_000 }).map<TaskScript>((missingAfterMs) => ({ missingAfterMs })),
);

/** Customizations a user may legitimately make; none touches what the runner relies on. */
const customization = fc.constantFrom<PatchOperation[]>(
  [],
  [{ op: "add", path: "/propagateTags", value: "TASK_DEFINITION" }],
  [{ op: "add", path: "/enableExecuteCommand", value: true }],
  [{ op: "add", path: "/tags/-", value: { key: "team", value: "data" } }],
  [
    { op: "test", path: "/count", value: 1 },
    {
      op: "replace",
      path: "/networkConfiguration/awsvpcConfiguration/assignPublicIp",
      value: "DISABLED",
    },
  ],
);

/** An error like the SDK's when a 200 answer's body cannot be parsed. */
function unreadableAnswer(): Error {
  const error = new SyntaxError("Unexpected end of JSON input\n  Deserialization error");
  Object.defineProperty(error, "$response", { value: { statusCode: 200 } });
  return error;
}

/** Host code that throws whatever it throws: an Error, or a value String() cannot print. */
const thrown = fc.constantFrom<"none" | "error" | "unprintable">("none", "error", "unprintable");
function raise(kind: "error" | "unprintable"): never {
  if (kind === "error") throw new Error("host code failed");
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point: not an Error
  throw Object.create(null) as object;
}

function throwingLogger(kind: "error" | "unprintable"): Logger {
  const fail = (): void => raise(kind);
  return { debug: fail, info: fail, warn: fail, error: fail };
}

const scenario = fc.record({
  taskCount: fc.integer({ min: 1, max: 6 }),
  maxFailCount: fc.integer({ min: 0, max: 3 }),
  maxLaunchRetries: fc.integer({ min: 0, max: 3 }),
  timeoutMs: fc.integer({ min: 20_000, max: 1_800_000 }),
  runMs: fc.integer({ min: 1000, max: 600_000 }),
  pollMs: fc.constantFrom(2000, 5000, 30_000),
  cancelAtMs: fc.option(fc.integer({ min: 0, max: 900_000 }), { nil: undefined }),
  throttle: fc.constantFrom(0, 0, 0.3),
  /** RunTask errors that may hide a started task: 5xx or an unreadable answer, after or before acting. */
  ambiguous: fc.constantFrom(0, 0, 0.2, 0.5),
  ambiguousAfterProcessing: fc.boolean(),
  customizations: customization,
  logger: thrown,
  listener: thrown,
  /** Long waits: a backoff cap of 30 days, the job's timeout up to 600 hours. */
  longDurations: fc.boolean(),
  scripts: fc.array(
    fc.record({
      taskIndex: fc.integer({ min: 0, max: 5 }),
      attempt: fc.integer({ min: 1, max: 6 }),
      script: outcome,
    }),
    { maxLength: 12 },
  ),
});

function forSlot(
  events: readonly Recorded[],
  name: Recorded["name"],
  index: number,
): Recorded["payload"][] {
  return events
    .filter((e) => e.name === name && e.payload.taskIndex === index)
    .map((e) => e.payload);
}

describe("invariants over random scenarios", () => {
  it("no orphans, budgets respected, result agrees with events", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const { aws, clock, runner, events } = setup(
          s.logger === "none" ? {} : { runner: { logger: throwingLogger(s.logger) } },
        );
        const listenerThrows = s.listener;
        if (listenerThrows !== "none") {
          runner.on("taskStarted", () => raise(listenerThrows));
          runner.on("taskFailed", () => raise(listenerThrows));
        }
        aws.script({}, { runMs: s.runMs });
        for (const { taskIndex, attempt, script } of s.scripts)
          aws.script({ taskIndex, attempt }, script);
        if (s.throttle > 0)
          aws.inject({
            action: ["RunTask", "DescribeTasks", "StopTask"],
            error: "ThrottlingException",
            probability: s.throttle,
          });
        if (s.ambiguous > 0)
          aws.inject({
            action: "RunTask",
            error: s.ambiguousAfterProcessing ? unreadableAnswer() : "ServerException",
            probability: s.ambiguous,
            afterProcessing: s.ambiguousAfterProcessing,
          });
        const handle = runner.submit(
          job({
            taskCount: s.taskCount,
            maxFailCount: s.maxFailCount,
            retry: {
              maxLaunchRetries: s.maxLaunchRetries,
              backoff: { initial: "2s", max: s.longDurations ? "720h" : "20s" },
            },
            timeout: s.longDurations ? s.timeoutMs * 1200 : s.timeoutMs,
            pollInterval: s.pollMs,
            taskCustomizations: s.customizations,
          }),
        );
        if (s.cancelAtMs !== undefined)
          clock.schedule(clock.now() + s.cancelAtMs, () => handle.cancel("property test"));
        const outcome = await clock.runUntil(
          handle.result.then(
            (value) => ({ ok: true as const, value }),
            (error: unknown) => ({ ok: false as const, error }),
          ),
        );
        // run() rejects only when nothing was launched, and then with a setup error.
        if (!outcome.ok) {
          expect(outcome.error).toBeInstanceOf(EcsBatchSetupError);
          expect(aws.taskHistory).toEqual([]);
          return;
        }
        const result = outcome.value;

        // No orphans: every task ECS started is stopped and accounted for in the result.
        aws.assert.noUnfinishedTasks();
        aws.assert.noDuplicateTasks();
        const accounted = new Set(result.tasks.flatMap((t) => [t.taskArn, ...t.failedTaskArns]));
        const stillKnown = new Set(aws.tasks().map((t) => t.taskArn));
        for (const h of aws.taskHistory) {
          // A task ECS forgot (`missingAfterMs`) before any answer showed it (every RunTask answer
          // for it lost, no description yet) is one no caller could learn of: a listing alone
          // names it, but without its tags it is no more this run's than another's.
          if (!stillKnown.has(h.taskArn) && !aws.describedTaskArns.has(h.taskArn)) continue;
          expect(accounted.has(h.taskArn)).toBe(true);
        }

        // Events: jobCompleted once, last, with this result.
        expect(events.filter((e) => e.name === "jobCompleted")).toHaveLength(1);
        expect(events.at(-1)?.payload.result).toBe(result);

        for (const t of result.tasks) {
          const failed = forSlot(events, "taskFailed", t.index);
          const kinds = failed.map((f) => (f.failure as { kind: string }).kind);
          const app = kinds.filter((k) => k !== "launch" && k !== "interrupted").length;
          const launch = kinds.length - app;
          // Budgets: at most maxFailCount + 1 application failures, maxLaunchRetries + 1 launch failures.
          expect(app).toBeLessThanOrEqual(s.maxFailCount + 1);
          expect(launch).toBeLessThanOrEqual(s.maxLaunchRetries + 1);
          expect(t.attempts).toBeLessThanOrEqual(s.maxFailCount + s.maxLaunchRetries + 2);
          // The result agrees with the events.
          expect(t.failedTaskArns).toEqual(
            failed.flatMap((f) => (f.taskArn === undefined ? [] : [f.taskArn])),
          );
          const started = forSlot(events, "taskStarted", t.index);
          expect(started.length + kinds.filter((k) => k === "launch").length).toBeLessThanOrEqual(
            t.attempts,
          );
          if (t.taskArn !== undefined) expect(started.at(-1)?.taskArn).toBe(t.taskArn);
          expect(t.status === "succeeded").toBe(
            forSlot(events, "taskSucceeded", t.index).length === 1,
          );
          if (t.status === "failed") expect(failed.at(-1)?.willRetry).toBe(false);
          expect(
            failed.slice(0, -1).every((f) => f.willRetry === true) || t.status !== "succeeded",
          ).toBe(true);
        }
        // The job's status follows from its tasks and its stop cause.
        if (result.status === "succeeded")
          expect(result.tasks.every((t) => t.status === "succeeded")).toBe(true);
        if (result.tasks.some((t) => t.status === "failed"))
          expect(result.status).not.toBe("succeeded");
        if (result.status === "timedOut")
          expect(events.some((e) => e.name === "timedOut")).toBe(true);
        expect(result.failedTaskArns.length).toBe(
          result.tasks.reduce((n, t) => n + t.failedTaskArns.length, 0),
        );
      }),
      {
        numRuns: Number(process.env.FC_RUNS ?? 120),
        seed: Number(process.env.FC_SEED ?? 20261126),
      },
    );
  }, 120_000);
});
