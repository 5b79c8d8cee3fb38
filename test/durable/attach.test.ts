/**
 * Durable runs (DESIGN 3.11): a host dies (its runner, timers and all), a fresh one attaches,
 * and the run carries on where it was: nothing launched twice, nothing left running, budgets
 * as if no crash happened, the original deadline kept.
 */
import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import {
  EcsBatchCheckpointError,
  EcsBatchLeaseError,
  EcsBatchSetupError,
  EcsBatchValidationError,
  MemoryJobStore,
} from "../../src/index.js";
import { durableJob, world } from "./harness.js";

describe("attach with a store", () => {
  it("carries a run on after its host died mid-run: nothing twice, nothing left running", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 10 * 60_000 });
    const store = new MemoryJobStore();
    const first = host({ store });
    const handle = first.runner.submit(durableJob());
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 3);
    await until(() => false, 60_000);
    first.kill();
    // Its lease lapses three poll intervals after its last renewal.
    await clock.runUntil(clock.sleep(15_000));
    const second = host({ store });
    const attached = second.runner.attach(durableJob());
    const result = await clock.runUntil(attached.result);
    expect(attached.runId).toBe(handle.runId);
    expect(result.status).toBe("succeeded");
    expect(result.runId).toBe(handle.runId);
    expect(result.tasks.map((t) => [t.status, t.attempts])).toEqual([
      ["succeeded", 1],
      ["succeeded", 1],
      ["succeeded", 1],
    ]);
    expect(aws.count("RunTask")).toBe(3);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });
});

describe("crash points", () => {
  it("mid-launch of a 1,000-task job with lost RunTask answers: each task once, all finished", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60_000 });
    aws.inject({
      action: "RunTask",
      error: "ServerException",
      afterProcessing: true,
      probability: 0.2,
    });
    const store = new MemoryJobStore();
    const first = host({ store });
    first.runner.submit(durableJob({ taskCount: 1000, pollInterval: "10s" }));
    await until(() => aws.taskHistory.length >= 300);
    first.kill();
    await clock.runUntil(clock.sleep(30_000));
    const second = host({ store });
    const result = await clock.runUntil(
      second.runner.attach(durableJob({ taskCount: 1000, pollInterval: "10s" })).result,
    );
    expect(result.status).toBe("succeeded");
    expect(result.tasks.every((t) => t.attempts === 1)).toBe(true);
    expect(aws.taskHistory).toHaveLength(1000);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });

  it("during a backoff: the budget already spent stays spent", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    aws.script({ taskIndex: 0 }, { exitCode: 1, runMs: 10_000 });
    const store = new MemoryJobStore();
    const job = durableJob({ maxFailCount: 1, retry: { backoff: { initial: "10m", max: "10m" } } });
    const first = host({
      store,
      retryPolicy: {
        shouldRetry: (f, c) => (f.kind === "exit" ? c.applicationFailures <= c.maxFailCount : true),
        delay: () => 600_000,
      },
    });
    first.runner.submit(job);
    await until(() => first.events.some((e) => e.name === "retried"));
    await clock.runUntil(clock.sleep(60_000));
    first.kill();
    await clock.runUntil(clock.sleep(30_000));
    const second = host({ store });
    const result = await clock.runUntil(second.runner.attach(job).result);
    // Attempt 2 fails too: with maxFailCount 1 that exhausts the slot (no attempt 3).
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("TASK_FAILED");
    expect(result.tasks[0]).toMatchObject({ status: "failed", attempts: 2 });
    expect(result.tasks[0]?.failedTaskArns).toHaveLength(2);
    const slot0 = aws
      .inputs<RunTaskCommandInput>("RunTask")
      .filter((i) => i.startedBy?.endsWith("-0"));
    expect(new Set(slot0.map((i) => i.clientToken)).size).toBe(2);
    // The retry waited out the rest of its backoff: 10 minutes after attempt 1 failed.
    const [attempt1, attempt2] = aws
      .callsTo("RunTask")
      .filter((c) => c.input.startedBy === slot0[0]?.startedBy);
    const failed = aws.taskHistory[0]!.createdAt + 10_000;
    expect(attempt1).toBeDefined();
    expect(attempt2!.at).toBeGreaterThanOrEqual(failed + 600_000 - 5000);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });

  it("while a sibling stop is in flight: the run still stops every task and fails", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    aws.script({ taskIndex: 1 }, { exitCode: 3, runMs: 20_000 });
    aws.setLatency((_service, action) => (action === "StopTask" ? 20_000 : 0));
    const store = new MemoryJobStore();
    const job = durableJob({ maxFailCount: 0 });
    const first = host({ store });
    first.runner.submit(job);
    await until(() => aws.count("StopTask") >= 1);
    first.kill();
    aws.setLatency(0);
    await clock.runUntil(clock.sleep(30_000));
    const second = host({ store });
    const result = await clock.runUntil(second.runner.attach(job).result);
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("TASK_FAILED");
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "failed", "stopped"]);
    aws.assert.noUnfinishedTasks();
    aws.assert.noDuplicateTasks();
  });

  it("after the deadline passed: the run times out at once, its original deadline kept", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const store = new MemoryJobStore();
    const job = durableJob({ timeout: "10m" });
    const first = host({ store });
    const started = clock.now();
    first.runner.submit(job);
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 3);
    await clock.runUntil(clock.sleep(5 * 60_000));
    first.kill();
    await clock.runUntil(clock.sleep(15 * 60_000));
    const second = host({ store });
    const attachedAt = clock.now();
    const result = await clock.runUntil(second.runner.attach(job).result);
    expect(result.status).toBe("timedOut");
    expect(result.startedAt.getTime()).toBe(started);
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped", "stopped"]);
    expect(aws.callsTo("StopTask").every((c) => c.at >= attachedAt)).toBe(true);
    expect(second.events.some((e) => e.name === "timedOut")).toBe(true);
    aws.assert.noUnfinishedTasks();
  });

  it("between a task's STOPPED and its checkpoint: the stop is read again from ECS", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    aws.script({ taskIndex: 2 }, { runMs: 30_000 });
    const store = new MemoryJobStore();
    const first = host({ store });
    first.runner.submit(durableJob());
    await until(() => first.events.some((e) => e.name === "taskSucceeded"));
    first.kill();
    await clock.runUntil(clock.sleep(15_000));
    aws.script({}, { runMs: 60_000 });
    const second = host({ store });
    const result = await clock.runUntil(second.runner.attach(durableJob()).result);
    expect(result.status).toBe("succeeded");
    expect(result.tasks[2]).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(aws.count("RunTask")).toBe(3);
  });
});

