/** stopJob and describeJob: a run's tasks found in ECS from any process (DESIGN 3.11). */
import { describe, expect, it } from "vitest";
import { EcsBatchValidationError, MemoryJobStore } from "../../src/index.js";
import { memoryLogger } from "../helpers/sim.js";
import { durableJob, world } from "./harness.js";

describe("stopJob", () => {
  it("stops every unfinished task of a run whose host died, with a reason naming the job", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const first = host();
    const handle = first.runner.submit(durableJob({ taskCount: 4 }));
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 4);
    first.kill();
    const janitor = host();
    const stopped = await clock.runUntil(
      janitor.runner.stopJob({ jobId: "durable1", cluster: "default", reason: "host lost" }),
    );
    expect(stopped.runIds).toEqual([handle.runId]);
    expect(stopped.stoppedTaskArns).toHaveLength(4);
    expect(stopped.failedTaskArns).toEqual([]);
    expect(aws.inputs<{ reason: string }>("StopTask").map((i) => i.reason)).toEqual(
      Array<string>(4).fill("ecs-batch-runner: job durable1 stopped by stopJob: host lost"),
    );
    await clock.runUntil(clock.sleep(60_000));
    aws.assert.noUnfinishedTasks();
  });

  it("leaves other jobs' tasks alone, and one run's siblings when a run is named", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const first = host();
    const a = first.runner.submit(durableJob({ taskCount: 2 }));
    const b = first.runner.submit(durableJob({ taskCount: 2 }));
    const other = first.runner.submit(durableJob({ jobId: "other", taskCount: 1 }));
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 5);
    first.kill();
    const stopped = await clock.runUntil(
      host().runner.stopJob({ jobId: "durable1", runId: a.runId }),
    );
    expect(stopped.runIds).toEqual([a.runId]);
    expect(stopped.stoppedTaskArns).toHaveLength(2);
    const left = aws.tasks().filter((t) => t.desiredStatus === "RUNNING");
    expect(
      left.map((t) => t.tags?.find((x) => x.key === "ecs-batch:run-id")?.value).sort(),
    ).toEqual([b.runId, b.runId, other.runId].sort());
  });

  it("refuses a query that cannot name a job", async () => {
    const { clock, host } = world();
    const error = await clock.runUntil(
      host()
        .runner.stopJob({ jobId: "no spaces" })
        .catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(EcsBatchValidationError);
  });
});

/** A world whose RunTask answers take 8 s: a host can die with launches in flight. */
function slowLaunches() {
  return world({ aws: { latency: (_s, action) => (action === "RunTask" ? 8_000 : 0) } });
}

const runTasks = (w: ReturnType<typeof world>): number =>
  w.aws.calls.filter((c) => c.action === "RunTask").length;

/**
 * A host that died just after sending the RunTask of task 0's retry (its first attempt failed
 * after 10 s), with tasks 1 and 2 running: ECS starts the retry's task 8 s later.
 */
async function diedWithRetryInFlight() {
  const w = slowLaunches();
  w.aws.script({}, { runMs: 60 * 60_000 });
  w.aws.script({ taskIndex: 0, attempt: 1 }, { runMs: 10_000, exitCode: 1 });
  const first = w.host();
  first.runner.submit(durableJob({ maxFailCount: 2 }));
  await w.until(() => runTasks(w) === 4);
  first.kill();
  return w;
}

/**
 * A live owner of a one-task run whose task failed after 10 s: nothing runs while the retry
 * waits out `backoff` (its retry, if launched, runs an hour).
 */
async function ownerInBackoff(
  w: ReturnType<typeof world>,
  options: Parameters<ReturnType<typeof world>["host"]>[0],
  backoff: { initial: string; max?: string },
) {
  w.aws.script({}, { runMs: 60 * 60_000 });
  w.aws.script({ taskIndex: 0, attempt: 1 }, { runMs: 10_000, exitCode: 1 });
  const owner = w.host(options);
  const handle = owner.runner.submit(
    durableJob({ taskCount: 1, maxFailCount: 2, retry: { backoff } }),
  );
  await w.until(() => owner.events.some((e) => e.name === "taskFailed"));
  return { owner, handle };
}

