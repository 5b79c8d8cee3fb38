/**
 * Handing a run over (`handle.detach()`, `runner.close({ jobs: "detach" })`): a worker that is
 * being replaced lets go of its runs without stopping them, and its successor attaches at once
 * and finishes each as if nothing had happened.
 */
import { describe, expect, it } from "vitest";
import {
  EcsBatchDetachedError,
  MemoryJobStore,
  type EcsBatchRunnerOptions,
} from "../../src/index.js";
import { durableJob, world } from "./harness.js";

/** Retries after a minute: a slot sits in its backoff when the run is handed over. */
const minuteRetries: Partial<EcsBatchRunnerOptions> = {
  retryPolicy: {
    shouldRetry: (f, c) => (f.kind === "exit" ? c.applicationFailures <= c.maxFailCount : true),
    delay: () => 60_000,
  },
};

/** Three ten-minute tasks; task 0's first attempt exits 1 after ten seconds. */
function scenario(options: { store?: boolean } = {}) {
  const w = world();
  w.aws.script({}, { runMs: 10 * 60_000 });
  w.aws.script({ taskIndex: 0, attempt: 1 }, { exitCode: 1, runMs: 10_000 });
  const store = options.store === false ? {} : { store: new MemoryJobStore() };
  return {
    ...w,
    runnerOptions: { ...minuteRetries, ...store },
    job: durableJob({ maxFailCount: 2 }),
  };
}

const summary = (tasks: readonly { status: string; attempts: number }[]) =>
  tasks.map((t) => [t.status, t.attempts]);

