/** `runner.close()` and `await using`: every job cancelled, its tasks stopped, then the end. */
import { describe, expect, it } from "vitest";
import { EcsBatchSetupError } from "../../src/index.js";
import { job, setup } from "../helpers/sim.js";

describe("close()", () => {
  it("cancels every running job, stops their tasks, and resolves once they have ended", async () => {
    const { aws, clock, runner } = setup();
    aws.script({}, { runMs: 60 * 60_000 });
    const a = runner.submit(job({ jobId: "a" }));
    const b = runner.submit(job({ jobId: "b", taskCount: 2 }));
    await clock.runUntil(clock.sleep(30_000));
    await clock.runUntil(runner.close());
    const [ra, rb] = await Promise.all([a.result, b.result]);
    expect([ra.status, rb.status]).toEqual(["cancelled", "cancelled"]);
    expect(ra.error?.message).toContain("runner closed");
    expect(aws.count("StopTask")).toBe(5);
    aws.assert.noUnfinishedTasks();
  });

  it("is the runner's asyncDispose, and rejects jobs submitted after it", async () => {
    const { aws, clock, runner } = setup();
    aws.script({}, { runMs: 60 * 60_000 });
    const running = runner.submit(job({ taskCount: 1 }));
    await clock.runUntil(clock.sleep(30_000));
    // What `await using runner = ...` calls at the end of its scope.
    await clock.runUntil(runner[Symbol.asyncDispose]());
    await expect(running.result).resolves.toMatchObject({ status: "cancelled" });
    const late = await clock.runUntil(runner.run(job()).catch((e: unknown) => e));
    expect(late).toBeInstanceOf(EcsBatchSetupError);
    expect(late).toMatchObject({ code: "RUNNER_CLOSED" });
    expect(aws.count("RunTask")).toBe(1);
  });
});