describe("stopJob and launches in flight", () => {
  it("stops a retry whose RunTask was in flight when the host died, once ECS starts it", async () => {
    const w = await diedWithRetryInFlight();
    const janitorAt = w.clock.now();
    const stopped = await w.clock.runUntil(w.host().runner.stopJob({ jobId: "durable1" }));
    // Tasks 1 and 2 at the first look; the retry of task 0 when it started, 8 s later.
    expect(stopped.stoppedTaskArns).toHaveLength(3);
    expect(w.clock.now() - janitorAt).toBeGreaterThan(8_000);
    await w.clock.runUntil(w.clock.sleep(60_000));
    w.aws.assert.noUnfinishedTasks();
  });

  it("leaves such a task running with settleMs 0: one look only", async () => {
    const w = await diedWithRetryInFlight();
    const janitorAt = w.clock.now();
    const stopped = await w.clock.runUntil(
      w.host().runner.stopJob({ jobId: "durable1", settleMs: 0 }),
    );
    expect(stopped.stoppedTaskArns).toHaveLength(2);
    expect(w.clock.now()).toBe(janitorAt);
    await w.clock.runUntil(w.clock.sleep(60_000));
    expect(w.aws.tasks().filter((t) => t.desiredStatus === "RUNNING")).toHaveLength(1);
  });

  it("with a store, waits for a run whose first RunTasks were in flight when its host died", async () => {
    const w = slowLaunches();
    w.aws.script({}, { runMs: 60 * 60_000 });
    const store = new MemoryJobStore();
    const first = w.host({ store });
    first.runner.submit(durableJob());
    await w.until(() => runTasks(w) === 3);
    first.kill();
    // ECS shows no task of the run yet; the store's checkpoint says it was running just now.
    const stopped = await w.clock.runUntil(w.host({ store }).runner.stopJob({ jobId: "durable1" }));
    expect(stopped.stoppedTaskArns).toHaveLength(3);
    await w.clock.runUntil(w.clock.sleep(60_000));
    w.aws.assert.noUnfinishedTasks();
  });

  it.each([
    ["", false],
    [", with a store that last heard from it long ago too", true],
  ])("stops a run whose tasks were all created long ago in one look%s", async (_, stored) => {
    const w = world();
    w.aws.script({}, { runMs: 60 * 60_000 });
    const store = stored ? { store: new MemoryJobStore() } : {};
    const first = w.host(store);
    first.runner.submit(durableJob());
    await w.until(() => first.events.filter((e) => e.name === "taskStarted").length === 3);
    await w.clock.runUntil(w.clock.sleep(5 * 60_000));
    first.kill();
    await w.clock.runUntil(w.clock.sleep(5 * 60_000));
    const lists = w.aws.calls.filter((c) => c.action === "ListTasks").length;
    const janitorAt = w.clock.now();
    const stopped = await w.clock.runUntil(w.host(store).runner.stopJob({ jobId: "durable1" }));
    expect(stopped.stoppedTaskArns).toHaveLength(3);
    expect(stopped.unconfirmedRunIds).toEqual([]);
    expect(w.clock.now()).toBe(janitorAt);
    // One listing of the tasks ECS means to run, one of those it stopped.
    expect(w.aws.calls.filter((c) => c.action === "ListTasks").length - lists).toBe(2);
  });

  it("refuses a negative settleMs before any call", async () => {
    const w = world();
    const error = await w.clock.runUntil(
      w
        .host()
        .runner.stopJob({ jobId: "durable1", settleMs: -1 })
        .catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(EcsBatchValidationError);
    expect((error as EcsBatchValidationError).issues[0]?.path).toBe("settleMs");
    expect(w.aws.calls).toEqual([]);
  });
});

describe("a run stopJob stopped", () => {
  it("ends cancelled when a process attaches to it later, launching nothing", async () => {
    const w = world();
    w.aws.script({}, { runMs: 60 * 60_000 });
    w.aws.script({ taskIndex: 0, attempt: 1 }, { runMs: 10_000, exitCode: 1 });
    const store = new MemoryJobStore();
    const job = durableJob({ maxFailCount: 2, retry: { backoff: { initial: "2m", max: "5m" } } });
    const first = w.host({ store });
    const handle = first.runner.submit(job);
    // Task 0 failed and waits out its backoff; tasks 1 and 2 run.
    await w.until(() => first.events.some((e) => e.name === "taskFailed"));
    first.kill();
    await w.clock.runUntil(
      w.host().runner.stopJob({ jobId: "durable1", reason: "host lost", settleMs: 0 }),
    );
    const launched = runTasks(w);
    const result = await w.clock.runUntil(
      w.host({ store }).runner.attach(job, { runId: handle.runId, waitForLease: 60_000 }).result,
    );
    expect(result.status).toBe("cancelled");
    expect(result.error).toMatchObject({
      code: "CANCELLED",
      message: "job durable1 was cancelled: stopped by stopJob: host lost",
    });
    expect(runTasks(w)).toBe(launched);
    w.aws.assert.noUnfinishedTasks();
  });

  it("with a store, ends cancelled on attach even when no task of it was running to stop", async () => {
    const w = world();
    w.aws.script({ taskIndex: 0, attempt: 1 }, { runMs: 10_000, exitCode: 1 });
    const store = new MemoryJobStore();
    const job = durableJob({
      taskCount: 1,
      maxFailCount: 2,
      retry: { backoff: { initial: "2m", max: "5m" } },
    });
    const first = w.host({ store });
    const handle = first.runner.submit(job);
    // The run's one task failed; its retry waits out a 2-minute backoff.
    await w.until(() => first.events.some((e) => e.name === "taskFailed"));
    first.kill();
    const stopped = await w.clock.runUntil(
      w.host({ store }).runner.stopJob({ jobId: "durable1", reason: "host lost" }),
    );
    expect(stopped.stoppedTaskArns).toEqual([]);
    const launched = runTasks(w);
    const result = await w.clock.runUntil(
      w.host({ store }).runner.attach(job, { runId: handle.runId }).result,
    );
    expect(result.status).toBe("cancelled");
    expect(result.error?.message).toBe("job durable1 was cancelled: stopped by stopJob: host lost");
    expect(runTasks(w)).toBe(launched);
  });

  it("is stopped by its owner too when the owner is alive after all", async () => {
    const w = world();
    w.aws.script({}, { runMs: 60 * 60_000 });
    w.aws.script({ taskIndex: 0, attempt: 1 }, { runMs: 10_000, exitCode: 1 });
    const owner = w.host();
    const handle = owner.runner.submit(
      durableJob({ maxFailCount: 2, retry: { backoff: { initial: "2m", max: "5m" } } }),
    );
    await w.until(() => owner.events.some((e) => e.name === "taskFailed"));
    await w.clock.runUntil(w.host().runner.stopJob({ jobId: "durable1", settleMs: 0 }));
    const result = await w.clock.runUntil(handle.result);
    expect(result.status).toBe("cancelled");
    expect(result.error?.message).toBe("job durable1 was cancelled: stopped by stopJob");
    // Task 0's retry, due after its backoff, was never launched.
    expect(runTasks(w)).toBe(3);
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped", "stopped"]);
  });

  it("with a store, is stopped when its live owner had no task running: its retry is stopped as it starts", async () => {
    const w = world();
    const store = new MemoryJobStore();
    // The owner holds the lease and waits out the retry's backoff.
    const { handle } = await ownerInBackoff(w, { store }, { initial: "1m" });
    const stopped = await w.clock.runUntil(
      w.host({ store }).runner.stopJob({ jobId: "durable1", reason: "not wanted" }),
    );
    expect(stopped.runIds).toEqual([handle.runId]);
    expect(stopped.unconfirmedRunIds).toEqual([]);
    const result = await w.clock.runUntil(handle.result);
    expect(result.status).toBe("cancelled");
    expect(result.error?.message).toBe(
      "job durable1 was cancelled: stopped by stopJob: not wanted",
    );
    expect(runTasks(w)).toBe(2);
    w.aws.assert.noUnfinishedTasks();
  });

  it("without a store, is stopped when its live owner had no task running: a task that just failed may be retried", async () => {
    const w = world();
    const { handle } = await ownerInBackoff(w, {}, { initial: "1m" });
    const stopped = await w.clock.runUntil(w.host().runner.stopJob({ jobId: "durable1" }));
    expect(stopped.stoppedTaskArns).toHaveLength(1);
    const result = await w.clock.runUntil(handle.result);
    expect(result.status).toBe("cancelled");
    expect(runTasks(w)).toBe(2);
    w.aws.assert.noUnfinishedTasks();
  });

  it.each([
    ["", false],
    [", with a store: its lease stays its own", true],
  ])("is cancelled at once when the runner driving it is the one asked%s", async (_, stored) => {
    const w = world();
    const { owner, handle } = await ownerInBackoff(
      w,
      stored ? { store: new MemoryJobStore() } : {},
      { initial: "5m", max: "5m" },
    );
    const stopped = await w.clock.runUntil(
      owner.runner.stopJob({ jobId: "durable1", reason: "not wanted", settleMs: 0 }),
    );
    expect(stopped.unconfirmedRunIds).toEqual([]);
    const result = await w.clock.runUntil(handle.result);
    expect(result.status).toBe("cancelled");
    expect(result.error?.message).toBe(
      "job durable1 was cancelled: stopped by stopJob: not wanted",
    );
    // The retry, due after its backoff, was never launched.
    expect(runTasks(w)).toBe(1);
    w.aws.assert.noUnfinishedTasks();
  });

  it("names a run whose lease stays held, and whose cancel it could not record, as unconfirmed", async () => {
    const w = world();
    w.aws.script({}, { runMs: 60 * 60_000 });
    const store = new MemoryJobStore();
    const first = w.host({ store });
    const handle = first.runner.submit(durableJob({ taskCount: 1 }));
    await w.until(() => first.events.some((e) => e.name === "taskStarted"));
    first.kill();
    await w.clock.runUntil(w.clock.sleep(5 * 60_000));
    // Another process took the run up and holds it, yet launches and ends nothing.
    const key = { jobId: "durable1", runId: handle.runId };
    await store.acquire(key, "elsewhere:1:abc", 60 * 60_000, w.clock.now());
    const logger = memoryLogger();
    const janitorAt = w.clock.now();
    const stopped = await w.clock.runUntil(
      w.host({ store, logger }).runner.stopJob({ jobId: "durable1" }),
    );
    expect(stopped.stoppedTaskArns).toHaveLength(1);
    expect(stopped.unconfirmedRunIds).toEqual([handle.runId]);
    expect(w.clock.now() - janitorAt).toBe(3 * 60_000);
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        level: "info",
        meta: expect.objectContaining({ runIds: [handle.runId] }) as unknown,
      }),
    );
    expect(logger.lines).toContainEqual(
      expect.objectContaining({ level: "warn", meta: { jobId: "durable1", runId: handle.runId } }),
    );
  });
});

describe("describeJob", () => {
  it("reports each run's tasks from ECS, newest run first, and the store's checkpoint", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const store = new MemoryJobStore();
    const first = host({ store });
    await clock.runUntil(first.runner.run(durableJob({ taskCount: 1 }), { runId: "a-older" }));
    aws.script({}, { runMs: 60 * 60_000 });
    first.runner.submit(durableJob({ taskCount: 2 }), { runId: "b-newer" });
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 3);
    const seen = await clock.runUntil(host({ store }).runner.describeJob({ jobId: "durable1" }));
    expect(seen.runs.map((r) => r.runId)).toEqual(["b-newer", "a-older"]);
    expect(seen.runs[0]?.tasks.map((t) => [t.taskIndex, t.attempt, t.lastStatus])).toEqual([
      [0, 1, "PROVISIONING"],
      [1, 1, "PROVISIONING"],
    ]);
    expect(seen.runs[0]?.checkpoint?.state).toBe("running");
    expect(seen.runs[1]?.checkpoint).toMatchObject({ state: "finished" });
  });
});
