import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import {
  defaultRetryPolicy,
  EcsBatchRunner,
  EcsBatchSetupError,
  type PreparedJob,
} from "../../src/index.js";
import type { JobServices } from "../../src/execution/job.js";
import type { JobLogPort } from "../../src/logs/job-logs.js";
import { createSimulatedAws, ManualClock } from "../../src/testing/index.js";
import { job, memoryLogger, setup } from "../helpers/sim.js";

describe("timeout", () => {
  it("stops every running task when the job times out", async () => {
    const { aws, clock, run, named, events } = setup();
    aws.script({}, { runMs: 3_600_000 });
    const started = clock.now();
    const result = await run(job({ timeout: "1m" }));

    expect(result.status).toBe("timedOut");
    expect(result.error?.code).toBe("TIMED_OUT");
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped", "stopped"]);
    const timedOut = named("timedOut");
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]).toMatchObject({ jobId: "job1", timeoutMs: 60_000, elapsedMs: 60_000 });
    expect((timedOut[0]?.stoppedTaskArns as string[]).sort()).toEqual(
      result.tasks.map((t) => t.taskArn).sort(),
    );
    const stops = aws.callsTo("StopTask");
    expect(stops).toHaveLength(3);
    expect(stops.every((c) => c.at === started + 60_000)).toBe(true);
    expect((stops[0]?.input as { reason: string }).reason).toBe(
      "ecs-batch-runner: job job1 timed out after 1m",
    );
    // The result waits until the stopped tasks are STOPPED.
    expect(result.tasks.every((t) => t.stopCode === "UserInitiated")).toBe(true);
    expect(result.finishedAt.getTime() - started).toBeLessThan(60_000 + 30_000);
    expect(events.at(-1)?.name).toBe("jobCompleted");
    aws.assert.noUnfinishedTasks();
  });

  it("cancels a retry waiting in backoff and launches nothing more", async () => {
    // A policy that always waits the full backoff: the retry is still waiting at the timeout.
    const { aws, clock, run } = setup({
      runner: { retryPolicy: { ...defaultRetryPolicy, delay: () => 600_000 } },
    });
    aws.script({ taskIndex: 0 }, { exitCode: 1, runMs: 1000 });
    const started = clock.now();
    const result = await run(
      job({
        taskCount: 1,
        maxFailCount: 5,
        timeout: "2m",
        retry: { backoff: { initial: "10m", max: "10m" } },
      }),
    );
    expect(result.status).toBe("timedOut");
    expect(result.tasks[0]).toMatchObject({ status: "stopped", attempts: 1 });
    expect(result.tasks[0]?.failedTaskArns).toHaveLength(1);
    expect(aws.callsTo("RunTask").every((c) => c.at < started + 120_000)).toBe(true);
    expect(aws.count("RunTask")).toBe(1);
    expect(aws.count("StopTask")).toBe(0);
  });

  it("times out during preparation without launching anything", async () => {
    const { aws, clock, run } = setup({ aws: { latency: 40_000 } });
    const start = clock.now();
    const result = await run(job({ timeout: "1m" }));
    expect(result.status).toBe("timedOut");
    expect(aws.count("RunTask")).toBe(0);
    expect(result.tasks.every((t) => t.attempts === 0 && t.status === "stopped")).toBe(true);
    expect(clock.now() - start).toBeGreaterThanOrEqual(60_000);
  });
});

