/**
 * What a checkpoint holds, written by `StoreCheckpoints` and read back by `parseCheckpoint`:
 * slots still at their initial value left out, task ARNs written as ids after the run's prefix,
 * the commonest records of a change in short form.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../src/durable/checkpoint.js";
import { checkpointText, StoreCheckpoints } from "../../src/durable/checkpointer.js";
import { MemoryJobStore } from "../../src/durable/memory-store.js";
import type { JobState } from "../../src/execution/job.js";
import { initialSlot, type SlotState } from "../../src/execution/slot.js";
import { silentLogger } from "../../src/logger.js";
import { ManualClock } from "../../src/simulator/clock.js";

const PREFIX = "arn:aws:ecs:us-west-2:123456789012:task/default/";
const key = { jobId: "job1", runId: "run1" };
const taskDefinitionArn = "arn:aws:ecs:us-west-2:123456789012:task-definition/f:1";

const run1 = {
  ...key,
  cluster: "default",
  taskDefinitionArn,
  fingerprint: {},
  startedAt: 1_000_000,
  deadline: 4_600_000,
};

/** A run of `tasks` slots checkpointed into a memory store, one write per `beat()`. */
async function checkpointedRun(tasks: number) {
  const store = new MemoryJobStore();
  const clock = new ManualClock({ start: 1_000_000 });
  const lease = await store.acquire(key, "me", 45_000, clock.now());
  const state: JobState = {
    ...key,
    cluster: "default",
    taskDefinitionArn,
    startedAt: clock.now(),
    slots: Array.from({ length: tasks }, (_, i) => initialSlot(i, `t-${String(i)}`)),
    failedTaskArns: [],
  };
  const checkpoints = new StoreCheckpoints(
    { store, clock, logger: silentLogger, lease, leaseTtlMs: 45_000, intervalMs: 15_000 },
    run1,
  );
  await checkpoints.started(state, () => undefined);
  return {
    state,
    text: async () => (await store.load(key)) ?? "",
    /** The last change appended (the last line of the stored text). */
    lastChange: async () => ((await store.load(key)) ?? "").split("\n").at(-1) ?? "",
    /** Replaces slot `index` (as the job does, in place) and tells the checkpoints. */
    step(index: number, fields: Partial<SlotState>) {
      Object.assign(state.slots[index] as SlotState, fields);
      checkpoints.changed(index);
    },
    async beat() {
      const writes = checkpoints.writes;
      await clock.advance(15_000);
      expect(checkpoints.writes).toBe(writes + 1);
    },
  };
}