describe("the lease", () => {
  it("a run driven by a live host cannot be attached: the error names the owner and the expiry", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 10 * 60_000 });
    const store = new MemoryJobStore();
    const first = host({ store, owner: "worker-a" });
    first.runner.submit(durableJob());
    await until(() => first.events.some((e) => e.name === "taskStarted"));
    const second = host({ store, owner: "worker-b" });
    const error = await clock.runUntil(
      second.runner.attach(durableJob()).result.catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(EcsBatchLeaseError);
    expect(error).toMatchObject({ code: "LEASE_HELD", owner: "worker-a" });
    expect((error as EcsBatchLeaseError).expiresAt).toBeGreaterThan(clock.now());
    expect((error as Error).message).toContain("worker-a");
  });

  it.each([
    ["with a store", true],
    ["from ECS alone", false],
  ])(
    "an attach on the runner that drives the run is refused (%s): the run goes on under its own handle",
    async (_, stored) => {
      const { aws, clock, host, until } = world();
      aws.script({}, { runMs: 10 * 60_000 });
      const owner = host(stored ? { store: new MemoryJobStore() } : {});
      const handle = owner.runner.submit(durableJob());
      await until(() => owner.events.filter((e) => e.name === "taskStarted").length === 3);
      const error = await clock.runUntil(
        owner.runner.attach(durableJob()).result.catch((e: unknown) => e),
      );
      expect(error).toBeInstanceOf(EcsBatchSetupError);
      expect(error).toMatchObject({ code: "RUN_IN_PROGRESS" });
      expect((error as Error).message).toContain(handle.runId);
      const result = await clock.runUntil(handle.result);
      expect(result.status).toBe("succeeded");
      expect(aws.count("RunTask")).toBe(3);
      // Once the run has ended here, attaching to it again is allowed: its result as it ended.
      if (stored) {
        const again = await clock.runUntil(owner.runner.attach(durableJob()).result);
        expect(again).toMatchObject({ status: "succeeded", finishedAt: result.finishedAt });
      }
    },
  );

  it("a second submit under the run id of a run this runner drives is refused, with no store too", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 10 * 60_000 });
    const owner = host();
    owner.runner.submit(durableJob(), { runId: "nightly" });
    await until(() => owner.events.some((e) => e.name === "taskStarted"));
    const error = await clock.runUntil(
      owner.runner.submit(durableJob(), { runId: "nightly" }).result.catch((e: unknown) => e),
    );
    expect(error).toMatchObject({ code: "RUN_IN_PROGRESS" });
    expect(aws.count("RunTask")).toBe(3);
  });

  it("two hosts attaching at once: exactly one drives the run", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 10 * 60_000 });
    const store = new MemoryJobStore();
    const first = host({ store });
    first.runner.submit(durableJob());
    await until(() => first.events.some((e) => e.name === "taskStarted"));
    first.kill();
    await clock.runUntil(clock.sleep(15_000));
    const b = host({ store, owner: "worker-b" });
    const c = host({ store, owner: "worker-c" });
    const outcomes = await clock.runUntil(
      Promise.allSettled([
        b.runner.attach(durableJob()).result,
        c.runner.attach(durableJob()).result,
      ]),
    );
    const won = outcomes.filter((o) => o.status === "fulfilled");
    const lost = outcomes.filter((o) => o.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({ code: "LEASE_HELD" });
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });
});

