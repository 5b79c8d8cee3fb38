/**
 * The edges of the engine (issue 19): long durations, host code that throws, tasks given up
 * on, RunTask answers that are lost or unreadable, an ECS outage, and running a job twice.
 * Each case is one a user would be paged for: a task left running, or a job that silently
 * did not run.
 */
import {
  DescribeTasksCommand,
  type DescribeTasksCommandOutput,
  type RunTaskCommandInput,
  type Tag,
} from "@aws-sdk/client-ecs";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  defaultRetryPolicy,
  EcsBatchRunner,
  EcsBatchValidationError,
  systemClock,
  type AwsClient,
  type Clock,
  type Logger,
} from "../../src/index.js";
import { createSimulatedAws, ManualClock } from "../../src/testing/index.js";
import { job, memoryLogger, setup } from "../helpers/sim.js";

const HOUR = 3_600_000;

describe("long durations", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("the system clock waits 600 hours, past the 2^31-1 ms a timer can take", async () => {
    vi.useFakeTimers();
    let done = false;
    void systemClock.sleep(600 * HOUR).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(599 * HOUR);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(done).toBe(true);
  });

  it("a job with a 600h timeout on a host's setTimeout clock runs to its end, not timed out at once", async () => {
    vi.useFakeTimers();
    // A clock as a host might write it: one setTimeout per sleep, which Node fires at once
    // when asked for more than 2^31-1 ms.
    const hostClock: Clock = {
      now: () => Date.now(),
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          signal?.addEventListener("abort", () => {
            clearTimeout(timer);
            reject(new Error("aborted"));
          });
        }),
    };
    const aws = createSimulatedAws({ clock: hostClock });
    aws.script({}, { runMs: 60_000 });
    const runner = new EcsBatchRunner({ clients: aws.clients, clock: hostClock });
    let settled = false;
    const result = runner.run(job({ taskCount: 2, timeout: "600h" }));
    void result.finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    await expect(result).resolves.toMatchObject({ status: "succeeded" });
    expect(aws.count("StopTask")).toBe(0);
  });
});

describe("host code that throws", () => {
  const throwingInfo = (): Logger & { lines: { level: string; message: string }[] } => {
    const logger = memoryLogger();
    return {
      ...logger,
      info: () => {
        throw new Error("the log sink is gone");
      },
    };
  };

  it("a logger whose info throws does not keep StopTask from being sent on timeout", async () => {
    const { aws, run } = setup({ runner: { logger: throwingInfo() } });
    aws.script({}, { runMs: 10 * HOUR });
    const result = await run(job({ timeout: "1m" }));
    expect(result.status).toBe("timedOut");
    expect(aws.count("StopTask")).toBe(3);
    aws.assert.noUnfinishedTasks();
  });

  it("a logger whose info throws does not keep the siblings of an exhausted task running", async () => {
    const { aws, run } = setup({ runner: { logger: throwingInfo() } });
    aws.script({}, { runMs: 10 * HOUR });
    aws.script({ taskIndex: 1 }, { exitCode: 3, runMs: 10_000 });
    const result = await run(job({ maxFailCount: 0, timeout: "20h" }));
    expect(result.status).toBe("failed");
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "failed", "stopped"]);
    aws.assert.noUnfinishedTasks();
  });

  it("a listener that throws a value String() cannot print does not break the run", async () => {
    const { aws, runner, run, logger } = setup();
    runner.on("taskStarted", () => {
      // What some host code does throw: a value that is not an Error and that String() rejects.
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw Object.create(null) as object;
    });
    const result = await run(job());
    expect(result.status).toBe("succeeded");
    expect(logger.lines.some((l) => l.message === 'a "taskStarted" listener threw')).toBe(true);
    aws.assert.noUnfinishedTasks();
  });

  it("a retry policy that throws ends the job failed with the error, its tasks stopped", async () => {
    const { aws, run } = setup({
      runner: {
        retryPolicy: {
          ...defaultRetryPolicy,
          delay: () => {
            throw new TypeError("policy bug");
          },
        },
      },
    });
    aws.script({}, { runMs: 10 * HOUR });
    aws.script({ taskIndex: 0, attempt: 1 }, { exitCode: 1, runMs: 10_000 });
    const result = await run(job());
    expect(result.status).toBe("failed");
    expect(result.error?.message).toBe("policy bug");
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped", "stopped"]);
    aws.assert.noUnfinishedTasks();
  });

  it("a random source that throws or strays out of [0, 1) does not break ids or jitter", async () => {
    let n = 0;
    const { aws, run, named } = setup({
      runner: {
        random: () => {
          n++;
          if (n % 2 === 0) throw new Error("entropy ran out");
          return 7;
        },
      },
    });
    aws.script({ taskIndex: 0, attempt: 1 }, { exitCode: 1 });
    const result = await run(job({ taskCount: 2 }));
    expect(result.status).toBe("succeeded");
    expect(result.runId).toMatch(/^[a-z0-9]{8}-[a-z0-9]{8}$/);
    const [retried] = named("retried");
    expect(retried?.delayMs).toBeGreaterThanOrEqual(0);
    expect(retried?.delayMs).toBeLessThanOrEqual(1000);
  });

  it("a retry policy whose delay is not a number retries at once", async () => {
    const { aws, run, named } = setup({
      runner: { retryPolicy: { ...defaultRetryPolicy, delay: () => Number.NaN } },
    });
    aws.script({ taskIndex: 0, attempt: 1 }, { exitCode: 1 });
    const result = await run(job({ taskCount: 1 }));
    expect(result.status).toBe("succeeded");
    expect(named("retried")).toMatchObject([{ delayMs: 0 }]);
  });
});