describe("cancel", () => {
  it("cancels through an AbortSignal, stopping the running tasks", async () => {
    const { aws, clock, run } = setup();
    aws.script({}, { runMs: 600_000 });
    const ac = new AbortController();
    clock.schedule(clock.now() + 30_000, () => ac.abort("operator pressed stop"));
    const result = await run(job(), ac.signal);
    expect(result.status).toBe("cancelled");
    expect(result.error).toEqual({
      code: "CANCELLED",
      message: "job job1 was cancelled: operator pressed stop",
    });
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped", "stopped"]);
    const reasons = aws.callsTo("StopTask").map((c) => (c.input as { reason: string }).reason);
    expect(reasons).toEqual(
      Array(3).fill("ecs-batch-runner: job job1 was cancelled: operator pressed stop"),
    );
    aws.assert.noUnfinishedTasks();
  });

  it("cancels through the handle of a submitted job", async () => {
    const { aws, clock, runner } = setup();
    aws.script({}, { runMs: 600_000 });
    const handle = runner.submit(job({ jobId: "submitted" }));
    expect(handle.jobId).toBe("submitted");
    clock.schedule(clock.now() + 20_000, () => handle.cancel());
    const result = await clock.runUntil(handle.result);
    expect(result.status).toBe("cancelled");
    expect((aws.callsTo("StopTask")[0]?.input as { reason: string }).reason).toBe(
      "ecs-batch-runner: job submitted was cancelled",
    );
    aws.assert.noUnfinishedTasks();
  });

  it("is a no-op on a finished job, and disposal waits for the end", async () => {
    const { aws, clock, runner } = setup();
    const handle = runner.submit(job({ taskCount: 1 }));
    const result = await clock.runUntil(handle.result);
    handle.cancel("too late");
    await handle[Symbol.asyncDispose]();
    expect(result.status).toBe("succeeded");
    expect(aws.count("StopTask")).toBe(0);
  });

  it("cancels before anything is launched when the signal is already aborted", async () => {
    const { aws, run } = setup();
    const ac = new AbortController();
    ac.abort();
    const result = await run(job(), ac.signal);
    expect(result.status).toBe("cancelled");
    expect(aws.count("RunTask")).toBe(0);
  });

  it("stops a task whose RunTask was in flight when the job was cancelled", async () => {
    const { aws, clock, runner } = setup({
      aws: { latency: (_s, action) => (action === "RunTask" ? 5000 : 0) },
    });
    aws.script({}, { runMs: 600_000 });
    const handle = runner.submit(job({ taskCount: 1 }));
    clock.schedule(clock.now() + 2000, () => handle.cancel());
    const result = await clock.runUntil(handle.result);
    expect(result.status).toBe("cancelled");
    expect(result.tasks[0]).toMatchObject({ status: "stopped", attempts: 1 });
    expect(aws.count("StopTask")).toBe(1);
    aws.assert.noUnfinishedTasks();
  });
});

describe("a RunTask that keeps failing when the job stops", () => {
  it("gives up at once when it was only throttled (nothing can have started)", async () => {
    const { aws, clock, run } = setup();
    aws.inject({ action: "RunTask", error: "ThrottlingException" });
    const started = clock.now();
    const result = await run(job({ taskCount: 2, timeout: "2m" }));
    expect(result.status).toBe("timedOut");
    expect(result.tasks.map((t) => [t.status, t.attempts])).toEqual([
      ["stopped", 0],
      ["stopped", 0],
    ]);
    const after = aws.callsTo("RunTask").filter((c) => c.at > started + 120_000);
    expect(after).toEqual([]);
  });

  it("settles an ambiguous failure by looking the task up, not by sending RunTask again", async () => {
    const { aws, clock, run, named } = setup();
    aws.inject({ action: "RunTask", error: "ServerException" });
    const started = clock.now();
    const result = await run(job({ taskCount: 1, timeout: "20s" }));
    expect(result.status).toBe("timedOut");
    expect(result.tasks).toMatchObject([{ status: "stopped", attempts: 0 }]);
    const after = aws.callsTo("RunTask").filter((c) => c.at > started + 20_000);
    expect(after).toEqual([]);
    // ListTasks by startedBy, running and stopped: nothing of this attempt was started.
    expect(aws.inputs("ListTasks")).toEqual([
      expect.objectContaining({ startedBy: "ecs-batch-job1-0", desiredStatus: "RUNNING" }),
      expect.objectContaining({ startedBy: "ecs-batch-job1-0", desiredStatus: "STOPPED" }),
    ]);
    expect(named("jobCompleted")).toHaveLength(1);
    // Two poll intervals of 5 s after the deadline, at most; the stop watch was not needed.
    expect(clock.now() - started).toBeLessThanOrEqual(20_000 + 2 * 5000);
  });
});

describe("launch failures (RunTask failures[])", () => {
  it("retries AGENT, RESOURCE:MEMORY and capacity failures on the launch budget, not maxFailCount", async () => {
    const { aws, run, named } = setup();
    aws.failLaunch({ taskIndex: 0, attempt: 1 }, "AGENT");
    aws.failLaunch({ taskIndex: 1, attempt: 1 }, "RESOURCE:MEMORY");
    aws.failLaunch({ taskIndex: 1, attempt: 2 }, "RESOURCE:MEMORY");
    aws.failLaunch(
      { taskIndex: 2, attempt: 1 },
      "Capacity is unavailable at this time. Please try again later or in a different availability zone",
    );
    const result = await run(job({ maxFailCount: 0 }));

    expect(result.status).toBe("succeeded");
    expect(result.tasks.map((t) => t.attempts)).toEqual([2, 3, 2]);
    expect(result.failedTaskArns).toEqual([]);
    const failed = named("taskFailed");
    expect(failed).toHaveLength(4);
    for (const f of failed) {
      expect(f.taskArn).toBeUndefined();
      expect(f.willRetry).toBe(true);
      expect((f.failure as { kind: string }).kind).toBe("launch");
    }
    expect((failed.find((f) => f.taskIndex === 0)?.failure as { reason: string }).reason).toBe(
      "RunTask could not start the task: AGENT",
    );
    // Each retry is a new attempt with its own token.
    const tokens = aws.inputs<RunTaskCommandInput>("RunTask").map((r) => r.clientToken);
    expect(new Set(tokens).size).toBe(7);
  });

  it("exhausts a slot after maxLaunchRetries launch failures", async () => {
    const { aws, run } = setup();
    aws.failLaunch({ taskIndex: 0 }, "AGENT");
    const result = await run(job({ taskCount: 2, retry: { maxLaunchRetries: 2 } }));
    expect(result.status).toBe("failed");
    expect(result.tasks[0]).toMatchObject({ status: "failed", attempts: 3 });
    expect(result.tasks[0]?.taskArn).toBeUndefined();
    expect(result.error?.message).toContain("AGENT");
  });
});

