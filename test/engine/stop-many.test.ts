/**
 * Stopping thousands of tasks at AWS's pace: StopTask shares RunTask's bucket (40 per second),
 * so stopping 10,000 tasks takes over four minutes of sends. Every one must go out: the stop
 * watch bounds how long the runner waits for STOPPED, never whether a StopTask is sent.
 */
import { describe, expect, it, onTestFinished } from "vitest";
import { job, setup } from "../helpers/sim.js";

describe("stopping a large job", () => {
  it("a cancel of 10,000 running tasks sends every StopTask and leaves none running", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    onTestFinished(() => {
      process.off("warning", onWarning);
    });
    const { aws, clock, runner, named } = setup({ aws: { limits: "aws", latency: 100 } });
    aws.script({}, { runMs: 6 * 3_600_000 });
    const handle = runner.submit(job({ taskCount: 10_000, pollInterval: "15s", timeout: "12h" }));
    // Every task is running once the launches are through (about 500 s at 20 per second).
    while (named("taskStarted").length < 10_000) await clock.advance(10_000);
    handle.cancel();
    const done = await clock.runUntil(handle.result);
    expect(done.status).toBe("cancelled");
    const stopped = new Set(aws.callsTo("StopTask").map((c) => (c.input as { task: string }).task));
    expect(stopped.size).toBe(10_000);
    // The last ones were still on their way down when the job ended: ECS had accepted each stop.
    await clock.advance(60_000);
    aws.assert.noUnfinishedTasks();
    // Thousands of sends wait on one signal: expected, and no warning about a leak.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual([]);
  }, 120_000);

  it("a job whose StopTask never answers still ends, after the stop watch, with the failure logged", async () => {
    const { aws, clock, runner, named, logger } = setup();
    aws.script({}, { runMs: 3_600_000 });
    aws.inject({ action: "StopTask", error: "ServerException", probability: 1 });
    const handle = runner.submit(job({ taskCount: 3 }));
    while (named("taskStarted").length < 3) await clock.advance(1000);
    const cancelledAt = clock.now();
    handle.cancel();
    const done = await clock.runUntil(handle.result);
    expect(done.status).toBe("cancelled");
    // Bounded: two minutes of silence from StopTask, then the job gives the sends up.
    expect(clock.now() - cancelledAt).toBeLessThan(5 * 60_000);
    expect(logger.lines.some((l) => l.message.includes("StopTask"))).toBe(true);
  });
});