/** The ECS client of `aws`, with the tasks in `hidden` left out of DescribeTasks answers. */
function hiding(ecs: AwsClient, hidden: Set<string>): AwsClient {
  return {
    async send(command, options) {
      const out = await ecs.send(command, options);
      if (!(command instanceof DescribeTasksCommand)) return out;
      const answer = out as DescribeTasksCommandOutput;
      const tasks = (answer.tasks ?? []).filter((t) => !hidden.has(t.taskArn ?? ""));
      const missing = (answer.tasks ?? [])
        .filter((t) => hidden.has(t.taskArn ?? ""))
        .map((t) => ({ arn: t.taskArn, reason: "MISSING" }));
      return { ...answer, tasks, failures: [...(answer.failures ?? []), ...missing] };
    },
  };
}

describe("a task given up on", () => {
  it("is stopped before its retry launches, and stopped again when it shows up running", async () => {
    const clock = new ManualClock();
    const aws = createSimulatedAws({ clock });
    aws.script({ taskIndex: 0, attempt: 1 }, { runMs: 10 * HOUR });
    aws.script({ taskIndex: 0, attempt: 2 }, { runMs: 10 * 60_000 });
    const hidden = new Set<string>();
    const runner = new EcsBatchRunner({
      clients: { ...aws.clients, ecs: hiding(aws.ecs, hidden) },
      clock,
      logger: memoryLogger(),
    });
    let givenUp: string | undefined;
    runner.on("taskStarted", (e) => {
      if (e.attempt !== 1) return;
      givenUp = e.taskArn;
      hidden.add(e.taskArn);
      // ECS says "not found" to the first StopTask: the task runs on, hidden.
      aws.inject({
        action: "StopTask",
        error: "InvalidParameterException",
        message: "The referenced task was not found.",
        times: 1,
        when: (input) => input.task === e.taskArn,
      });
      // Two minutes later it shows up again, still running.
      clock.schedule(clock.now() + 2 * 60_000, () => hidden.delete(e.taskArn));
    });
    const result = await clock.runUntil(runner.run(job({ taskCount: 1, timeout: "2h" })));
    expect(result.status).toBe("succeeded");
    expect(result.tasks[0]).toMatchObject({ attempts: 2, failedTaskArns: [givenUp] });
    const stops = aws.callsTo("StopTask").filter((c) => c.input.task === givenUp);
    expect(stops).toHaveLength(2);
    const retry = aws.callsTo("RunTask")[1];
    expect(stops[0]?.at).toBeLessThanOrEqual(retry?.at ?? 0);
    aws.assert.noUnfinishedTasks();
  });
});

/** An error like the SDK's when a 200 answer's body cannot be parsed. */
function unreadableAnswer(): Error {
  const error = new SyntaxError(
    "Unexpected token '<', \"<html>\" is not valid JSON\n  Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.",
  );
  Object.defineProperty(error, "$response", { value: { statusCode: 200 } });
  return error;
}

