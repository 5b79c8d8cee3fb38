/**
 * What a checkpoint holds, written by `StoreCheckpoints` and read back by `parseCheckpoint`:
 * slots still at their initial value left out, task ARNs written as ids after the run's prefix.
 */
import { describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../src/durable/checkpoint.js";
import { StoreCheckpoints } from "../../src/durable/checkpointer.js";
import { MemoryJobStore } from "../../src/durable/memory-store.js";
import type { JobState } from "../../src/execution/job.js";
import { initialSlot, type SlotState } from "../../src/execution/slot.js";
import { silentLogger } from "../../src/logger.js";
import { ManualClock } from "../../src/simulator/clock.js";

const PREFIX = "arn:aws:ecs:us-west-2:123456789012:task/default/";
const key = { jobId: "job1", runId: "run1" };
const taskDefinitionArn = "arn:aws:ecs:us-west-2:123456789012:task-definition/f:1";

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
    {
      ...key,
      cluster: "default",
      taskDefinitionArn,
      fingerprint: {},
      startedAt: clock.now(),
      deadline: clock.now() + 3_600_000,
    },
  );
  await checkpoints.started(state, () => undefined);
  return {
    state,
    text: async () => (await store.load(key)) ?? "",
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
