import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { job, setup } from "../helpers/sim.js";

/** DescribeTasks calls grouped by the clock time they were made at (one poll). */
function polls(
  calls: readonly { at: number; input: Readonly<Record<string, unknown>> }[],
): Map<number, number[]> {
  const byTime = new Map<number, number[]>();
  for (const c of calls) {
    const list = byTime.get(c.at) ?? [];
    list.push((c.input.tasks as string[]).length);
    byTime.set(c.at, list);
  }
  return byTime;
}

describe("watching many tasks", () => {
  it("250 tasks: at most 100 ARNs per DescribeTasks and ⌈unfinished/100⌉ calls per poll", async () => {
    const { aws, run, events } = setup();
    // Spread the finishing times so the number of unfinished tasks changes between polls.
    aws.script((ctx) => ctx.taskIndex % 3 === 0, { runMs: 20_000 });
    aws.script((ctx) => ctx.taskIndex % 3 === 1, { runMs: 45_000 });
    aws.script((ctx) => ctx.taskIndex % 3 === 2, { runMs: 90_000 });
    const result = await run(job({ taskCount: 250, pollInterval: "10s" }));
    expect(result.status).toBe("succeeded");
    aws.assert.describeTasksWithinLimit();

    // Unfinished at time t: started at or before t, not yet seen STOPPED before t.
    const startedAt = new Map<number, number>();
    const doneAt = new Map<number, number>();
    for (const e of events) {
      if (e.name === "taskStarted") startedAt.set(e.payload.taskIndex as number, e.at);
      if (e.name === "taskSucceeded") doneAt.set(e.payload.taskIndex as number, e.at);
    }
    const byPoll = polls(aws.callsTo("DescribeTasks"));
    expect(byPoll.size).toBeGreaterThan(5);
    let lowerBound = 0;
    for (const [at, sizes] of byPoll) {
      const unfinished = [...startedAt.entries()].filter(
        ([i, s]) => s < at && (doneAt.get(i) ?? Infinity) >= at,
      ).length;
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(unfinished);
      expect(sizes.length).toBe(Math.ceil(unfinished / 100));
      lowerBound += Math.ceil(unfinished / 100);
    }
    expect(aws.count("DescribeTasks")).toBe(lowerBound);
  });

  it("two concurrent jobs share the watcher's DescribeTasks calls", async () => {
    const { aws, clock, runner } = setup();
    aws.script({}, { runMs: 60_000 });
    const a = runner.submit(job({ jobId: "a", taskCount: 40, pollInterval: "10s" }));
    await clock.advance(3000);
    const b = runner.submit(job({ jobId: "b", taskCount: 40, pollInterval: "10s" }));
    const [ra, rb] = await clock.runUntil(Promise.all([a.result, b.result]));
    expect(ra.status).toBe("succeeded");
    expect(rb.status).toBe("succeeded");
    const calls = aws.callsTo("DescribeTasks").map((c) => c.input.tasks as string[]);
    const mixed = calls.filter((arns) => {
      const jobs = new Set(
        arns.map((arn) => (ra.tasks.some((t) => t.taskArn === arn) ? "a" : "b")),
      );
      return jobs.size === 2;
    });
    // After the first poll both jobs' tasks ride in the same calls: 80 tasks, one call per poll.
    expect(mixed.length).toBeGreaterThan(3);
    const byPoll = polls(aws.callsTo("DescribeTasks"));
    for (const sizes of byPoll.values()) expect(sizes).toHaveLength(1);
  });

  it("launches a thousand tasks under the rate limit with one RunTask each", async () => {
    const { aws, run } = setup({ aws: { limits: "aws" } });
    const result = await run(job({ taskCount: 1000, pollInterval: "15s" }));
    expect(result.status).toBe("succeeded");
    expect(aws.count("RunTask")).toBe(1000);
    expect(aws.callsTo("RunTask").filter((c) => c.error !== undefined)).toEqual([]);
    const startedBy = new Set(aws.inputs<RunTaskCommandInput>("RunTask").map((r) => r.startedBy));
    expect(startedBy.size).toBe(1000);
    aws.assert.describeTasksWithinLimit();
    aws.assert.noDuplicateTasks();
  });
});

