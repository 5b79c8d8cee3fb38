/**
 * The recipes of docs/durability.md, played on the simulator: what they rely on from `list`,
 * `attach` and `run` holds.
 */
import { describe, expect, it } from "vitest";
import {
  MemoryJobStore,
  type BatchJobInput,
  type EcsBatchRunner,
  type JobResult,
  type JobStore,
} from "../../src/index.js";
import { durableJob, world } from "./harness.js";

/** The Prefect recipe's `runOnce`, as the doc writes it. */
async function runOnce(
  runner: EcsBatchRunner,
  store: JobStore,
  job: BatchJobInput,
): Promise<JobResult> {
  const runs = await store.list(String(job.jobId));
  const latest = runs.sort((a, b) => b.startedAt - a.startedAt)[0];
  if (latest !== undefined) {
    const result = await runner.attach(job, { runId: latest.runId }).result;
    if (latest.state === "running" || result.status === "succeeded") return result;
  }
  return runner.run(job);
}

describe("the Prefect recipe (runOnce)", () => {
  it("a retry after a failed run starts a new run; one after a success launches nothing", async () => {
    const { aws, clock, host } = world();
    aws.script({}, { runMs: 60_000 });
    // Task 1 fails in the first run only.
    aws.script({ taskIndex: 1, attempt: 1 }, { exitCode: 2, runMs: 10_000 }, { times: 1 });
    const store = new MemoryJobStore();
    const job = durableJob({ maxFailCount: 0 });
    const worker = host({ store });
    const failed = await clock.runUntil(runOnce(worker.runner, store, job));
    expect(failed.status).toBe("failed");
    // The task's retry in the flow: a second run, whose task 1 now succeeds.
    const retried = await clock.runUntil(runOnce(worker.runner, store, job));
    expect(retried.status).toBe("succeeded");
    expect(retried.runId).not.toBe(failed.runId);
    expect(aws.count("RunTask")).toBe(6);
    // Once more (the flow run retried after it recorded nothing): the success, nothing launched.
    const again = await clock.runUntil(runOnce(host({ store }).runner, store, job));
    expect(again).toMatchObject({ status: "succeeded", runId: retried.runId });
    expect(aws.count("RunTask")).toBe(6);
  });

  it("a retry after the worker died carries the run on: no second run", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 10 * 60_000 });
    const store = new MemoryJobStore();
    const job = durableJob();
    const dying = host({ store });
    void runOnce(dying.runner, store, job);
    await until(() => dying.events.filter((e) => e.name === "taskStarted").length === 3);
    dying.kill();
    await clock.runUntil(clock.sleep(20_000));
    const result = await clock.runUntil(runOnce(host({ store }).runner, store, job));
    expect(result.status).toBe("succeeded");
    expect(aws.count("RunTask")).toBe(3);
    expect(await store.list("durable1")).toHaveLength(1);
    aws.assert.noUnfinishedTasks();
  });
});
