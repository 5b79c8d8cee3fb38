/**
 * A cancel the dead host had begun: its StopTasks landed, its checkpoint never said so. The
 * process that attaches carries the cancel on (the tasks' stop reasons say it), instead of
 * launching what the user cancelled.
 */
import { describe, expect, it } from "vitest";
import { MemoryJobStore, type EcsBatchRunnerOptions } from "../../src/index.js";
import { durableJob, world } from "./harness.js";

/** A retry policy whose backoff is 10 minutes, so a slot sits in backoff while the host dies. */
const slowRetries: Partial<EcsBatchRunnerOptions> = {
  retryPolicy: {
    shouldRetry: (f, c) => (f.kind === "exit" ? c.applicationFailures <= c.maxFailCount : true),
    delay: () => 600_000,
  },
};

/** The scenario: a cancel while slot 0 waits to retry and the others run; the host killed or not. */
async function cancelled(options: { kill: boolean; withStore: boolean }) {
  const { aws, clock, host, until } = world();
  aws.script({}, { runMs: 60 * 60_000 });
  // Task 0 fails at once: its slot waits 10 minutes to retry when the cancel comes.
  aws.script({ taskIndex: 0, attempt: 1 }, { exitCode: 1, runMs: 10_000 });
  const store = options.withStore ? new MemoryJobStore() : undefined;
  const runnerOptions = { ...slowRetries, ...(store === undefined ? {} : { store }) };
  const job = durableJob({ maxFailCount: 2 });
  const first = host(runnerOptions);
  const handle = first.runner.submit(job);
  await until(() => first.events.some((e) => e.name === "retried"));
  // Past a checkpoint of the backoff, then the cancel: its StopTasks land, and the host dies
  // before its next checkpoint.
  await clock.runUntil(clock.sleep(6_000));
  handle.cancel("the operator called it off");
  await until(() => aws.count("StopTask") === 2);
  if (!options.kill) return { aws, result: await clock.runUntil(handle.result), launched: 3 };
  first.kill();
  await clock.runUntil(clock.sleep(30_000));
  const launched = aws.count("RunTask");
  const second = host(runnerOptions);
  const result = await clock.runUntil(second.runner.attach(job, { runId: handle.runId }).result);
  return { aws, result, launched };
}

describe.each([
  ["with a store", true],
  ["from ECS alone", false],
] as const)("a cancel cut short by a crash (%s)", (_name, withStore) => {
  it("is carried on: nothing launched after it, the result cancelled as without the crash", async () => {
    const reference = await cancelled({ kill: false, withStore });
    const { aws, result, launched } = await cancelled({ kill: true, withStore });
    expect(result.status).toBe("cancelled");
    expect(result.error).toMatchObject({ code: "CANCELLED" });
    expect(result.error?.message).toContain("the operator called it off");
    expect(aws.count("RunTask")).toBe(launched);
    const statuses = reference.result.tasks.map((t) => [t.status, t.attempts]);
    // From ECS alone, when slot 0 failed (before the cancel, or during it) is not known: its one
    // attempt is reported failed rather than stopped in its backoff.
    if (!withStore) statuses[0] = ["failed", 1];
    expect(result.tasks.map((t) => [t.status, t.attempts])).toEqual(statuses);
    expect(result.error).toEqual(reference.result.error);
    aws.assert.noUnfinishedTasks();
  });
});

describe("a cancel mid-launch, cut short by a crash", () => {
  it("launches none of the slots the dead host had not launched yet", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const store = new MemoryJobStore();
    const job = durableJob({ taskCount: 300, pollInterval: "10s" });
    const first = host({ store });
    const handle = first.runner.submit(job);
    await until(() => first.events.filter((e) => e.name === "taskStarted").length >= 40);
    handle.cancel();
    await until(() => aws.count("StopTask") >= 10);
    first.kill();
    await clock.runUntil(clock.sleep(60_000));
    const launched = aws.count("RunTask");
    expect(launched).toBeLessThan(300);
    const second = host({ store });
    const result = await clock.runUntil(second.runner.attach(job).result);
    expect(result.status).toBe("cancelled");
    expect(aws.count("RunTask")).toBe(launched);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });
});

describe("a cancel while every launch is in flight, cut short by a crash", () => {
  it("is on record at once: the attacher stops the tasks the dead host's RunTasks started", async () => {
    const { aws, clock, host, until } = world({
      aws: { latency: (_service, action) => (action === "RunTask" ? 20_000 : 0) },
    });
    aws.script({}, { runMs: 60 * 60_000 });
    const store = new MemoryJobStore();
    const job = durableJob({ taskCount: 3 });
    const first = host({ store });
    const handle = first.runner.submit(job);
    await until(() => aws.count("RunTask") === 3);
    // No answer has come back, so no task of the run is known to stop; the host dies a second
    // after the cancel, well inside its poll interval.
    handle.cancel("the operator called it off");
    await clock.runUntil(clock.sleep(1_000));
    first.kill();
    expect(aws.count("StopTask")).toBe(0);
    await clock.runUntil(clock.sleep(30_000));
    const second = host({ store });
    const result = await clock.runUntil(second.runner.attach(job, { runId: handle.runId }).result);
    expect(result.status).toBe("cancelled");
    expect(result.error?.message).toContain("the operator called it off");
    expect(aws.count("RunTask")).toBe(3);
    expect(aws.count("StopTask")).toBe(3);
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped", "stopped"]);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });
});
