/**
 * A RunTask the previous process sent and never saw answered, taken up by the process that
 * attaches while the run is stopping: ECS may start that task after the attach, so the
 * successor keeps looking for it (for the stop watch's length) and stops it when it appears,
 * rather than give the slot up at once and leave the task running unwatched. Found by
 * `FC_SEED=53 FC_RUNS=300 npx vitest run test/durable/properties.test.ts`.
 */
import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { MemoryJobStore } from "../../src/index.js";
import { durableJob, world } from "./harness.js";

/** One ten-minute task whose RunTask takes 8 s to answer (ECS starts it when the answer leaves). */
function slowLaunch() {
  const w = world({ aws: { latency: (_s, action) => (action === "RunTask" ? 8_000 : 0) } });
  w.aws.script({}, { runMs: 10 * 60_000 });
  const store = new MemoryJobStore();
  const job = durableJob({ taskCount: 1 });
  const first = w.host({ store });
  const handle = first.runner.submit(job);
  return { ...w, store, job, first, handle };
}

describe("a RunTask in flight when the run changes hands", () => {
  it("cancelled, then handed over before ECS answered: the successor stops the task when it appears", async () => {
    const { aws, clock, host, until, store, job, handle } = slowLaunch();
    await until(() => aws.count("RunTask") === 1);
    handle.cancel("drawn cancel");
    await clock.runUntil(handle.detach());
    expect(aws.tasks()).toHaveLength(0);

    const second = host({ store });
    const result = await clock.runUntil(second.runner.attach(job, { runId: handle.runId }).result);
    // Whatever ECS still does with the first host's request, it has done a few minutes on.
    await clock.runUntil(clock.sleep(5 * 60_000));
    expect(result.status).toBe("cancelled");
    expect(aws.count("RunTask")).toBe(1);
    expect(aws.tasks()).toHaveLength(1);
    aws.assert.noUnfinishedTasks();
    expect(result.tasks[0]?.taskArn).toBe(aws.tasks()[0]?.taskArn);
  });

  it("handed over, then the successor cancelled before it sent the RunTask again: it stops the task when it appears", async () => {
    const { aws, clock, host, until, store, job, handle } = slowLaunch();
    await until(() => aws.count("RunTask") === 1);
    await clock.runUntil(handle.detach());

    const second = host({ store });
    const attached = second.runner.attach(job, { runId: handle.runId });
    attached.cancel("cancelled at once");
    const result = await clock.runUntil(attached.result);
    await clock.runUntil(clock.sleep(5 * 60_000));
    expect(result.status).toBe("cancelled");
    expect(aws.count("RunTask")).toBe(1);
    expect(aws.tasks()).toHaveLength(1);
    aws.assert.noUnfinishedTasks();
    aws.assert.noDuplicateTasks();
  });
});

/** Tasks of an hour whose RunTask takes 30 s to answer: a host can die with launches in flight. */
function hourLongTasksSlowlyLaunched() {
  const w = world({ aws: { latency: (_s, action) => (action === "RunTask" ? 30_000 : 0) } });
  w.aws.script({}, { runMs: 60 * 60_000 });
  return w;
}

/** Submits `job`; once its third RunTask is sent, cancels it, and the host dies `ms` later. */
async function cancelledAtThirdRunTask(
  w: ReturnType<typeof world>,
  job: ReturnType<typeof durableJob>,
  ms: number,
) {
  const first = w.host();
  const handle = first.runner.submit(job);
  await w.until(() => w.aws.count("RunTask") === 3);
  handle.cancel("drawn cancel");
  await w.clock.runUntil(w.clock.sleep(ms));
  first.kill();
  return handle;
}

