/**
 * A user's unit test of their own job, with the simulator of `ecs-batch-runner/testing`: the
 * job's retry and stop behaviour is checked in milliseconds, with no AWS account.
 */
import { describe, expect, it } from "vitest";
import { EcsBatchRunner, type BatchJobInput } from "ecs-batch-runner";
import { createSimulatedAws, ManualClock } from "ecs-batch-runner/testing";

/** The job under test, as the application builds it. */
function nightlyExport(date: string): BatchJobInput {
  return {
    jobId: `nightly-export-${date}`,
    cluster: "batch",
    taskDefinition: {
      definition: {
        family: "nightly-export",
        requiresCompatibilities: ["FARGATE"],
        networkMode: "awsvpc",
        cpu: "512",
        memory: "1024",
        containerDefinitions: [
          {
            name: "export",
            image: "registry.example.com/export:2.3",
            logConfiguration: {
              logDriver: "awslogs",
              options: {
                "awslogs-group": "/ecs/export",
                "awslogs-region": "us-west-2",
                "awslogs-stream-prefix": "ecs",
              },
            },
          },
        ],
      },
    },
    taskCount: 4,
    maxFailCount: 2,
    timeout: "2h",
    containerOverrides: [{ name: "export", environment: { EXPORT_DATE: date } }],
  };
}

function harness() {
  const clock = new ManualClock();
  const aws = createSimulatedAws({ clock, clusters: ["batch"] });
  const runner = new EcsBatchRunner({ clients: aws.clients, clock });
  return { clock, aws, runner, run: (job: BatchJobInput) => clock.runUntil(runner.run(job)) };
}

describe("the nightly export", () => {
  it("survives a shard that crashes once", async () => {
    const { aws, run } = harness();
    aws.script(
      { taskIndex: 2, attempt: 1 },
      {
        exitCode: 137,
        containerReasons: { export: "OutOfMemoryError: Container killed due to memory usage" },
      },
    );
    aws.script({}, { logs: ["exporting shard", "done"] });

    const result = await run(nightlyExport("2026-11-26"));

    expect(result.status).toBe("succeeded");
    expect(result.tasks[2]?.attempts).toBe(2);
    expect(result.failedTaskArns).toHaveLength(1);
    expect(result.logs && "text" in result.logs ? result.logs.text : "").toContain("done");
    // Each shard was told which date to export.
    const env = aws
      .inputs<{
        overrides: { containerOverrides: { environment: { name: string; value: string }[] }[] };
      }>("RunTask")
      .map(
        (i) =>
          i.overrides.containerOverrides[0]?.environment.find((e) => e.name === "EXPORT_DATE")
            ?.value,
      );
    expect(new Set(env)).toEqual(new Set(["2026-11-26"]));
  });

  it("gives up after two retries and stops the other shards", async () => {
    const { aws, run } = harness();
    aws.script({}, { runMs: 30 * 60_000 });
    aws.script({ taskIndex: 0 }, { runMs: 60_000, exitCode: 1 });

    const result = await run(nightlyExport("2026-11-27"));

    expect(result.status).toBe("failed");
    expect(result.tasks[0]).toMatchObject({ status: "failed", attempts: 3 });
    expect(result.tasks.slice(1).every((t) => t.status === "stopped")).toBe(true);
    aws.assert.noUnfinishedTasks();
  });
});