describe("what attach refuses or returns as it is", () => {
  it("a finished run: its result again, nothing launched", async () => {
    const { aws, clock, host } = world();
    const store = new MemoryJobStore();
    const first = host({ store });
    const done = await clock.runUntil(first.runner.run(durableJob()));
    const calls = aws.count("RunTask");
    const again = await clock.runUntil(host({ store }).runner.attach(durableJob()).result);
    expect(again).toMatchObject({
      status: done.status,
      runId: done.runId,
      finishedAt: done.finishedAt,
      tasks: done.tasks,
    });
    expect(aws.count("RunTask")).toBe(calls);
  });

  it("a run that finished while the attach waited for its lease: its result as it ended, no write", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60_000 });
    const store = new MemoryJobStore();
    const first = host({ store });
    const handle = first.runner.submit(durableJob({ taskCount: 1 }));
    await until(() => first.events.some((e) => e.name === "taskStarted"));
    const attached = host({ store }).runner.attach(durableJob({ taskCount: 1 }), {
      waitForLease: 10 * 60_000,
    }).result;
    const ended = handle.result.then(async (result) => ({
      result,
      saved: await store.load({ jobId: "durable1", runId: result.runId }),
    }));
    const [{ result: done, saved }, again] = await clock.runUntil(Promise.all([ended, attached]));
    expect(saved).toContain('"state":"finished"');
    expect(again).toMatchObject({
      status: "succeeded",
      runId: done.runId,
      finishedAt: done.finishedAt,
      tasks: done.tasks,
    });
    // The attach wrote nothing: the checkpoint is the one the run's own host ended with.
    expect(await store.load({ jobId: "durable1", runId: done.runId })).toBe(saved);
    expect(aws.count("RunTask")).toBe(1);
  });

  it("a different job input: a validation error naming what differs", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 10 * 60_000 });
    const store = new MemoryJobStore();
    const first = host({ store });
    first.runner.submit(durableJob());
    await until(() => first.events.some((e) => e.name === "taskStarted"));
    first.kill();
    await clock.runUntil(clock.sleep(15_000));
    const error = await clock.runUntil(
      host({ store })
        .runner.attach(durableJob({ taskCount: 4 }))
        .result.catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(EcsBatchValidationError);
    expect((error as EcsBatchValidationError).issues.map((i) => i.path)).toEqual(["taskCount"]);
  });

  it("a corrupt or newer checkpoint: a typed error, never a fresh start", async () => {
    const { aws, clock, host } = world();
    const store = new MemoryJobStore();
    const lease = await store.acquire({ jobId: "durable1", runId: "r1" }, "me", 1000, clock.now());
    await store.save({ jobId: "durable1", runId: "r1" }, '{"version": 1, "startedAt": 5', lease);
    const corrupt = await clock.runUntil(
      host({ store })
        .runner.attach(durableJob(), { runId: "r1" })
        .result.catch((e: unknown) => e),
    );
    expect(corrupt).toBeInstanceOf(EcsBatchCheckpointError);
    expect(corrupt).toMatchObject({ code: "CHECKPOINT_INVALID" });
    await store.save({ jobId: "durable1", runId: "r1" }, '{"version": 99, "startedAt": 5}', lease);
    const newer = await clock.runUntil(
      host({ store })
        .runner.attach(durableJob(), { runId: "r1" })
        .result.catch((e: unknown) => e),
    );
    expect(newer).toMatchObject({ code: "CHECKPOINT_VERSION" });
    expect(aws.count("RunTask")).toBe(0);
  });

  it("no run anywhere: a setup error", async () => {
    const { clock, host } = world();
    const error = await clock.runUntil(
      host()
        .runner.attach(durableJob())
        .result.catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "RUN_NOT_FOUND" });
  });
});

