/**
 * stopOverdue: the sweep for runs nobody drives any more. A run whose host died, and that no
 * process attached to, keeps its tasks running (and billing) past the deadline its tasks carry
 * in a tag; a scheduled `stopOverdue` stops them, and only them.
 */
import { RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { DEFAULT_OVERDUE_GRACE_MS, EcsBatchValidationError } from "../../src/index.js";
import { durableJob, world } from "./harness.js";

/** A dead host's run (`abandoned`, 10 minutes' timeout) beside a live one (2 hours'). */
async function abandonedBesideLive() {
  const w = world();
  const { aws, host, until } = w;
  aws.script({}, { runMs: 3 * 60 * 60_000 });
  const dead = host();
  const abandoned = dead.runner.submit(
    durableJob({ jobId: "abandoned", taskCount: 3, timeout: "10m" }),
  );
  const live = host();
  const watched = live.runner.submit(durableJob({ jobId: "watched", taskCount: 2, timeout: "2h" }));
  await until(
    () =>
      dead.events.filter((e) => e.name === "taskStarted").length === 3 &&
      live.events.filter((e) => e.name === "taskStarted").length === 2,
  );
  dead.kill();
  return { ...w, abandoned, watched, live };
}

const running = (aws: ReturnType<typeof world>["aws"], jobId: string) =>
  aws
    .tasks()
    .filter(
      (t) =>
        t.desiredStatus === "RUNNING" &&
        t.tags?.some((x) => x.key === "ecs-batch:job-id" && x.value === jobId),
    );

describe("stopOverdue", () => {
  it("stops the tasks of a run past its deadline that no process stops, after the grace, and no others", async () => {
    const { aws, clock, host, abandoned } = await abandonedBesideLive();
    const sweeper = host();
    const startedAt = aws.taskHistory[0]?.createdAt ?? 0;
    // Inside the grace: a live owner would have stopped its tasks at the deadline by now.
    await clock.runUntil(clock.sleep(startedAt + 10 * 60_000 + 60_000 - clock.now()));
    const early = await clock.runUntil(sweeper.runner.stopOverdue({ cluster: "default" }));
    expect(early.overdue).toEqual([]);
    expect(aws.count("StopTask")).toBe(0);

    await clock.runUntil(clock.sleep(DEFAULT_OVERDUE_GRACE_MS));
    const seen = await clock.runUntil(sweeper.runner.stopOverdue({ dryRun: true }));
    expect(seen.overdue.map((t) => [t.jobId, t.runId, t.taskIndex, t.attempt])).toEqual([
      ["abandoned", abandoned.runId, 0, 1],
      ["abandoned", abandoned.runId, 1, 1],
      ["abandoned", abandoned.runId, 2, 1],
    ]);
    expect(seen.stoppedTaskArns).toEqual([]);
    expect(aws.count("StopTask")).toBe(0);

    const swept = await clock.runUntil(sweeper.runner.stopOverdue());
    expect(swept.cluster).toBe("default");
    expect([...swept.stoppedTaskArns].sort()).toEqual(seen.overdue.map((t) => t.taskArn).sort());
    expect(swept.failedTaskArns).toEqual([]);
    const reasons = aws.inputs<{ reason: string }>("StopTask").map((i) => i.reason);
    expect(reasons).toHaveLength(3);
    for (const reason of reasons) {
      expect(reason).toMatch(
        /^ecs-batch-runner: job abandoned passed its deadline \S+Z by \d+m\d*s? with no process stopping it; stopped by stopOverdue$/,
      );
    }
    expect(running(aws, "abandoned")).toEqual([]);
    // The live run's deadline is an hour and a half away: untouched.
    expect(running(aws, "watched")).toHaveLength(2);
  });

  it("a run swept this way ends timed out when a process attaches to it, launching nothing", async () => {
    const { aws, clock, host, abandoned } = await abandonedBesideLive();
    await clock.runUntil(clock.sleep(20 * 60_000));
    await clock.runUntil(host().runner.stopOverdue());
    const launched = aws.count("RunTask");
    const result = await clock.runUntil(
      host().runner.attach(durableJob({ jobId: "abandoned", taskCount: 3, timeout: "10m" }), {
        runId: abandoned.runId,
      }).result,
    );
    expect(result.status).toBe("timedOut");
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped", "stopped"]);
    expect(result.failedTaskArns).toEqual([]);
    expect(aws.count("RunTask")).toBe(launched);
  });

  it("leaves alone a task already being stopped, and one without a deadline tag", async () => {
    const { aws, clock, host, abandoned } = await abandonedBesideLive();
    await clock.runUntil(clock.sleep(20 * 60_000));
    const [first] = running(aws, "abandoned");
    // Someone else stops one (desired STOPPED at once, STOPPED a little later)...
    await aws.clients.ecs.send(
      new StopTaskCommand({ cluster: "default", task: first?.taskArn, reason: "by hand" }),
    );
    // ...and another tool started a task with the runner's tags but no deadline.
    await aws.clients.ecs.send(
      new RunTaskCommand({
        cluster: "default",
        taskDefinition: first?.taskDefinitionArn,
        launchType: "FARGATE",
        networkConfiguration: { awsvpcConfiguration: { subnets: ["subnet-1"] } },
        tags: [
          { key: "ecs-batch:job-id", value: "abandoned" },
          { key: "ecs-batch:run-id", value: "by-hand" },
          { key: "ecs-batch:task-index", value: "0" },
          { key: "ecs-batch:attempt", value: "1" },
        ],
      }),
    );
    const seen = await clock.runUntil(host().runner.stopOverdue({ dryRun: true }));
    expect(seen.overdue.map((t) => [t.runId, t.taskIndex])).toEqual([
      [abandoned.runId, 1],
      [abandoned.runId, 2],
    ]);
    expect(running(aws, "abandoned")).toHaveLength(3);
  });

  it("a run whose owner is alive is stopped by its owner at the deadline: the sweep finds nothing", async () => {
    const { aws, clock, host, live, watched } = await abandonedBesideLive();
    const result = await clock.runUntil(watched.result);
    expect(result.status).toBe("timedOut");
    expect(live.events.some((e) => e.name === "timedOut")).toBe(true);
    await clock.runUntil(clock.sleep(DEFAULT_OVERDUE_GRACE_MS));
    const sweeper = host().runner;
    // Another family's tasks only: none of these.
    const elsewhere = await clock.runUntil(sweeper.stopOverdue({ family: "nightly-export" }));
    expect(elsewhere.overdue).toEqual([]);
    const swept = await clock.runUntil(sweeper.stopOverdue({ family: "batch-job" }));
    expect(new Set(swept.overdue.map((t) => t.jobId))).toEqual(new Set(["abandoned"]));
    expect(running(aws, "watched")).toEqual([]);
  });

  it("refuses a grace that is not a number of milliseconds, before any call", async () => {
    const { aws, clock, host } = world();
    const error = await clock.runUntil(
      host()
        .runner.stopOverdue({ graceMs: -1 })
        .catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(EcsBatchValidationError);
    expect((error as EcsBatchValidationError).issues.map((i) => i.path)).toEqual(["graceMs"]);
    expect(aws.calls).toHaveLength(0);
  });
});
