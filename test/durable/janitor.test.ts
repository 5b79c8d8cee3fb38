/** stopJob and describeJob: a run's tasks found in ECS from any process (DESIGN 3.11). */
import { describe, expect, it } from "vitest";
import { EcsBatchValidationError, MemoryJobStore } from "../../src/index.js";
import { durableJob, world } from "./harness.js";

describe("stopJob", () => {
  it("stops every unfinished task of a run whose host died, with a reason naming the job", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const first = host();
    const handle = first.runner.submit(durableJob({ taskCount: 4 }));
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 4);
    first.kill();
    const janitor = host();
    const stopped = await clock.runUntil(
      janitor.runner.stopJob({ jobId: "durable1", cluster: "default", reason: "host lost" }),
    );
    expect(stopped.runIds).toEqual([handle.runId]);
    expect(stopped.stoppedTaskArns).toHaveLength(4);
    expect(stopped.failedTaskArns).toEqual([]);
    expect(aws.inputs<{ reason: string }>("StopTask").map((i) => i.reason)).toEqual(
      Array<string>(4).fill("ecs-batch-runner: job durable1 stopped by stopJob: host lost"),
    );
    await clock.runUntil(clock.sleep(60_000));
    aws.assert.noUnfinishedTasks();
  });

  it("leaves other jobs' tasks alone, and one run's siblings when a run is named", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const first = host();
    const a = first.runner.submit(durableJob({ taskCount: 2 }));
    const b = first.runner.submit(durableJob({ taskCount: 2 }));
    const other = first.runner.submit(durableJob({ jobId: "other", taskCount: 1 }));
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 5);
    first.kill();
    const stopped = await clock.runUntil(
      host().runner.stopJob({ jobId: "durable1", runId: a.runId }),
    );
    expect(stopped.runIds).toEqual([a.runId]);
    expect(stopped.stoppedTaskArns).toHaveLength(2);
    const left = aws.tasks().filter((t) => t.desiredStatus === "RUNNING");
    expect(
      left.map((t) => t.tags?.find((x) => x.key === "ecs-batch:run-id")?.value).sort(),
    ).toEqual([b.runId, b.runId, other.runId].sort());
  });

  it("refuses a query that cannot name a job", async () => {
    const { clock, host } = world();
    const error = await clock.runUntil(
      host()
        .runner.stopJob({ jobId: "no spaces" })
        .catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(EcsBatchValidationError);
  });
});

describe("describeJob", () => {
  it("reports each run's tasks from ECS, newest run first, and the store's checkpoint", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const store = new MemoryJobStore();
    const first = host({ store });
    await clock.runUntil(first.runner.run(durableJob({ taskCount: 1 }), { runId: "a-older" }));
    aws.script({}, { runMs: 60 * 60_000 });
    first.runner.submit(durableJob({ taskCount: 2 }), { runId: "b-newer" });
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 3);
    const seen = await clock.runUntil(host({ store }).runner.describeJob({ jobId: "durable1" }));
    expect(seen.runs.map((r) => r.runId)).toEqual(["b-newer", "a-older"]);
    expect(seen.runs[0]?.tasks.map((t) => [t.taskIndex, t.attempt, t.lastStatus])).toEqual([
      [0, 1, "PROVISIONING"],
      [1, 1, "PROVISIONING"],
    ]);
    expect(seen.runs[0]?.checkpoint?.state).toBe("running");
    expect(seen.runs[1]?.checkpoint).toMatchObject({ state: "finished" });
  });
});
