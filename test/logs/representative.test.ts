import { describe, expect, it } from "vitest";
import { representativeTask } from "../../src/index.js";
import type { JobState, SlotState } from "../../src/execution/job.js";

const slot = (index: number, extra: Partial<SlotState> = {}): SlotState => ({
  index,
  taskName: `t-${index}`,
  phase: "stopped",
  attempts: 1,
  applicationFailures: 0,
  launchFailures: 0,
  failedTaskArns: [],
  stopRequested: false,
  ended: true,
  taskArn: `arn:task/${index}`,
  ...extra,
});

const state = (slots: SlotState[], stopCause?: JobState["stopCause"]): JobState => ({
  jobId: "j",
  runId: "r",
  cluster: "c",
  taskDefinitionArn: "td",
  startedAt: 0,
  slots,
  failedTaskArns: [],
  ...(stopCause === undefined ? {} : { stopCause }),
});

describe("representativeTask", () => {
  it("on success picks the task that stopped last, ties to the higher index", () => {
    const s = state([
      slot(0, { phase: "succeeded", stoppedAt: 50 }),
      slot(1, { phase: "succeeded", stoppedAt: 90 }),
      slot(2, { phase: "succeeded", stoppedAt: 90 }),
    ]);
    expect(representativeTask(s, "succeeded")).toMatchObject({
      taskArn: "arn:task/2",
      stream: "stdout",
    });
  });

  it("on a non-retryable error picks the task that failed most recently", () => {
    const failure = { kind: "exit" as const, reason: "x" };
    const s = state(
      [
        slot(0, { lastFailure: failure, failedAt: 300 }),
        slot(1, { lastFailure: failure, failedAt: 100 }),
        slot(2),
      ],
      {
        kind: "fatal",
        error: new Error("AccessDenied"),
      },
    );
    expect(representativeTask(s, "failed")).toMatchObject({
      taskArn: "arn:task/0",
      stream: "stderr",
    });
  });

  it("on timeout picks the unfinished task with the lowest index", () => {
    const s = state(
      [
        slot(0, { phase: "succeeded" }),
        slot(1, { phase: "stopped" }),
        slot(2, { phase: "stopped" }),
      ],
      { kind: "timeout", timeoutMs: 1 },
    );
    expect(representativeTask(s, "timedOut")).toMatchObject({
      taskArn: "arn:task/1",
      stream: "stderr",
    });
  });
});
