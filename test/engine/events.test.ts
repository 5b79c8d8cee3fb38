import { describe, expect, it } from "vitest";
import { EcsBatchValidationError } from "../../src/index.js";
import { job, setup } from "../helpers/sim.js";

describe("events", () => {
  it("a listener that throws changes nothing, and the error goes to the logger", async () => {
    const plain = setup();
    plain.aws.script({ taskIndex: 1, attempt: 1 }, { exitCode: 1 });
    const expected = await plain.run(job({ maxFailCount: 1 }));

    const noisy = setup();
    noisy.aws.script({ taskIndex: 1, attempt: 1 }, { exitCode: 1 });
    for (const name of [
      "jobStarted",
      "taskStarted",
      "taskStatusChanged",
      "taskFailed",
      "retried",
      "taskSucceeded",
      "jobCompleted",
    ] as const) {
      noisy.runner.on(name, () => {
        throw new Error(`listener for ${name} broke`);
      });
    }
    // Hosts do pass async listeners; a rejected one must be caught like a throwing one.
    // eslint-disable-next-line @typescript-eslint/no-misused-promises
    noisy.runner.on("taskFailed", () => Promise.reject(new Error("async listener broke")));
    const result = await noisy.run(job({ maxFailCount: 1 }));

    expect(result).toEqual(expected);
    expect(noisy.events.map((e) => e.name)).toEqual(plain.events.map((e) => e.name));
    const errors = noisy.logger.lines.filter((l) => l.level === "error").map((l) => l.message);
    expect(errors).toContain('a "taskStarted" listener threw');
    expect(errors).toContain('a "taskFailed" listener rejected');
  });

  it("jobCompleted is last and carries the result; every payload has the jobId", async () => {
    const { aws, run, events } = setup();
    aws.script({}, { runMs: 600_000 });
    aws.script({ taskIndex: 0 }, { exitCode: 1, runMs: 1000 });
    const result = await run(job({ jobId: "evt", maxFailCount: 0 }));
    expect(events.at(-1)).toMatchObject({
      name: "jobCompleted",
      payload: { jobId: "evt", result },
    });
    expect(events.filter((e) => e.name === "jobCompleted")).toHaveLength(1);
    for (const e of events) expect(e.payload.jobId).toBe("evt");
    // Nothing trails the job: no timers or watches left behind.
    expect(events.findIndex((e) => e.name === "jobCompleted")).toBe(events.length - 1);
  });

  it("once() and off() work with the safe wrappers", async () => {
    const { runner, run } = setup();
    let once = 0;
    let removed = 0;
    const off = () => removed++;
    runner.once("taskStarted", () => once++);
    runner.on("taskStarted", off);
    runner.off("taskStarted", off);
    await run(job());
    expect(once).toBe(1);
    expect(removed).toBe(0);
  });

  it("rejects invalid input with a validation error and a jobRejected event, no AWS call", async () => {
    const { aws, clock, runner, named } = setup();
    const handle = runner.submit({
      jobId: "bad",
      taskDefinition: { path: "x.json" },
      timeout: "soon",
    });
    expect(handle.jobId).toBe("bad");
    await expect(handle.result).rejects.toBeInstanceOf(EcsBatchValidationError);
    expect(named("jobRejected")).toEqual([
      {
        jobId: "bad",
        runId: handle.runId,
        emittedAt: clock.now(),
        error: expect.any(EcsBatchValidationError) as unknown,
      },
    ]);
    expect(aws.calls).toEqual([]);
  });
});

describe("jobRejected", () => {
  it("reaches a listener attached right after submit", async () => {
    const { runner } = setup();
    const handle = runner.submit({ jobId: "late", taskDefinition: { arn: "x:1" }, taskCount: 0 });
    const seen: string[] = [];
    runner.on("jobRejected", (e) => seen.push(e.jobId));
    await expect(handle.result).rejects.toBeInstanceOf(EcsBatchValidationError);
    expect(seen).toEqual(["late"]);
  });
});

describe("a runner running many jobs at once", () => {
  it("keeps their tasks, events and results apart", async () => {
    const { aws, clock, runner, events } = setup();
    aws.script({ jobId: "b", taskIndex: 0, attempt: 1 }, { exitCode: 1 });
    const handles = ["a", "b", "c"].map((id) =>
      runner.submit(job({ jobId: id, taskCount: 2, maxFailCount: 1 })),
    );
    const results = await clock.runUntil(Promise.all(handles.map((h) => h.result)));
    expect(results.map((r) => [r.jobId, r.status])).toEqual([
      ["a", "succeeded"],
      ["b", "succeeded"],
      ["c", "succeeded"],
    ]);
    expect(results[1]?.failedTaskArns).toHaveLength(1);
    expect(results[0]?.failedTaskArns).toHaveLength(0);
    for (const id of ["a", "b", "c"]) {
      const mine = events.filter((e) => e.payload.jobId === id);
      expect(mine[0]?.name).toBe("jobStarted");
      expect(mine.at(-1)?.name).toBe("jobCompleted");
    }
    expect(aws.count("RegisterTaskDefinition")).toBe(1);
  });
});

describe("emittedAt", () => {
  it("every event carries the runner's clock time it was emitted at", async () => {
    const { run, events } = setup();
    await run(job());
    expect(events.length).toBeGreaterThan(5);
    for (const e of events) expect(e.payload.emittedAt).toBe(e.at);
  });
});