describe("RunTask answers that are lost or cannot be read", () => {
  it("an unreadable 200 answer is sent again with the same token: one task, watched", async () => {
    const { aws, run } = setup();
    aws.inject({ action: "RunTask", error: unreadableAnswer(), afterProcessing: true, times: 1 });
    const result = await run(job());
    expect(result.status).toBe("succeeded");
    const tokens = aws.inputs<RunTaskCommandInput>("RunTask").map((i) => i.clientToken);
    expect(tokens).toHaveLength(4);
    expect(new Set(tokens).size).toBe(3);
    expect(aws.taskHistory).toHaveLength(3);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });

  it("a 200 answer that a stand-in client turned into an error is resent, not fatal", async () => {
    const { aws, run } = setup();
    const error = Object.assign(new Error("could not parse the answer"), {
      $metadata: { httpStatusCode: 200 },
    });
    aws.inject({ action: "RunTask", error, afterProcessing: true, times: 2 });
    const result = await run(job());
    expect(result.status).toBe("succeeded");
    expect(aws.taskHistory).toHaveLength(3);
    aws.assert.noDuplicateTasks();
  });

  it("a task started by a lost answer is found by its tags and stopped when the job times out", async () => {
    const { aws, run } = setup();
    aws.script({}, { runMs: 10 * HOUR });
    aws.inject({
      action: "RunTask",
      error: "ServerException",
      afterProcessing: true,
      when: (input) => input.startedBy === "ecs-batch-job1-0",
    });
    const result = await run(job({ timeout: "20s" }));
    expect(result.status).toBe("timedOut");
    const lost = aws.taskHistory.find((h) => h.context.taskIndex === 0);
    expect(result.tasks[0]).toMatchObject({ status: "stopped", taskArn: lost?.taskArn });
    expect(aws.callsTo("StopTask").map((c) => c.input.task)).toContain(lost?.taskArn);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });

  it("resends that keep failing end with a lookup: the task a lost answer started runs on as the attempt", async () => {
    const { aws, run, named } = setup();
    aws.inject({
      action: "RunTask",
      error: "ServerException",
      afterProcessing: true,
      when: (input) => input.startedBy === "ecs-batch-job1-0",
    });
    const result = await run(job());
    expect(result.status).toBe("succeeded");
    expect(result.tasks[0]).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(named("taskFailed")).toEqual([]);
    expect(aws.count("ListTasks")).toBeGreaterThan(0);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });
});

describe("an ECS outage", () => {
  it("RunTask answering 503 for good is a launch failure on its budget: the job fails, it does not hang", async () => {
    const { aws, clock, run, named } = setup();
    aws.inject({ action: "RunTask", error: "ServiceUnavailableException" });
    const started = clock.now();
    const result = await run(job({ taskCount: 1, retry: { maxLaunchRetries: 2 } }));
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("TASK_FAILED");
    expect(result.tasks[0]).toMatchObject({ status: "failed", attempts: 3 });
    const failed = named("taskFailed");
    expect(failed.map((f) => [f.attempt, f.willRetry])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect(failed[0]?.failure).toMatchObject({ kind: "launch" });
    expect((failed[0]?.failure as { reason: string }).reason).toContain(
      "ServiceUnavailableException",
    );
    // Three resend windows of two minutes and two backoffs, far from the hour's timeout.
    expect(clock.now() - started).toBeLessThan(10 * 60_000);
    // Each attempt kept one token; a new attempt, a new token.
    const tokens = new Set(aws.inputs<RunTaskCommandInput>("RunTask").map((i) => i.clientToken));
    expect(tokens.size).toBe(3);
    expect(aws.taskHistory).toEqual([]);
  });
});

describe("running a job twice", () => {
  const tagsOf = (input: RunTaskCommandInput): Record<string, string> =>
    Object.fromEntries(
      (input.tags ?? []).map((t: Tag): [string, string] => [t.key ?? "", t.value ?? ""]),
    );

  it("runs it twice: a run id of its own, new tokens, new tasks", async () => {
    const { aws, clock, runner, events } = setup();
    const first = await clock.runUntil(runner.run(job()));
    const second = await clock.runUntil(runner.run(job()));
    expect(second.status).toBe("succeeded");
    expect(second.runId).not.toBe(first.runId);
    expect(aws.taskHistory).toHaveLength(6);
    const firstArns = new Set(first.tasks.map((t) => t.taskArn));
    expect(second.tasks.every((t) => !firstArns.has(t.taskArn))).toBe(true);
    const inputs = aws.inputs<RunTaskCommandInput>("RunTask");
    expect(inputs.map((i) => tagsOf(i)["ecs-batch:run-id"])).toEqual([
      ...Array<string>(3).fill(first.runId),
      ...Array<string>(3).fill(second.runId),
    ]);
    expect(new Set(inputs.map((i) => i.clientToken)).size).toBe(6);
    // Every event names its run.
    const runIds = new Set(events.map((e) => (e.payload as { runId?: string }).runId));
    expect(runIds).toEqual(new Set([first.runId, second.runId]));
  });

  it("takes a run id from the options, and refuses one that cannot be a tag", async () => {
    const { aws, clock, runner } = setup();
    const handle = runner.submit(job({ taskCount: 1 }), { runId: "nightly-2026-12-06" });
    expect(handle.runId).toBe("nightly-2026-12-06");
    const result = await clock.runUntil(handle.result);
    expect(result.runId).toBe("nightly-2026-12-06");
    const [sent] = aws.inputs<RunTaskCommandInput>("RunTask");
    expect(sent === undefined ? {} : tagsOf(sent)).toMatchObject({
      "ecs-batch:run-id": "nightly-2026-12-06",
    });
    const bad = runner.run(job(), { runId: "no spaces please" });
    await expect(bad).rejects.toBeInstanceOf(EcsBatchValidationError);
    expect(aws.count("RunTask")).toBe(1);
  });
});