describe("handing a run over", () => {
  it("lets go mid-run without stopping anything; the successor attaches at once and finishes it as if uninterrupted", async () => {
    const reference = scenario();
    const alone = reference.host(reference.runnerOptions);
    const uninterrupted = await reference.clock.runUntil(alone.runner.run(reference.job));

    const { aws, clock, host, until, runnerOptions, job } = scenario();
    const first = host(runnerOptions);
    const handle = first.runner.submit(job);
    await until(() => first.events.some((e) => e.name === "retried"));
    await clock.runUntil(handle.detach());
    const error = await handle.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchDetachedError);
    expect(error).toMatchObject({ code: "DETACHED", jobId: "durable1", runId: handle.runId });
    expect(aws.count("StopTask")).toBe(0);
    expect(aws.tasks().filter((t) => t.desiredStatus === "RUNNING")).toHaveLength(2);
    // The process that let go is silent from now on: no poll, no launch, no retry.
    const calls = aws.calls.length;
    await clock.runUntil(clock.sleep(30_000));
    expect(aws.calls).toHaveLength(calls);

    // The lease was given back: no wait for it to lapse.
    const second = host(runnerOptions);
    const result = await clock.runUntil(second.runner.attach(job, { runId: handle.runId }).result);
    expect(result.status).toBe("succeeded");
    expect(summary(result.tasks)).toEqual(summary(uninterrupted.tasks));
    expect(result.failedTaskArns).toHaveLength(1);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });

  it("with launches in flight: the successor settles them by their tokens, launching nothing twice", async () => {
    const { aws, clock, host, until } = world({
      aws: { latency: (_service, action) => (action === "RunTask" ? 20_000 : 0) },
    });
    aws.script({}, { runMs: 60_000 });
    const store = new MemoryJobStore();
    const job = durableJob({ taskCount: 3 });
    const first = host({ store });
    const handle = first.runner.submit(job);
    await until(() => aws.count("RunTask") === 3);
    await clock.runUntil(handle.detach());
    await expect(handle.result).rejects.toMatchObject({ code: "DETACHED" });
    const result = await clock.runUntil(
      host({ store }).runner.attach(job, { runId: handle.runId }).result,
    );
    expect(result.status).toBe("succeeded");
    expect(result.tasks.map((t) => t.attempts)).toEqual([1, 1, 1]);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });

  it("before the first launch: nothing is launched, and the successor runs the whole job", async () => {
    const { aws, clock, host, runnerOptions, job } = scenario();
    const first = host(runnerOptions);
    const handle = first.runner.submit(job);
    const detached = handle.detach();
    const error = await clock.runUntil(handle.result.catch((e: unknown) => e));
    await detached;
    expect(error).toBeInstanceOf(EcsBatchDetachedError);
    expect((error as Error).message).toContain("before its first launch");
    expect(aws.count("RunTask")).toBe(0);
    const result = await clock.runUntil(
      host(runnerOptions).runner.attach(job, { runId: handle.runId }).result,
    );
    expect(result.status).toBe("succeeded");
    expect(summary(result.tasks)).toEqual([
      ["succeeded", 2],
      ["succeeded", 1],
      ["succeeded", 1],
    ]);
  });

  it("close({ jobs: 'detach' }) hands over every run; the successor carries each on", async () => {
    const { aws, clock, host, until, runnerOptions } = scenario();
    const first = host(runnerOptions);
    const jobs = [durableJob({ jobId: "one" }), durableJob({ jobId: "two", taskCount: 2 })];
    const handles = jobs.map((job) => first.runner.submit(job));
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 5);
    await clock.runUntil(first.runner.close({ jobs: "detach" }));
    for (const handle of handles) {
      await expect(handle.result).rejects.toMatchObject({ code: "DETACHED" });
    }
    expect(aws.count("StopTask")).toBe(0);
    const second = host(runnerOptions);
    const results = await clock.runUntil(
      Promise.all(
        jobs.map((job, i) => second.runner.attach(job, { runId: handles[i]?.runId }).result),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(["succeeded", "succeeded"]);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });

  it("without a store, the successor carries the run on from ECS alone", async () => {
    const { aws, clock, host, until, runnerOptions, job } = scenario({ store: false });
    const first = host(runnerOptions);
    const handle = first.runner.submit(job);
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 3);
    await clock.runUntil(handle.detach());
    await expect(handle.result).rejects.toMatchObject({ code: "DETACHED" });
    const result = await clock.runUntil(
      host(runnerOptions).runner.attach(job, { runId: handle.runId }).result,
    );
    expect(result.status).toBe("succeeded");
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });

  it("an attach still waiting for another process's lease stops waiting at once; that process drives on", async () => {
    const { aws, clock, host, until, runnerOptions, job } = scenario();
    const owner = host(runnerOptions);
    const driven = owner.runner.submit(job);
    await until(() => owner.events.filter((e) => e.name === "taskStarted").length === 3);
    const waiting = host(runnerOptions).runner.attach(job, {
      runId: driven.runId,
      waitForLease: 3_600_000,
    });
    await clock.runUntil(clock.sleep(10_000));
    const startedAt = clock.now();
    await clock.runUntil(waiting.detach());
    // Within the second the wait sleeps at most, not after the hour it could have waited.
    expect(clock.now() - startedAt).toBeLessThanOrEqual(1_000);
    const error = await waiting.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchDetachedError);
    expect((error as Error).message).toContain("while this process waited for its lease");
    const result = await clock.runUntil(driven.result);
    expect(result.status).toBe("succeeded");
    aws.assert.noDuplicateTasks();
  });

  it("a job that already ended is left as it was", async () => {
    const { clock, host, runnerOptions, job } = scenario();
    const handle = host(runnerOptions).runner.submit(job);
    const result = await clock.runUntil(handle.result);
    await handle.detach();
    await expect(handle.result).resolves.toBe(result);
  });

  it("close refuses an unknown way to end the jobs", async () => {
    const { host } = world();
    const runner = host().runner;
    await expect(
      runner.close({ jobs: "abandon" } as unknown as { jobs: "detach" }),
    ).rejects.toMatchObject({ code: "VALIDATION" });
  });
});