describe("a run's checkpoint", () => {
  it("leaves out the slots never launched, and a reader puts them back", async () => {
    const run = await checkpointedRun(3);
    const first = JSON.parse(await run.text()) as { slots: unknown[]; taskCount: number };
    expect(first.slots).toEqual([]);
    expect(first.taskCount).toBe(3);
    const read = parseCheckpoint(await run.text(), "in the test");
    expect(read.slots.map((s) => [s.index, s.phase, s.attempts])).toEqual([
      [0, "pending", 0],
      [1, "pending", 0],
      [2, "pending", 0],
    ]);
  });

  it("writes task ARNs as ids after the run's prefix, and reads them back in full", async () => {
    const run = await checkpointedRun(3);
    run.step(1, { phase: "running", attempts: 1, taskArn: `${PREFIX}aaa`, lastStatus: "PENDING" });
    await run.beat();
    run.step(1, {
      phase: "running",
      attempts: 2,
      applicationFailures: 1,
      taskArn: `${PREFIX}bbb`,
      failedTaskArns: [`${PREFIX}aaa`],
    });
    run.state.failedTaskArns.push(`${PREFIX}aaa`);
    // Another cluster's ARN (it cannot happen in one run) is written as it is.
    run.step(2, {
      phase: "running",
      attempts: 1,
      taskArn: "arn:aws:ecs:us-west-2:1:task/other/ccc",
    });
    await run.beat();

    const text = await run.text();
    expect(text).not.toContain(`${PREFIX}aaa`);
    expect(text).toContain(`"taskArnPrefix":"${PREFIX}"`);
    // The last status seen is read again from ECS after an attach: not written.
    expect(text).not.toContain("PENDING");
    const read = parseCheckpoint(text, "in the test");
    expect(read.failedTaskArns).toEqual([`${PREFIX}aaa`]);
    expect(read.slots[1]).toMatchObject({
      attempts: 2,
      taskArn: `${PREFIX}bbb`,
      failedTaskArns: [`${PREFIX}aaa`],
    });
    expect(read.slots[2]?.taskArn).toBe("arn:aws:ecs:us-west-2:1:task/other/ccc");
    expect(read.slots[0]?.phase).toBe("pending");
  });

  it("is refused when a slot lies past the run's task count", () => {
    const text = JSON.stringify({
      version: 1,
      jobId: "job1",
      runId: "run1",
      cluster: "default",
      taskDefinitionArn,
      fingerprint: {},
      startedAt: 1,
      deadline: 2,
      taskCount: 2,
      state: "running",
      slots: [{ index: 2, phase: "running", attempts: 1 }],
      failedTaskArns: [],
      savedAt: 3,
    });
    expect(() => parseCheckpoint(text, "in the test")).toThrow(
      expect.objectContaining({
        code: "CHECKPOINT_INVALID",
        message: expect.stringContaining("slot 2 of a run of 2 tasks") as unknown,
      }),
    );
  });
});

/** What ECS says of a task whose essential container exited. */
const EXITED = {
  stopCode: "EssentialContainerExited",
  stoppedReason: "Essential container in task exited",
};

