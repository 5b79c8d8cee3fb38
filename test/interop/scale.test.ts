/**
 * 150 tasks: DescribeTasks takes at most 100 ARNs, so every poll of this job is two calls, and
 * every task is followed to its end through them. moto holds the tasks RUNNING until all 150
 * have started, so all of them are watched at once whatever the machine's speed.
 */
import { expect, it } from "vitest";
import { EcsBatchRunner } from "ecs-batch-runner";
import {
  createCluster,
  describeInterop,
  motoTasks,
  nextEvents,
  received,
  template,
  unique,
  useAws,
} from "./helpers.js";

const aws = useAws();

describeInterop("a job of 150 tasks against moto", () => {
  it("runs every task to its end with DescribeTasks batched by 100", async () => {
    await motoTasks.hold();
    const cluster = await createCluster(aws.ecs);
    const runner = new EcsBatchRunner({
      clients: aws,
      // moto has no launch rate limit; the published one (20 tasks/s) would make this test 8 s.
      rateLimits: { runTask: { ratePerSecond: 500, burst: 150 } },
      maxConcurrentLaunches: 20,
    });
    void nextEvents(runner, "taskStarted", 150).then(() => motoTasks.progress());
    const result = await runner.run({
      jobId: "wide",
      cluster,
      taskDefinition: { definition: template(unique("wide")) },
      taskCount: 150,
      pollInterval: "200ms",
      logs: { fetch: "none" },
    });

    expect(result.status).toBe("succeeded");
    expect(result.tasks).toHaveLength(150);
    expect(result.tasks.every((t) => t.status === "succeeded" && t.attempts === 1)).toBe(true);
    const arns = new Set(result.tasks.map((t) => t.taskArn));
    expect(arns.size).toBe(150);

    expect(received("RunTask").filter((r) => r.body.cluster === cluster)).toHaveLength(150);
    const describes = received("DescribeTasks").filter((r) => r.body.cluster === cluster);
    const sizes = describes.map((r) => (r.body.tasks as string[]).length);
    // At most 100 per call, and filled up to it: never one call per task.
    expect(Math.max(...sizes)).toBe(100);
    expect(sizes.reduce((a, b) => a + b, 0) / sizes.length).toBeGreaterThan(10);
    // Every task is named until moto shows it STOPPED (four mentions after the hold), none
    // twice in one call.
    const mentions = new Map<string, number>();
    for (const r of describes) {
      const names = r.body.tasks as string[];
      expect(new Set(names).size).toBe(names.length);
      for (const arn of names) mentions.set(arn, (mentions.get(arn) ?? 0) + 1);
    }
    expect([...mentions.keys()].sort()).toEqual([...arns].sort());
    expect([...mentions.values()].every((n) => n >= 4)).toBe(true);
  });
});
