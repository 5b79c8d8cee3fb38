/**
 * Durable runs over the wire (DESIGN 3.11): another runner, with clients of its own and nothing
 * shared with the one that started a run, finds the run's tasks in moto by their tags (ListTasks,
 * DescribeTasks with tags) to describe them, stop them, or carry the run on.
 */
import { expect, it } from "vitest";
import { EcsBatchRunner } from "ecs-batch-runner";
import {
  awsClients,
  collect,
  createCluster,
  describeInMoto,
  describeInterop,
  motoTasks,
  nextEvents,
  received,
  template,
  unique,
  useAws,
} from "./helpers.js";

const aws = useAws();

describeInterop("stopJob and describeJob against moto", () => {
  it("finds a run's tasks from another runner, describes them and stops them", async () => {
    await motoTasks.hold();
    const cluster = await createCluster(aws.ecs);
    const owner = new EcsBatchRunner({ clients: aws });
    const started = nextEvents(owner, "taskStarted", 3);
    const before = Date.now();
    const handle = owner.submit(
      {
        jobId: "left-behind",
        cluster,
        taskDefinition: { definition: template(unique("janitor")) },
        taskCount: 3,
        pollInterval: "200ms",
        timeout: "1h",
        logs: { fetch: "none" },
      },
      { runId: "run-a" },
    );
    const arns = (await started).map((e) => e.taskArn).sort();

    const other = awsClients();
    try {
      const janitor = new EcsBatchRunner({ clients: other });
      const seen = await janitor.describeJob({ jobId: "left-behind", cluster });
      expect(seen.runs.map((r) => r.runId)).toEqual(["run-a"]);
      const run = seen.runs[0];
      expect(run?.tasks.map((t) => `${t.taskIndex} ${t.attempt} ${t.lastStatus}`).sort()).toEqual([
        "0 1 RUNNING",
        "1 1 RUNNING",
        "2 1 RUNNING",
      ]);
      expect(run?.tasks.map((t) => t.taskArn).sort()).toEqual(arns);
      // The run's deadline travels in a tag: an hour from its start.
      const deadline = run?.deadline?.getTime() ?? 0;
      expect(deadline).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
      expect(deadline).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1000);

      const stopped = await janitor.stopJob({
        jobId: "left-behind",
        cluster,
        reason: "its host is gone",
      });
      expect(stopped.runIds).toEqual(["run-a"]);
      expect([...stopped.stoppedTaskArns].sort()).toEqual(arns);
      expect(stopped.failedTaskArns).toEqual([]);
    } finally {
      other.ecs.destroy();
      other.logs.destroy();
      other.ec2.destroy();
    }

    for (const task of await describeInMoto(aws.ecs, cluster, arns)) {
      expect(task.lastStatus).toBe("STOPPED");
      expect(task.stoppedReason).toBe(
        "ecs-batch-runner: job left-behind stopped by stopJob: its host is gone",
      );
    }
    expect(received("ListTasks").some((r) => r.body.cluster === cluster)).toBe(true);
    // The owner sees its tasks stopped and ends (moto gives them no stopCode: see the gaps).
    const result = await handle.result;
    expect(result.tasks.map((t) => t.taskArn).sort()).toEqual(arns);
  });

  it("carries on a run from ECS alone in another runner, launching nothing twice", async () => {
    await motoTasks.hold();
    const cluster = await createCluster(aws.ecs);
    const job = {
      jobId: "handed-over",
      cluster,
      taskDefinition: { definition: template(unique("attach")) },
      taskCount: 3,
      pollInterval: "200ms",
      timeout: "1h",
      logs: { fetch: "none" as const },
    };
    const owner = new EcsBatchRunner({ clients: aws });
    const started = nextEvents(owner, "taskStarted", 3);
    const first = owner.submit(job, { runId: "run-b" });
    const arns = (await started).map((e) => e.taskArn).sort();

    const other = awsClients();
    try {
      const heir = new EcsBatchRunner({ clients: other });
      const succeeded = collect(heir, "taskSucceeded");
      const handle = heir.attach(job, { runId: "run-b" });
      // Once the heir has found the run's tasks, moto lets them finish.
      await nextEvents(heir, "jobStarted", 1);
      await motoTasks.progress();
      const result = await handle.result;

      expect(result.runId).toBe("run-b");
      expect(result.status).toBe("succeeded");
      expect(result.tasks.map((t) => t.taskArn).sort()).toEqual(arns);
      expect(received("RunTask").filter((r) => r.body.cluster === cluster)).toHaveLength(3);
      // The heir watched the tasks to their end itself.
      expect(succeeded.map((e) => e.taskIndex).sort()).toEqual([0, 1, 2]);
      expect(succeeded.map((e) => e.taskArn).sort()).toEqual(arns);
    } finally {
      other.ecs.destroy();
      other.logs.destroy();
      other.ec2.destroy();
    }
    await first.result;
  });
});