describe("a change's short forms", () => {
  it("write a first attempt's start and its exit 0 as list entries, read back as the records", async () => {
    const run = await checkpointedRun(3);
    run.step(1, { phase: "running", attempts: 1, taskArn: `${PREFIX}aaa`, lastStatus: "RUNNING" });
    await run.beat();
    expect(JSON.parse(await run.lastChange())).toMatchObject({ slots: [], started: [1, "aaa"] });
    expect(parseCheckpoint(await run.text(), "in the test").slots[1]).toEqual({
      index: 1,
      phase: "running",
      attempts: 1,
      applicationFailures: 0,
      launchFailures: 0,
      taskArn: `${PREFIX}aaa`,
      failedTaskArns: [],
      stopRequested: false,
    });

    run.step(1, { phase: "succeeded", exitCode: 0, ...EXITED, stoppedAt: 1_200_000 });
    await run.beat();
    expect(JSON.parse(await run.lastChange())).toMatchObject({
      slots: [],
      started: [],
      exited0: [1, "aaa", 1_200_000],
    });
    expect(parseCheckpoint(await run.text(), "in the test").slots[1]).toMatchObject({
      phase: "succeeded",
      attempts: 1,
      taskArn: `${PREFIX}aaa`,
      exitCode: 0,
      ...EXITED,
      stoppedAt: 1_200_000,
    });
  });

  it("leave out what they cannot say: such a slot is written as a record", async () => {
    const run = await checkpointedRun(3);
    // A second attempt, and a stop other than the container's exit.
    run.step(0, { phase: "running", attempts: 2, launchFailures: 1, taskArn: `${PREFIX}aaa` });
    run.step(1, {
      phase: "succeeded",
      attempts: 1,
      taskArn: `${PREFIX}bbb`,
      exitCode: 0,
      stopCode: "UserInitiated",
      stoppedReason: "stopped by hand",
      stoppedAt: 1_100_000,
    });
    await run.beat();
    const change = JSON.parse(await run.lastChange()) as { slots: { index: number }[] };
    expect(change).toMatchObject({ started: [], exited0: [] });
    expect(change.slots.map((s) => s.index).sort()).toEqual([0, 1]);
    expect(parseCheckpoint(await run.text(), "in the test").slots[1]).toMatchObject({
      stopCode: "UserInitiated",
      stoppedReason: "stopped by hand",
    });
  });

  it("are read back as the slot a whole checkpoint would give, whatever the slot", async () => {
    const failure = fc.record({
      kind: fc.constantFrom("launch", "exit"),
      reason: fc.constant("it failed"),
    });
    const optional = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: undefined });
    const fieldsOfSlot = {
      phase: fc.constantFrom(
        "launching",
        "running",
        "reporting",
        "backoff",
        "succeeded",
        "failed",
        "stopped",
      ),
      attempts: fc.integer({ min: 1, max: 2 }),
      applicationFailures: fc.integer({ min: 0, max: 1 }),
      launchFailures: fc.integer({ min: 0, max: 1 }),
      taskArn: optional(fc.constantFrom(`${PREFIX}aaa`, "arn:aws:ecs:us-west-2:1:task/other/b")),
      failedTaskArns: fc.constantFrom([], [`${PREFIX}zzz`]),
      exitCode: optional(fc.constantFrom(0, 1, null)),
      stopCode: optional(fc.constantFrom(EXITED.stopCode, "TaskFailedToStart")),
      stoppedReason: optional(fc.constantFrom(EXITED.stoppedReason, "other")),
      lastFailure: optional(failure),
      failedAt: optional(fc.constant(1_050_000)),
      stoppedAt: optional(fc.constantFrom(1_100_000, 1_100_000.5)),
      stopRequested: fc.boolean(),
      retryAt: optional(fc.constant(1_300_000)),
      report: optional(fc.record({ failure, willRetry: fc.boolean() })),
    };
    const anySlot = fc.record(fieldsOfSlot);
    // Mostly a slot a short form says, or one that differs from it in a field or two: a slot
    // drawn at random almost never is one.
    const short = fc.constantFrom(
      { phase: "running", attempts: 1, taskArn: `${PREFIX}aaa` },
      {
        phase: "succeeded",
        attempts: 1,
        taskArn: `${PREFIX}aaa`,
        exitCode: 0,
        ...EXITED,
        stoppedAt: 1_100_000,
      },
    );
    const nearShort = fc
      .tuple(short, anySlot, fc.subarray(Object.keys(fieldsOfSlot), { maxLength: 2 }))
      .map(([base, other, fields]) => ({
        ...base,
        ...Object.fromEntries(fields.map((f) => [f, other[f as keyof typeof other]])),
      }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(short, nearShort, anySlot), async (fields) => {
        const run = await checkpointedRun(1);
        run.step(0, fields);
        await run.beat();
        const whole = checkpointText(run1, run.state, undefined, 2_000_000);
        const fromChange = parseCheckpoint(await run.text(), "in the test").slots[0];
        const fromWhole = parseCheckpoint(whole, "in the test").slots[0];
        expect(fromChange).toEqual(fromWhole);
        expect(fromChange).toMatchObject(definedOf(fields));
      }),
      {
        numRuns: Number(process.env.FC_RUNS ?? 300),
        seed: Number(process.env.FC_SEED ?? 20261207),
      },
    );
  });

  it("are refused when a list is cut short", () => {
    const base = checkpointText(
      run1,
      {
        ...key,
        cluster: "default",
        taskDefinitionArn,
        startedAt: 1,
        slots: [initialSlot(0, "t-0")],
        failedTaskArns: [],
      },
      undefined,
      2,
      { seq: 1 },
    );
    const change = JSON.stringify({
      seq: 2,
      state: "running",
      savedAt: 3,
      slots: [],
      started: [0],
    });
    expect(() => parseCheckpoint(`${base}\n${change}`, "in the test")).toThrow(
      expect.objectContaining({
        code: "CHECKPOINT_INVALID",
        message: expect.stringContaining("started: not a list of 2 values per slot") as unknown,
      }),
    );
  });
});

/** The fields of `value` that are set (a checkpoint holds no field set to undefined). */
function definedOf(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
