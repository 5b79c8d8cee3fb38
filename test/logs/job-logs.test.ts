import { describe, expect, it } from "vitest";
import { job, setup, template } from "../helpers/sim.js";

const idOf = (arn: string | undefined) => (arn ?? "").split("/").pop() ?? "";

describe("logs in the result", () => {
  it("on success: the task that stopped last, to stdout", async () => {
    const { aws, run } = setup();
    aws.script({}, { logs: ["Starting application...", "done"] });
    aws.script({ taskIndex: 1 }, { runMs: 30_000, logs: ["I finish last"] });
    const result = await run(job());
    expect(result.logs).toEqual({
      taskIndex: 1,
      taskArn: result.tasks[1]?.taskArn,
      stream: "stdout",
      text: expect.stringMatching(
        new RegExp(
          `^=== ecs/main/${idOf(result.tasks[1]?.taskArn)} ===\\n\\n\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\] I finish last\\n$`,
        ),
      ) as unknown,
    });
  });

  it("on failure: the exhausted task's last attempt, to stderr", async () => {
    const { aws, run } = setup();
    aws.script({}, { runMs: 600_000, logs: ["working"] });
    aws.script({ taskIndex: 2 }, { runMs: 1000, exitCode: 1 });
    aws.script({ taskIndex: 2, attempt: 1 }, { logs: ["attempt one failed"] });
    aws.script({ taskIndex: 2, attempt: 2 }, { logs: ["attempt two failed too"] });
    const result = await run(job({ maxFailCount: 1 }));
    expect(result.status).toBe("failed");
    expect(result.logs).toMatchObject({
      taskIndex: 2,
      stream: "stderr",
      taskArn: result.tasks[2]?.taskArn,
    });
    expect(result.logs && "text" in result.logs ? result.logs.text : "").toContain(
      "attempt two failed too",
    );
  });

  it("on timeout: the unfinished task with the lowest index, to stderr", async () => {
    const { aws, run } = setup();
    aws.script({}, { runMs: 3_600_000, logs: ["still going"] });
    aws.script({ taskIndex: 0 }, { runMs: 1000 });
    const result = await run(job({ timeout: "5m" }));
    expect(result.status).toBe("timedOut");
    expect(result.logs).toMatchObject({ taskIndex: 1, stream: "stderr" });
  });

  it("says why there are no logs when the exhausted task never started", async () => {
    const { aws, run } = setup();
    aws.failLaunch({ taskIndex: 0 }, "AGENT");
    const result = await run(job({ taskCount: 1, retry: { maxLaunchRetries: 1 } }));
    expect(result.logs).toEqual({
      error: "task 0 never started (RunTask could not start the task: AGENT), so it has no logs",
    });
  });

  it('returns every task\'s final attempt with fetch: "all"', async () => {
    const { aws, run } = setup();
    aws.script({}, { logs: ["hello"] });
    const result = await run(job({ logs: { fetch: "all" } }));
    expect(result.taskLogs?.map((t) => [t.taskIndex, t.taskArn])).toEqual(
      result.tasks.map((t) => [t.index, t.taskArn]),
    );
    for (const t of result.taskLogs ?? []) expect(t.text).toContain("] hello\n");
    // The representative's logs were read once, not twice.
    expect(aws.count("GetLogEvents")).toBe(3 * 2);
  });

  it('fetches nothing with fetch: "none"', async () => {
    const { aws, run } = setup();
    aws.script({}, { logs: ["hello"] });
    const result = await run(job({ logs: { fetch: "none" } }));
    expect(result.logs).toBeUndefined();
    expect(aws.calls.filter((c) => c.service === "logs")).toEqual([]);
  });

  it("reports a job whose containers do not log to CloudWatch", async () => {
    const { run, aws } = setup();
    const def = template();
    delete def.containerDefinitions?.[0]?.logConfiguration;
    const result = await run(job({ taskDefinition: { definition: def }, taskCount: 1 }));
    expect(result.logs).toEqual({
      error:
        "no container logs to CloudWatch Logs (logDriver awslogs), so there are no logs to fetch",
    });
    expect(aws.count("GetLogEvents")).toBe(0);
  });

  it("marks task logs that could not be read at all", async () => {
    const { aws, run } = setup();
    aws.inject({ service: "logs", error: "AccessDeniedException" });
    const result = await run(job({ taskCount: 2, logs: { fetch: "all" } }));
    expect(result.status).toBe("succeeded");
    for (const t of result.taskLogs ?? [])
      expect(t.error).toMatch(/^could not read ecs\/main\/\w+: AccessDeniedException/);
  });

  it("never changes the job's status when logs cannot be read", async () => {
    const { aws, run } = setup();
    aws.inject({ service: "logs", error: "AccessDeniedException" });
    const result = await run(job({ taskCount: 1 }));
    expect(result.status).toBe("succeeded");
    expect(result.logs && "text" in result.logs ? result.logs.text : "").toContain(
      "[ecs-batch-runner] could not read",
    );
  });
});

