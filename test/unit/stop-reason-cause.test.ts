import { describe, expect, it } from "vitest";
import { causeInStopReason } from "../../src/execution/job.js";
import { stopReason } from "../../src/execution/stopper.js";

describe("a run's cause read back from a StopTask reason the runner wrote", () => {
  it("a cancel, with its reason or none", () => {
    expect(causeInStopReason("j1", stopReason("j1", "was cancelled"))).toEqual({ kind: "cancel" });
    expect(causeInStopReason("j1", stopReason("j1", "was cancelled: deploy: rollback"))).toEqual({
      kind: "cancel",
      reason: "deploy: rollback",
    });
  });

  it("a fatal error, its name and message", () => {
    const cause = causeInStopReason(
      "j1",
      stopReason("j1", "failed: AccessDeniedException: not allowed: ecs:RunTask"),
    );
    expect(cause?.kind).toBe("fatal");
    const error = cause?.kind === "fatal" ? (cause.error as Error) : undefined;
    expect(error?.name).toBe("AccessDeniedException");
    expect(error?.message).toBe("not allowed: ecs:RunTask");
  });

  it("nothing from the causes other records keep, from other jobs' reasons, or from none", () => {
    for (const cause of [
      "timed out after 2h",
      "gave up: task 3 failed (exit 1)",
      "gave up on a task ECS reported missing",
      "is stopping",
    ]) {
      expect(causeInStopReason("j1", stopReason("j1", cause))).toBeUndefined();
    }
    expect(causeInStopReason("j1", stopReason("j10", "was cancelled"))).toBeUndefined();
    expect(causeInStopReason("j1", "Essential container in task exited")).toBeUndefined();
    expect(causeInStopReason("j1", undefined)).toBeUndefined();
  });
});