describe("attach without a store: from ECS alone", () => {
  it("finds the run's tasks by family and tags, and counts the attempts it sees", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 30 * 60_000 });
    aws.script({ taskIndex: 1, attempt: 1 }, { exitCode: 2, runMs: 10_000 });
    const first = host();
    const handle = first.runner.submit(durableJob({ maxFailCount: 2 }));
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 4);
    first.kill();
    const second = host();
    const attached = second.runner.attach(durableJob({ maxFailCount: 2 }));
    const result = await clock.runUntil(attached.result);
    expect(result.runId).toBe(handle.runId);
    expect(result.status).toBe("succeeded");
    expect(result.tasks[1]).toMatchObject({ attempts: 2, status: "succeeded" });
    expect(result.tasks[1]?.failedTaskArns).toHaveLength(1);
    expect(aws.taskHistory).toHaveLength(4);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });
});

describe("the checkpoint lags the run", () => {
  it("attempts launched after the last checkpoint are taken up from ECS, not sent again", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 30 * 60_000 });
    aws.script({ taskIndex: 0, attempt: 1 }, { exitCode: 1, runMs: 10_000 });
    const store = new MemoryJobStore();
    // A long poll interval: the checkpoint written at the start is the only one before the crash.
    const job = durableJob({ pollInterval: "10m", maxFailCount: 2, timeout: "3h" });
    const first = host({
      store,
      retryPolicy: { shouldRetry: () => true, delay: () => 0 },
    });
    first.runner.submit(job);
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 4);
    first.kill();
    expect(aws.count("RunTask")).toBe(4);
    await clock.runUntil(clock.sleep(31 * 60_000));
    const second = host({ store });
    const result = await clock.runUntil(second.runner.attach(job).result);
    expect(result.status).toBe("succeeded");
    expect(result.tasks[0]).toMatchObject({ status: "succeeded", attempts: 2 });
    expect(result.tasks[0]?.failedTaskArns).toHaveLength(1);
    // Every task was watched, none sent again.
    expect(aws.count("RunTask")).toBe(4);
    aws.assert.noDuplicateTasks();
  });
});

describe("a run id names one run", () => {
  it("a run submitted again under the id of one that finished is refused: its checkpoint and result stay", async () => {
    const { aws, clock, host } = world();
    aws.script({}, { runMs: 60_000 });
    const store = new MemoryJobStore();
    const first = host({ store });
    const done = await clock.runUntil(first.runner.submit(durableJob(), { runId: "r1" }).result);
    expect(done.status).toBe("succeeded");
    const saved = await store.load({ jobId: "durable1", runId: "r1" });
    const calls = aws.calls.length;

    const again = host({ store }).runner.submit(durableJob(), { runId: "r1" });
    const error = await clock.runUntil(again.result.catch((e: unknown) => e));
    // Refused before any AWS call: the run id the caller chose is looked up first.
    expect(aws.calls).toHaveLength(calls);
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "RUN_EXISTS" });
    expect((error as Error).message).toContain("run r1 of job durable1 already exists");
    expect((error as Error).message).toContain("finished");
    expect((error as Error).message).toContain("attach");
    expect(aws.count("RunTask")).toBe(3);
    expect(await store.load({ jobId: "durable1", runId: "r1" })).toBe(saved);
    // The run is still there to attach to: its result, nothing launched.
    const result = await clock.runUntil(
      host({ store }).runner.attach(durableJob(), { runId: "r1" }).result,
    );
    expect(result).toMatchObject({ status: "succeeded", runId: "r1" });
    expect(aws.count("RunTask")).toBe(3);
  });

  it("a run whose host died is not started afresh under its id: attach carries it on", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 10 * 60_000 });
    const store = new MemoryJobStore();
    const first = host({ store });
    first.runner.submit(durableJob(), { runId: "r2" });
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 3);
    first.kill();
    // The dead host's lease lapses: a fresh start would have taken it and written over the run.
    await clock.runUntil(clock.sleep(30_000));

    const again = host({ store }).runner.submit(durableJob(), { runId: "r2" });
    const error = await clock.runUntil(again.result.catch((e: unknown) => e));
    expect(error).toMatchObject({ code: "RUN_EXISTS" });
    expect((error as Error).message).toContain("running");
    expect(aws.count("RunTask")).toBe(3);

    // Refused, it gave the lease back: an attach takes the run at once.
    const result = await clock.runUntil(
      host({ store }).runner.attach(durableJob(), { runId: "r2" }).result,
    );
    expect(result.status).toBe("succeeded");
    expect(result.tasks.map((t) => t.attempts)).toEqual([1, 1, 1]);
    expect(aws.count("RunTask")).toBe(3);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });
});
