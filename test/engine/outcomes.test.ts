import { describe, expect, it } from "vitest";
import { classifyStoppedTask, essentialContainers } from "../../src/index.js";
import { job, setup, template } from "../helpers/sim.js";

describe("what a stopped task means", () => {
  it("counts a task that never started as a start failure, never a success", async () => {
    const { aws, run, named } = setup();
    aws.script(
      { taskIndex: 0 },
      {
        startFailure:
          "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found",
      },
    );
    aws.script(
      { taskIndex: 1 },
      {
        startFailure: {
          stoppedReason: "ResourceInitializationError: unable to pull secrets",
          containerReason: "ResourceInitializationError: unable to pull secrets",
        },
      },
    );
    const result = await run(job({ taskCount: 2, maxFailCount: 0 }));
    expect(result.status).toBe("failed");
    const failures = named("taskFailed").map(
      (e) => e.failure as { kind: string; reason: string; exitCode: unknown; stopCode: string },
    );
    expect(failures.map((f) => [f.kind, f.exitCode, f.stopCode])).toEqual(
      expect.arrayContaining([["start", null, "TaskFailedToStart"]]),
    );
    expect(failures.map((f) => f.reason).join("\n")).toContain(
      "task failed to start: CannotPullContainerError",
    );
    expect(result.tasks[0]?.exitCode).toBeNull();
    expect(result.tasks.some((t) => t.status === "succeeded")).toBe(false);
  });

  it("ignores a non-essential sidecar that exits 1", async () => {
    const { aws, run } = setup();
    aws.script({}, { exitCodes: { sidecar: 1 } });
    const result = await run(
      job({
        taskDefinition: { definition: template({ sidecar: true }) },
        taskCount: 2,
        maxFailCount: 0,
      }),
    );
    expect(result.status).toBe("succeeded");
    expect(result.tasks.map((t) => t.exitCode)).toEqual([0, 0]);
  });

  it("classifies a Spot interruption as interrupted and retries it on the launch budget", async () => {
    const { aws, run, named } = setup();
    aws.script(
      { taskIndex: 0, attempt: 1 },
      { interrupted: { afterMs: 3000 }, exitCodes: { main: 0 } },
    );
    const result = await run(job({ taskCount: 1, launchType: "FARGATE_SPOT", maxFailCount: 0 }));
    expect(result.status).toBe("succeeded");
    const failure = named("taskFailed")[0]?.failure as { kind: string; stopCode: string };
    expect(failure).toMatchObject({ kind: "interrupted", stopCode: "SpotInterruption" });
    expect(aws.callsTo("RunTask")[0]?.input).toMatchObject({
      capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT", weight: 1 }],
    });
  });

  it("classifies a task ECS forgot as missing after three polls", async () => {
    const { aws, run, named } = setup();
    aws.script({ taskIndex: 0, attempt: 1 }, { missingAfterMs: 4000, runMs: 600_000 });
    const result = await run(job({ taskCount: 1, maxFailCount: 1 }));
    expect(result.status).toBe("succeeded");
    const failed = named("taskFailed")[0];
    expect(failed?.failure).toMatchObject({ kind: "missing" });
    expect((failed?.failure as { reason: string }).reason).toContain("3 consecutive polls");
    expect(result.tasks[0]?.attempts).toBe(2);
  });

  it("classifies a task stopped by someone else as stopped, on the application budget", async () => {
    const { aws, run, named } = setup();
    aws.script(
      { taskIndex: 0, attempt: 1 },
      { stoppedExternally: { afterMs: 2000, stoppedReason: "Stopped by operator" } },
    );
    const result = await run(job({ taskCount: 1, maxFailCount: 0 }));
    expect(result.status).toBe("failed");
    expect(named("taskFailed")[0]?.failure).toMatchObject({
      kind: "stopped",
      stopCode: "UserInitiated",
      reason: "stopped outside this runner (UserInitiated: Stopped by operator)",
    });
    expect(result.tasks[0]).toMatchObject({
      status: "failed",
      stoppedReason: "Stopped by operator",
    });
  });
});

describe("classifyStoppedTask", () => {
  const essential = essentialContainers(template({ sidecar: true }));
  const stopped = (extra: object) => ({ lastStatus: "STOPPED", ...extra });

  it.each([
    [
      "all essential exit 0",
      {
        stopCode: "EssentialContainerExited",
        containers: [
          { name: "main", exitCode: 0 },
          { name: "sidecar", exitCode: 137 },
        ],
      },
      "succeeded",
    ],
    [
      "essential exit 1",
      { stopCode: "EssentialContainerExited", containers: [{ name: "main", exitCode: 1 }] },
      "exit",
    ],
    [
      "no exit code",
      { stopCode: "EssentialContainerExited", containers: [{ name: "main" }] },
      "start",
    ],
    ["no containers reported", { stopCode: "EssentialContainerExited", containers: [] }, "start"],
    [
      "TaskFailedToStart even with exit 0",
      { stopCode: "TaskFailedToStart", containers: [{ name: "main", exitCode: 0 }] },
      "start",
    ],
    [
      "TerminationNotice",
      { stopCode: "TerminationNotice", containers: [{ name: "main", exitCode: 0 }] },
      "interrupted",
    ],
    [
      "InfrastructureHealth",
      { stopCode: "InfrastructureHealth", containers: [{ name: "main", exitCode: 143 }] },
      "interrupted",
    ],
    [
      "ServiceSchedulerInitiated",
      { stopCode: "ServiceSchedulerInitiated", containers: [{ name: "main", exitCode: 0 }] },
      "stopped",
    ],
    [
      "an unknown stop code falls back to the containers",
      { stopCode: "SomethingNew", containers: [{ name: "main", exitCode: 0 }] },
      "succeeded",
    ],
  ])("%s", (_name, task, expected) => {
    const outcome = classifyStoppedTask(stopped(task), essential);
    expect(outcome.status === "failed" ? outcome.failure.kind : outcome.status).toBe(expected);
  });

  it("reads the runner's own stop as stopped, but a task that finished first by its containers", () => {
    expect(
      classifyStoppedTask(
        stopped({
          stopCode: "UserInitiated",
          containers: [{ name: "main", exitCode: 143 }],
        }) as never,
        essential,
        true,
      ),
    ).toEqual({
      status: "stopped",
    });
    expect(
      classifyStoppedTask(
        stopped({
          stopCode: "EssentialContainerExited",
          containers: [{ name: "main", exitCode: 0 }],
        }) as never,
        essential,
        true,
      ),
    ).toEqual({ status: "succeeded", exitCode: 0 });
  });
});