describe("non-retryable RunTask errors", () => {
  it("reports a missing cluster as a setup error before any RunTask", async () => {
    const { aws, run, named } = setup();
    const error = await run(job({ cluster: "nope" })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "CLUSTER_NOT_FOUND" });
    expect(aws.count("RunTask")).toBe(0);
    expect(named("jobRejected")).toHaveLength(1);
    expect(named("jobStarted")).toHaveLength(0);
  });

  it("treats ClusterNotFoundException at the first RunTask as a setup error", async () => {
    const { aws, run } = setup({ runner: { maxConcurrentLaunches: 1 } });
    aws.inject({ action: "DescribeClusters", error: "AccessDeniedException" });
    aws.script({}, { runTaskError: "ClusterNotFoundException" });
    const error = await run(job()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "CLUSTER_NOT_FOUND" });
    expect((error as Error).message).toContain("ClusterNotFoundException");
    expect(aws.count("RunTask")).toBe(1);
  });

  it("stops the tasks already running when access is denied later, and says why", async () => {
    const { aws, run } = setup({ runner: { maxConcurrentLaunches: 1 } });
    aws.script({}, { runMs: 600_000 });
    aws.script({ taskIndex: 2 }, { runTaskError: "AccessDeniedException" });
    const result = await run(job());
    expect(result.status).toBe("failed");
    expect(result.error).toEqual({
      code: "AccessDeniedException",
      message: "User is not authorized to perform: ecs:RunTask",
    });
    expect(result.tasks.map((t) => [t.status, t.attempts])).toEqual([
      ["stopped", 1],
      ["stopped", 1],
      ["stopped", 1],
    ]);
    expect(aws.count("StopTask")).toBe(2);
    aws.assert.noUnfinishedTasks();
  });
});

describe("a bug in the runner's own step", () => {
  it("ends the job failed with the error, resolves the run and stops the tasks already running", async () => {
    const clock = new ManualClock();
    const aws = createSimulatedAws({ clock });
    aws.script({}, { runMs: 600_000 });
    const logger = memoryLogger();
    // A service that throws where a host's code never could: the step that saw it must not
    // leave the run hanging, nor the tasks running unwatched.
    class Buggy extends EcsBatchRunner {
      protected override jobServices(prepared: PreparedJob): JobServices {
        const services = super.jobServices(prepared);
        const logs = services.logs as JobLogPort;
        return {
          ...services,
          logs: {
            ...logs,
            readsTails: logs.readsTails,
            withTail: (failure, task) => logs.withTail(failure, task),
            taskDone: (arn) => logs.taskDone(arn),
            settled: () => logs.settled(),
            collect: (job, status) => logs.collect(job, status),
            taskStarted: (index) => {
              if (index === 2) throw new Error("bug in onTaskStarted");
            },
          },
        };
      }
    }
    const runner = new Buggy({ clients: aws.clients, clock, logger });
    const rejected: unknown[] = [];
    runner.on("jobRejected", (e) => rejected.push(e.error.message));
    const result = await clock.runUntil(runner.run(job({ taskCount: 3 })));
    expect(result.status).toBe("failed");
    expect(result.error?.message).toBe("bug in onTaskStarted");
    expect(result.tasks.map((t) => [t.status, t.stopCode])).toEqual([
      ["stopped", "UserInitiated"],
      ["stopped", "UserInitiated"],
      ["stopped", "UserInitiated"],
    ]);
    expect(rejected).toEqual([]);
    expect(aws.count("StopTask")).toBe(3);
    aws.assert.noUnfinishedTasks();
  });
});
