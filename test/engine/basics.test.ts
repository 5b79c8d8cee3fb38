import { RunTaskCommand, StopTaskCommand, type RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { job, setup, template } from "../helpers/sim.js";

describe("a job where every task succeeds", () => {
  it("launches one RunTask per task, reports each success and returns the full result", async () => {
    const { aws, run, events, named } = setup();
    const result = await run(job({ maxFailCount: 2 }));

    expect(result).toMatchObject({ jobId: "job1", status: "succeeded", failedTaskArns: [] });
    expect(result.taskDefinitionArn).toMatch(/task-definition\/batch-job:1$/);
    expect(result.tasks.map((t) => [t.index, t.status, t.attempts, t.exitCode])).toEqual([
      [0, "succeeded", 1, 0],
      [1, "succeeded", 1, 0],
      [2, "succeeded", 1, 0],
    ]);
    for (const t of result.tasks) expect(t.taskArn).toMatch(/:task\/default\//);

    const runTasks = aws.inputs<RunTaskCommandInput>("RunTask");
    expect(runTasks.map((r) => r.startedBy)).toEqual([
      "ecs-batch-job1-0",
      "ecs-batch-job1-1",
      "ecs-batch-job1-2",
    ]);
    expect(new Set(runTasks.map((r) => r.clientToken)).size).toBe(3);
    expect(runTasks[2]?.overrides?.containerOverrides?.[0]?.environment).toEqual([
      { name: "TASK_NAME", value: "ecs-batch-job1-2" },
      { name: "TASK_NUM", value: "2" },
      { name: "TASK_COUNT", value: "3" },
      { name: "TASK_ATTEMPT", value: "1" },
    ]);
    expect(aws.count("StopTask")).toBe(0);

    expect(events[0]?.name).toBe("jobStarted");
    expect(events.at(-1)?.name).toBe("jobCompleted");
    expect(named("taskStarted")).toHaveLength(3);
    expect(named("taskSucceeded").map((e) => e.taskIndex)).toEqual(
      expect.arrayContaining([0, 1, 2]),
    );
    expect(named("taskFailed")).toEqual([]);
    const statuses = named("taskStatusChanged")
      .filter((e) => e.taskIndex === 0)
      .map((e) => e.lastStatus);
    expect(statuses[0]).toBe("PROVISIONING");
    expect(statuses.at(-1)).toBe("STOPPED");
    for (const e of events) expect(e.payload.jobId).toBe("job1");
    aws.assert.noUnfinishedTasks();
    aws.assert.noDuplicateTasks();
  });

  it("accepts an existing definition by ARN and sends job cpu/memory as overrides", async () => {
    const { aws, run } = setup();
    aws.registerTaskDefinition(template({ family: "existing" }));
    const result = await run(
      job({ taskDefinition: { arn: "existing" }, cpu: 512, memory: 1024, taskCount: 1 }),
    );
    expect(result.status).toBe("succeeded");
    expect(result.taskDefinitionArn).toMatch(/existing:1$/);
    expect(aws.callsTo("RunTask")[0]?.input).toMatchObject({
      overrides: { cpu: "512", memory: "1024" },
    });
    expect(aws.count("RegisterTaskDefinition")).toBe(0);
  });

  it("reuses the registered definition for the next job with the same template", async () => {
    const { aws, run } = setup();
    await run(job({ jobId: "a", taskCount: 1 }));
    await run(job({ jobId: "b", taskCount: 1 }));
    expect(aws.count("RegisterTaskDefinition")).toBe(1);
    expect(aws.count("DescribeTaskDefinition")).toBe(1);
  });
});

describe("retries", () => {
  it("retries a task that fails twice, then succeeds (maxFailCount 3)", async () => {
    const { aws, run, named } = setup();
    aws.script({ taskIndex: 1, attempt: 1 }, { exitCode: 1 });
    aws.script(
      { taskIndex: 1, attempt: 2 },
      {
        exitCodes: { main: 2 },
        containerReasons: { main: "OutOfMemoryError: Container killed due to memory usage" },
      },
    );
    const result = await run(job({ maxFailCount: 3 }));

    expect(result.status).toBe("succeeded");
    const t1 = result.tasks[1];
    expect(t1).toMatchObject({ status: "succeeded", attempts: 3, exitCode: 0 });
    expect(t1?.failedTaskArns).toHaveLength(2);
    expect(result.failedTaskArns).toEqual(t1?.failedTaskArns);
    expect(t1?.taskArn).not.toBe(t1?.failedTaskArns[0]);

    const failed = named("taskFailed");
    expect(
      failed.map((e) => [
        e.taskIndex,
        e.attempt,
        e.willRetry,
        (e.failure as { kind: string }).kind,
      ]),
    ).toEqual([
      [1, 1, true, "exit"],
      [1, 2, true, "exit"],
    ]);
    expect(
      failed[1]?.failure as { reason: string; exitCode: number; container: string },
    ).toMatchObject({
      exitCode: 2,
      container: "main",
      reason:
        'container "main" exited with code 2 (OutOfMemoryError: Container killed due to memory usage)',
    });
    const retried = named("retried");
    expect(retried.map((e) => [e.taskIndex, e.attempt])).toEqual([
      [1, 2],
      [1, 3],
    ]);
    // Full jitter: the n-th retry waits up to 1s·2^(n−1).
    expect(retried[0]?.delayMs).toBeLessThanOrEqual(1000);
    expect(retried[1]?.delayMs).toBeLessThanOrEqual(2000);
    expect(retried[0]?.previousTaskArn).toBe(t1?.failedTaskArns[0]);

    const attempts = aws
      .inputs<RunTaskCommandInput>("RunTask")
      .filter((r) => r.startedBy === "ecs-batch-job1-1");
    expect(
      attempts.map(
        (r) =>
          r.overrides?.containerOverrides?.[0]?.environment?.find((e) => e.name === "TASK_ATTEMPT")
            ?.value,
      ),
    ).toEqual(["1", "2", "3"]);
    expect(attempts.map((r) => r.tags?.find((t) => t.key === "ecs-batch:attempt")?.value)).toEqual([
      "1",
      "2",
      "3",
    ]);
    expect(new Set(attempts.map((r) => r.clientToken)).size).toBe(3);
  });

  it("stops every other task when one exhausts its retries, with a reason naming job and cause", async () => {
    const { aws, run, named } = setup();
    aws.script({}, { runMs: 600_000 });
    aws.script({ taskIndex: 0 }, { runMs: 1000, exitCode: 1 });
    const result = await run(job({ maxFailCount: 1 }));

    expect(result.status).toBe("failed");
    expect(result.error).toEqual({
      code: "TASK_FAILED",
      message: expect.stringContaining("task 0 exhausted its retries") as unknown,
    });
    expect(result.tasks.map((t) => [t.status, t.attempts])).toEqual([
      ["failed", 2],
      ["stopped", 1],
      ["stopped", 1],
    ]);
    expect(result.tasks[1]?.stopCode).toBe("UserInitiated");
    const failed = named("taskFailed");
    expect(failed.map((e) => e.willRetry)).toEqual([true, false]);
    const stops = aws.callsTo("StopTask").map((c) => c.input as { task: string; reason: string });
    expect(stops.map((s) => s.task).sort()).toEqual(
      [result.tasks[1]?.taskArn, result.tasks[2]?.taskArn].sort(),
    );
    for (const s of stops) {
      expect(s.reason).toMatch(
        /^ecs-batch-runner: job job1 gave up: task 0 failed \(container "main" exited with code 1\)$/,
      );
      expect(s.reason.length).toBeLessThanOrEqual(255);
      expect(s.reason).not.toContain("arn:");
    }
    aws.assert.noUnfinishedTasks();
  });

  it("counts maxFailCount 0 as no retry at all", async () => {
    const { aws, run } = setup();
    aws.script({ taskIndex: 2 }, { exitCode: 3 });
    const result = await run(job({ maxFailCount: 0 }));
    expect(result.status).toBe("failed");
    expect(result.tasks[2]).toMatchObject({ status: "failed", attempts: 1, exitCode: 3 });
    expect(aws.count("RunTask")).toBe(3);
  });

  it("lets retry.shouldRetry veto a retry", async () => {
    const { aws, run, named } = setup();
    aws.script({ taskIndex: 0 }, { exitCode: 42 });
    const seen: unknown[] = [];
    const result = await run(
      job({
        taskCount: 1,
        maxFailCount: 5,
        retry: {
          shouldRetry: (failure, ctx) => {
            seen.push([failure.kind, failure.exitCode, ctx.taskIndex, ctx.attempt]);
            return failure.exitCode !== 42;
          },
        },
      }),
    );
    expect(result.status).toBe("failed");
    expect(seen).toEqual([["exit", 42, 0, 1]]);
    expect(named("taskFailed")[0]?.willRetry).toBe(false);
  });

  it("launches a retry ahead of the slots still waiting for their first attempt", async () => {
    // 400 first attempts at 10 RunTask per second take 40 s; task 0 fails at about 20 s.
    const { aws, run, named } = setup({
      runner: { rateLimits: { runTask: { ratePerSecond: 10, burst: 10 } } },
    });
    aws.script({ taskIndex: 0, attempt: 1 }, { exitCode: 1 });
    const result = await run(job({ taskCount: 400, maxFailCount: 1 }));

    expect(result.status).toBe("succeeded");
    expect(result.tasks[0]).toMatchObject({ attempts: 2, exitCode: 0 });
    const sent = aws
      .inputs<RunTaskCommandInput>("RunTask")
      .map((r) => `${r.startedBy} ${r.tags?.find((t) => t.key === "ecs-batch:attempt")?.value}`);
    const retry = sent.indexOf("ecs-batch-job1-0 2");
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThan(sent.indexOf("ecs-batch-job1-399 1"));
    // Sent well before the last first attempts: only the slots already waiting for a token
    // (the concurrency of 10) go before it once it is due.
    expect(sent.slice(retry + 1).filter((s) => s.endsWith(" 1")).length).toBeGreaterThan(100);
    expect(named("retried")).toHaveLength(1);
  });

  it("stops a job whose task keeps failing before the rest of it has launched", async () => {
    // 400 first attempts at 4 per second take 100 s; task 0's two attempts are over by 45 s.
    const { aws, run } = setup({
      runner: { rateLimits: { runTask: { ratePerSecond: 4, burst: 4 } } },
    });
    aws.script({ taskIndex: 0 }, { exitCode: 1 });
    const result = await run(job({ taskCount: 400, maxFailCount: 1 }));

    expect(result.status).toBe("failed");
    expect(result.tasks[0]).toMatchObject({ status: "failed", attempts: 2 });
    // Both attempts of task 0 were over before the slots near the end were ever sent.
    expect(aws.count("RunTask")).toBeLessThan(400);
    expect(result.tasks[399]).toMatchObject({ status: "stopped", attempts: 0 });
    aws.assert.noUnfinishedTasks();
  });
});

describe("a runner's own StopTask calls", () => {
  it("are the only StopTask calls in a successful job", async () => {
    const { aws, run } = setup();
    await run(job());
    expect(aws.calls.some((c) => c.action === StopTaskCommand.name.replace("Command", ""))).toBe(
      false,
    );
    expect(
      aws.calls.filter((c) => c.action === RunTaskCommand.name.replace("Command", "")),
    ).toHaveLength(3);
  });
});
