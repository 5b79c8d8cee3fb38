/**
 * Stopping over the wire: on timeout and on cancel the runner sends StopTask for every
 * unfinished task, with a reason that names the job, and afterwards moto shows them STOPPED.
 * The tasks are held RUNNING (moto's state manager) so only the runner can end them.
 */
import { expect, it } from "vitest";
import { EcsBatchRunner, type BatchJobInput } from "ecs-batch-runner";
import {
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

async function heldJob(jobId: string, extra: Partial<BatchJobInput> = {}): Promise<BatchJobInput> {
  await motoTasks.hold();
  return {
    jobId,
    cluster: await createCluster(aws.ecs),
    taskDefinition: { definition: template(unique("stop")) },
    taskCount: 3,
    pollInterval: "200ms",
    logs: { fetch: "none" },
    ...extra,
  };
}

function stopsSent(cluster: string): { task: string; reason: string }[] {
  return received("StopTask")
    .filter((r) => r.body.cluster === cluster)
    .map((r) => ({ task: String(r.body.task), reason: String(r.body.reason) }));
}

describeInterop("stopping tasks in moto", () => {
  it("stops every running task when the job times out, and moto shows them STOPPED", async () => {
    const job = await heldJob("late", { timeout: "3s" });
    const runner = new EcsBatchRunner({ clients: aws });
    const timedOut = collect(runner, "timedOut");

    const result = await runner.run(job);

    expect(result.status).toBe("timedOut");
    expect(result.failedTaskArns).toEqual([]);
    const arns = result.tasks.map((t) => t.taskArn ?? "");
    expect(arns.every((arn) => arn.startsWith("arn:aws:ecs:"))).toBe(true);
    expect(timedOut).toHaveLength(1);
    expect([...(timedOut[0]?.stoppedTaskArns ?? [])].sort()).toEqual([...arns].sort());

    const stops = stopsSent(job.cluster as string);
    expect(stops.map((s) => s.task).sort()).toEqual([...arns].sort());
    for (const stop of stops) {
      expect(stop.reason).toBe("ecs-batch-runner: job late timed out after 3s");
    }
    const tasks = await describeInMoto(aws.ecs, job.cluster as string, arns);
    expect(tasks).toHaveLength(3);
    for (const task of tasks) {
      expect(task.lastStatus).toBe("STOPPED");
      expect(task.desiredStatus).toBe("STOPPED");
      expect(task.stoppedReason).toBe("ecs-batch-runner: job late timed out after 3s");
    }
    // The runner watched them to the end: the result holds moto's final word.
    for (const task of result.tasks) {
      expect(task.stoppedReason).toBe("ecs-batch-runner: job late timed out after 3s");
    }
  });

  it("stops every running task when the job is cancelled, and moto shows them STOPPED", async () => {
    const job = await heldJob("enough");
    const runner = new EcsBatchRunner({ clients: aws });
    const started = nextEvents(runner, "taskStarted", 3);
    const handle = runner.submit(job);
    await started;

    handle.cancel("the operator said so");
    const result = await handle.result;

    expect(result.status).toBe("cancelled");
    expect(result.failedTaskArns).toEqual([]);
    const arns = result.tasks.map((t) => t.taskArn ?? "");
    const stops = stopsSent(job.cluster as string);
    expect(stops.map((s) => s.task).sort()).toEqual([...arns].sort());
    const tasks = await describeInMoto(aws.ecs, job.cluster as string, arns);
    for (const task of tasks) {
      expect(task.lastStatus).toBe("STOPPED");
      expect(task.desiredStatus).toBe("STOPPED");
      expect(task.stoppedReason).toMatch(/^ecs-batch-runner: job enough was cancelled/);
      expect(task.stoppedReason).toContain("the operator said so");
    }
  });

  it("stops the tasks when the caller's AbortSignal fires", async () => {
    const job = await heldJob("aborted", { taskCount: 2 });
    const runner = new EcsBatchRunner({ clients: aws });
    const controller = new AbortController();
    void nextEvents(runner, "taskStarted", 2).then(() => controller.abort("shutting down"));

    const result = await runner.run(job, { signal: controller.signal });

    expect(result.status).toBe("cancelled");
    const arns = result.tasks.map((t) => t.taskArn ?? "");
    const tasks = await describeInMoto(aws.ecs, job.cluster as string, arns);
    expect(tasks.map((t) => t.lastStatus)).toEqual(["STOPPED", "STOPPED"]);
    const stops = stopsSent(job.cluster as string);
    expect(stops.map((s) => s.task).sort()).toEqual([...arns].sort());
    for (const stop of stops) {
      expect(stop.reason).toBe("ecs-batch-runner: job aborted was cancelled: shutting down");
    }
  });
});