describe("a retry in flight when the host died, the run cancelled", () => {
  it("attached from ECS alone: the successor stops the retry's task when it appears", async () => {
    // Found by `FC_SEED=239 FC_RUNS=400 npx vitest run test/durable/properties.test.ts`.
    const w = hourLongTasksSlowlyLaunched();
    w.aws.script({ taskIndex: 0, attempt: 1 }, { runMs: 10_000, exitCode: 1 });
    const job = durableJob({
      taskCount: 2,
      maxFailCount: 1,
      retry: { backoff: { initial: "2s", max: "2s" } },
    });
    // Task 0 failed; its retry's RunTask is on its way. The run is cancelled, the host dies.
    const handle = await cancelledAtThirdRunTask(w, job, 2_000);

    const second = w.host();
    const result = await w.clock.runUntil(
      second.runner.attach(job, { runId: handle.runId }).result,
    );
    await w.clock.runUntil(w.clock.sleep(5 * 60_000));
    expect(result.status).toBe("cancelled");
    w.aws.assert.noUnfinishedTasks();
    const tag = (t: Task, key: string) => t.tags?.find((x) => x.key === key)?.value;
    const retry = w.aws
      .tasks()
      .find((t) => tag(t, "ecs-batch:task-index") === "0" && tag(t, "ecs-batch:attempt") === "2");
    expect(retry).toBeDefined();
    expect(result.tasks[0]).toMatchObject({ attempts: 2, taskArn: retry?.taskArn });
    expect(w.aws.count("RunTask")).toBe(3);
  });
});

describe("a first launch in flight when the host died, the run cancelled", () => {
  it("attached from ECS alone: the successor stops the task when it appears", async () => {
    const w = hourLongTasksSlowlyLaunched();
    // Task 1's first RunTask is throttled (after its 30 s): sent again, it is in flight at the
    // crash, while task 0 runs.
    const t0 = w.clock.now();
    w.aws.inject({
      action: "RunTask",
      error: "ThrottlingException",
      until: t0 + 40_000,
      when: (input) => String(input.startedBy).endsWith("-1"),
    });
    const job = durableJob({ taskCount: 2 });
    const first = w.host();
    const handle = first.runner.submit(job);
    await w.until(() => first.events.some((e) => e.name === "taskStarted"));
    await w.until(() => w.aws.count("RunTask") === 3);
    handle.cancel("drawn cancel");
    await w.clock.runUntil(w.clock.sleep(2_000));
    first.kill();
    expect(w.aws.tasks()).toHaveLength(1);

    const second = w.host();
    const result = await w.clock.runUntil(
      second.runner.attach(job, { runId: handle.runId }).result,
    );
    await w.clock.runUntil(w.clock.sleep(5 * 60_000));
    expect(result.status).toBe("cancelled");
    expect(w.aws.tasks()).toHaveLength(2);
    w.aws.assert.noUnfinishedTasks();
    expect(result.tasks[1]).toMatchObject({ attempts: 1, taskArn: w.aws.tasks()[1]?.taskArn });
    expect(w.aws.count("RunTask")).toBe(3);
  });
});

describe("a retry in flight after a launch failure that left no task", () => {
  it("attached from ECS alone: the successor takes the later attempt's task for the slot's", async () => {
    // Found by `FC_SEED=255 FC_RUNS=400 npx vitest run test/durable/properties.test.ts`.
    const w = hourLongTasksSlowlyLaunched();
    // Task 0's first RunTask is refused (AGENT): ECS keeps no trace of attempt 1.
    w.aws.script({ taskIndex: 0, attempt: 1 }, { launchFailure: "AGENT" });
    const job = durableJob({
      taskCount: 2,
      maxFailCount: 0,
      retry: { maxLaunchRetries: 1, backoff: { initial: "2s", max: "2s" } },
    });
    const handle = await cancelledAtThirdRunTask(w, job, 1_000);

    const result = await w.clock.runUntil(
      w.host().runner.attach(job, { runId: handle.runId }).result,
    );
    await w.clock.runUntil(w.clock.sleep(5 * 60_000));
    expect(result.status).toBe("cancelled");
    w.aws.assert.noUnfinishedTasks();
    const retry = w.aws.tasks().find((t) => t.startedBy?.endsWith("-0") === true);
    expect(result.tasks[0]).toMatchObject({ attempts: 2, taskArn: retry?.taskArn });
  });
});