describe("process hygiene", () => {
  it("a job of many tasks triggers no MaxListenersExceededWarning", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      const { aws, run } = setup();
      aws.script({}, { runMs: 60_000 });
      const ac = new AbortController();
      await run(job({ taskCount: 50, timeout: "30s" }), ac.signal);
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.filter((w) => w === "MaxListenersExceededWarning")).toEqual([]);
  });
});

describe("throttling storms", () => {
  it("finishes correctly with no duplicate and no lost task when half of all calls are throttled", async () => {
    const { aws, clock, run } = setup();
    const start = clock.now();
    aws.inject({
      action: ["RunTask", "DescribeTasks", "StopTask"],
      error: "ThrottlingException",
      probability: 0.5,
      until: start + 300_000,
    });
    // Some requests take effect but their response is lost: only the clientToken prevents a second task.
    aws.inject({
      action: "RunTask",
      error: "ServerException",
      afterProcessing: true,
      probability: 0.2,
      until: start + 300_000,
    });
    aws.script((ctx) => ctx.taskIndex % 7 === 0 && ctx.attempt === 1, { exitCode: 1 });
    const result = await run(job({ taskCount: 60, maxFailCount: 2, pollInterval: "10s" }));

    expect(result.status).toBe("succeeded");
    expect(result.tasks.every((t) => t.status === "succeeded")).toBe(true);
    expect(
      aws.callsTo("RunTask").filter((c) => c.error === "ThrottlingException").length,
    ).toBeGreaterThan(10);
    expect(
      aws.callsTo("RunTask").filter((c) => c.error === "ServerException").length,
    ).toBeGreaterThan(3);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
    // Every task ECS ever started is one the result accounts for.
    const known = new Set(result.tasks.flatMap((t) => [t.taskArn, ...t.failedTaskArns]));
    for (const h of aws.taskHistory) expect(known.has(h.taskArn)).toBe(true);
  });
});

describe("many jobs at once", () => {
  it("100 jobs submitted together under the AWS limits share one cluster check and all succeed", async () => {
    const { aws, clock, runner } = setup({ aws: { limits: "aws" } });
    const handles = Array.from({ length: 100 }, (_, j) =>
      runner.submit(job({ jobId: `j${String(j)}`, taskCount: 2, pollInterval: "10s" })),
    );
    const results = await clock.runUntil(Promise.all(handles.map((h) => h.result)));
    expect(results.map((r) => r.status)).toEqual(results.map(() => "succeeded"));
    expect(aws.count("DescribeClusters")).toBe(1);
    expect(aws.calls.filter((c) => c.error === "ThrottlingException")).toEqual([]);
  });

  it("cancelling a job with launches queued leaves another job's queued launches in order", async () => {
    const { aws, clock, runner } = setup({ aws: { latency: 100 } });
    aws.script({}, { runMs: 30_000 });
    const a = runner.submit(job({ jobId: "a", taskCount: 60, pollInterval: "10s" }));
    const b = runner.submit(job({ jobId: "b", taskCount: 60, pollInterval: "10s" }));
    await clock.advance(400);
    a.cancel("enough");
    const [ra, rb] = await clock.runUntil(Promise.all([a.result, b.result]));
    expect(ra.status).toBe("cancelled");
    expect(ra.tasks.filter((t) => t.attempts > 0).length).toBeLessThan(60);
    expect(rb.status).toBe("succeeded");
    expect(rb.tasks.every((t) => t.attempts === 1)).toBe(true);
    const started = aws.inputs<RunTaskCommandInput>("RunTask").map((r) => r.startedBy ?? "");
    const bOrder = started.filter((s) => s.includes("-b-")).map((s) => Number(s.split("-").pop()));
    expect(bOrder).toEqual([...bOrder].sort((x, y) => x - y));
    aws.assert.noUnfinishedTasks();
  });

  it("a throttled cluster check is skipped, not fatal: RunTask checks the cluster too", async () => {
    const { aws, run, logger } = setup();
    aws.inject({ action: "DescribeClusters", error: "ThrottlingException" });
    const result = await run(job({ taskCount: 2 }));
    expect(result.status).toBe("succeeded");
    expect(logger.lines.some((l) => l.level === "warn" && /cluster check/.test(l.message))).toBe(
      true,
    );
  });
});
