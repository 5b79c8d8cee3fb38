import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { classifyStoppedTask } from "../../src/index.js";

const essential = new Map([["main", true]]);

function reasonOf(task: Task): string {
  const outcome = classifyStoppedTask(task, essential);
  if (outcome.status !== "failed") throw new Error(`expected a failure, got ${outcome.status}`);
  return outcome.failure.reason;
}

describe("a blank reason from ECS reads as no reason", () => {
  it.each(["", "  "])("an exit with reason %j prints no empty parentheses", (reason) => {
    expect(
      reasonOf({
        stopCode: "EssentialContainerExited",
        containers: [{ name: "main", exitCode: 137, reason }],
      }),
    ).toBe('container "main" exited with code 137');
  });

  it("keeps a real reason", () => {
    expect(
      reasonOf({
        stopCode: "EssentialContainerExited",
        containers: [{ name: "main", exitCode: 137, reason: "OutOfMemoryError" }],
      }),
    ).toBe('container "main" exited with code 137 (OutOfMemoryError)');
  });

  it("a start failure skips blank container reasons for the one ECS gave", () => {
    expect(
      reasonOf({
        stopCode: "TaskFailedToStart",
        stoppedReason: "ResourceInitializationError: unable to pull secrets",
        containers: [{ name: "main", reason: "" }],
      }),
    ).toBe("task failed to start: ResourceInitializationError: unable to pull secrets");
    expect(reasonOf({ stopCode: "TaskFailedToStart", stoppedReason: " ", containers: [] })).toBe(
      "task failed to start: no reason given",
    );
  });

  it("a container that never ran, with a blank reason, falls back to the stopped reason", () => {
    expect(
      reasonOf({
        stoppedReason: "Task stopped by the agent",
        containers: [{ name: "main", reason: "" }],
      }),
    ).toBe('task stopped before container "main" ran: Task stopped by the agent');
  });

  it("a stop by someone else with a blank stopped reason names only the stop code", () => {
    expect(reasonOf({ stopCode: "UserInitiated", stoppedReason: "", containers: [] })).toBe(
      "stopped outside this runner (UserInitiated)",
    );
  });
});
