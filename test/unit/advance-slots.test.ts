/**
 * How an attach brings a checkpoint's slots up to date with the run's tasks in ECS
 * (`advanceSlots`): what a checkpoint a poll behind the run missed is counted on the budgets it
 * spent, and the slot's last failure is the one the run last saw.
 */
import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { advanceSlots, type RunTask } from "../../src/durable/ecs-runs.js";
import { initialSlot, type SlotState } from "../../src/execution/slot.js";

const essential = new Map([["main", true]]);
const arn = (attempt: number): string =>
  `arn:aws:ecs:us-west-2:123456789012:task/c/attempt${String(attempt)}`;

function runTask(attempt: number, task: Partial<Task>): RunTask {
  return {
    index: 0,
    attempt,
    runId: "r1",
    deadline: Number.NaN,
    task: { taskArn: arn(attempt), ...task },
  };
}

const exited = (code: number): Partial<Task> => ({
  lastStatus: "STOPPED",
  stopCode: "EssentialContainerExited",
  stoppedAt: new Date(1_000),
  containers: [{ name: "main", exitCode: code, lastStatus: "STOPPED" }],
});
const running: Partial<Task> = { lastStatus: "RUNNING" };

/** Attempt 2 exited 1 and was counted; the slot waits for attempt 3. */
const afterAnExit: SlotState = {
  ...initialSlot(0, "batch-j-0"),
  phase: "backoff",
  attempts: 2,
  applicationFailures: 1,
  taskArn: arn(2),
  failedTaskArns: [arn(2)],
  lastFailure: { kind: "exit", reason: "container main exited with code 1", exitCode: 1 },
  retryAt: 5_000,
};

const advance = (slot: SlotState, tasks: RunTask[]) =>
  advanceSlots([slot], [], tasks, "j", essential);

describe("advanceSlots", () => {
  it("an attempt number with no task before the newest is a launch failure, and the last one", () => {
    const { slots } = advance(afterAnExit, [runTask(2, exited(1)), runTask(4, running)]);
    expect(slots[0]).toMatchObject({
      phase: "running",
      attempts: 4,
      taskArn: arn(4),
      applicationFailures: 1,
      launchFailures: 1,
      failedTaskArns: [arn(2)],
      lastFailure: { kind: "launch" },
    });
    expect(slots[0]?.lastFailure?.reason).toContain("attempt 3");
  });

  it("the running attempt failed, and a newer one started: counted, and its failure the last", () => {
    const slot: SlotState = { ...afterAnExit, phase: "running", attempts: 3, taskArn: arn(3) };
    const { slots, failedTaskArns } = advance(slot, [runTask(3, exited(2)), runTask(4, running)]);
    expect(slots[0]).toMatchObject({
      attempts: 4,
      applicationFailures: 2,
      launchFailures: 0,
      failedTaskArns: [arn(2), arn(3)],
      lastFailure: { kind: "exit", exitCode: 2 },
    });
    expect(failedTaskArns).toEqual([arn(3)]);
  });

  it("an earlier attempt still running was given up as missing: a stray to stop", () => {
    const slot: SlotState = { ...afterAnExit, phase: "running", attempts: 3, taskArn: arn(3) };
    const { slots, strays } = advance(slot, [runTask(3, running), runTask(4, running)]);
    expect(strays).toEqual([arn(3)]);
    expect(slots[0]).toMatchObject({
      attempts: 4,
      applicationFailures: 2,
      failedTaskArns: [arn(2), arn(3)],
      lastFailure: { kind: "missing" },
    });
  });

  it("leaves a slot with nothing newer, and an ended slot, as they were", () => {
    const ended: SlotState = { ...afterAnExit, phase: "failed", ended: true };
    expect(advance(afterAnExit, [runTask(2, exited(1))]).slots[0]).toBe(afterAnExit);
    expect(advance(ended, [runTask(4, running)]).slots[0]).toBe(ended);
  });
});