describe("the log tail of a failed attempt", () => {
  it("is attached to taskFailed as failure.logTail (last 20 lines)", async () => {
    const { aws, run, named } = setup();
    aws.script(
      { taskIndex: 0, attempt: 1 },
      { exitCode: 1, logs: Array.from({ length: 30 }, (_, i) => `step ${i}`) },
    );
    await run(job({ taskCount: 1, maxFailCount: 1 }));
    const tail = (named("taskFailed")[0]?.failure as { logTail?: string }).logTail ?? "";
    const tailLines = tail.split("\n");
    expect(tailLines).toHaveLength(20);
    expect(tailLines[0]).toMatch(/\] step 10$/);
    expect(tailLines[19]).toMatch(/\] step 29$/);
  });

  it("is not fetched when the container does not log to awslogs, or tailLines is 0", async () => {
    const { aws, run, named } = setup();
    aws.script({ taskIndex: 0, attempt: 1 }, { exitCode: 1 });
    await run(job({ taskCount: 1, maxFailCount: 1, logs: { tailLines: 0, fetch: "none" } }));
    expect(named("taskFailed")[0]?.failure).not.toHaveProperty("logTail");
    expect(aws.count("GetLogEvents")).toBe(0);
  });
});

describe("following logs", () => {
  it("emits each line once, tagged with its attempt, across a retry, and the tail after STOPPED", async () => {
    const { aws, run, named, events } = setup({ runner: { logFollowIntervalMs: 2000 } });
    aws.script(
      { taskIndex: 0, attempt: 1 },
      {
        runMs: 10_000,
        exitCode: 1,
        logs: [
          "a1 start",
          { message: "a1 middle", atMs: 5000 },
          { message: "a1 last words", atMs: 9999 },
        ],
      },
    );
    aws.script(
      { taskIndex: 0, attempt: 2 },
      { runMs: 10_000, logs: ["a2 start", { message: "a2 end", atMs: 9999 }] },
    );
    const result = await run(job({ taskCount: 1, maxFailCount: 1, logs: { follow: true } }));
    expect(result.status).toBe("succeeded");
    const lines = named("log").map((e) => [e.attempt, e.message, e.container, e.taskArn]);
    expect(lines).toEqual([
      [1, "a1 start", "main", result.tasks[0]?.failedTaskArns[0]],
      [1, "a1 middle", "main", result.tasks[0]?.failedTaskArns[0]],
      [1, "a1 last words", "main", result.tasks[0]?.failedTaskArns[0]],
      [2, "a2 start", "main", result.tasks[0]?.taskArn],
      [2, "a2 end", "main", result.tasks[0]?.taskArn],
    ]);
    const lastLog = events.map((e) => e.name).lastIndexOf("log");
    expect(lastLog).toBeLessThan(events.length - 1);
    expect(events.at(-1)?.name).toBe("jobCompleted");
    // Logs were followed with FilterLogEvents, not a GetLogEvents per task and interval.
    expect(aws.count("FilterLogEvents")).toBeGreaterThan(0);
  });

  it("completes the job only after the last read of a stopped task's streams", async () => {
    const { aws, run, named, events } = setup({ runner: { logFollowIntervalMs: 2000 } });
    // Reads of logs take 20 s, so the read after STOPPED ends well after the task is seen
    // STOPPED; with `fetch: "none"` nothing else holds the job back.
    aws.setLatency((service) => (service === "logs" ? 20_000 : 0));
    aws.script(
      { taskIndex: 0, attempt: 1 },
      { runMs: 10_000, logs: ["start", { message: "last words", atMs: 9999 }] },
    );
    const result = await run(job({ taskCount: 1, logs: { follow: true, fetch: "none" } }));
    expect(result.status).toBe("succeeded");
    expect(named("log").map((e) => e.message)).toEqual(["start", "last words"]);
    expect(events.at(-1)?.name).toBe("jobCompleted");
  });

  it("follows 1,000 running tasks with at most ⌈1000/100⌉ calls per interval, within the rate budget", async () => {
    const { aws, clock, run, named } = setup({ runner: { logFollowIntervalMs: 5000 } });
    aws.script(
      {},
      {
        runMs: 60_000,
        logs: Array.from({ length: 12 }, (_, i) => ({ message: `tick ${i}`, atMs: i * 5000 })),
      },
    );
    const start = clock.now();
    const result = await run(
      job({ taskCount: 1000, pollInterval: "30s", logs: { follow: true, fetch: "none" } }),
    );
    expect(result.status).toBe("succeeded");
    expect(named("log")).toHaveLength(12_000);
    const calls = aws.callsTo("FilterLogEvents");
    // Per follow interval (5 s windows), never more than 10 calls.
    const perWindow = new Map<number, number>();
    for (const c of calls) {
      const w = Math.floor((c.at - start) / 5000);
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
    }
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(10);
    // The budget is a token bucket of 5 calls/s with a burst of 5: in any window of w ms,
    // at most 5 + 5·w/1000 calls of any kind to CloudWatch Logs.
    const logCalls = aws.calls.filter((c) => c.service === "logs").map((c) => c.at);
    for (const w of [1000, 5000, 60_000]) {
      for (let i = 0; i < logCalls.length; i++) {
        const inWindow = logCalls.filter(
          (t) => t > (logCalls[i] as number) - w && t <= (logCalls[i] as number),
        ).length;
        expect(inWindow).toBeLessThanOrEqual(5 + (5 * w) / 1000);
      }
    }
    for (const c of calls)
      expect((c.input.logStreamNames as string[]).length).toBeLessThanOrEqual(100);
    expect(aws.count("GetLogEvents")).toBe(0);
  });
});
