/**
 * RunTask as moto received it (from moto's request recorder) and as moto stored it (from its
 * DescribeTasks): the JSON the SDK really serialised, not the input object a mock is handed.
 */
import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { RegisterContainerInstanceCommand } from "@aws-sdk/client-ecs";
import { expect, it } from "vitest";
import { EcsBatchRunner } from "ecs-batch-runner";
import {
  createCluster,
  describeInMoto,
  describeInterop,
  received,
  template,
  unique,
  useAws,
  type Received,
} from "./helpers.js";

const aws = useAws();

function runTasksOf(cluster: string): Received[] {
  return received("RunTask").filter((r) => r.body.cluster === cluster);
}

interface Pair {
  key?: string;
  name?: string;
  value?: string;
}

/** `[{ key, value }]` tags or `[{ name, value }]` variables as a record. */
function asRecord(pairs: unknown, key: "key" | "name"): Record<string, string | undefined> {
  const entries = (pairs as Pair[]).map((p): [string, string | undefined] => [
    p[key] ?? "",
    p.value,
  ]);
  return Object.fromEntries(entries);
}

describeInterop("RunTask on the wire", () => {
  it("sends tags, overrides, startedBy and a client token per task, and moto keeps them", async () => {
    const cluster = await createCluster(aws.ecs);
    const family = unique("wire");
    const runner = new EcsBatchRunner({ clients: aws });
    const before = Date.now();
    const result = await runner.run(
      {
        jobId: "nightly",
        cluster,
        taskDefinition: { definition: template(family) },
        taskCount: 3,
        tags: { team: "data", "cost-center": "42" },
        containerOverrides: [
          {
            name: "main",
            command: ["export", "--day", "2026-12-05"],
            environment: { DAY: "5", GREETING: "hi" },
          },
        ],
        pollInterval: "200ms",
        logs: { fetch: "none" },
      },
      { runId: "run-1" },
    );
    expect(result.status).toBe("succeeded");

    const sent = runTasksOf(cluster).sort((a, b) =>
      String(a.body.startedBy).localeCompare(String(b.body.startedBy)),
    );
    expect(sent).toHaveLength(3);
    sent.forEach((r, index) => {
      const body = r.body;
      expect(body.startedBy).toBe(`ecs-batch-nightly-${index}`);
      expect(body.launchType).toBe("FARGATE");
      expect(body.capacityProviderStrategy).toBeUndefined();
      expect(body.taskDefinition).toBe(result.taskDefinitionArn);
      expect(body.count).toBe(1);
      expect(asRecord(body.tags, "key")).toEqual({
        team: "data",
        "cost-center": "42",
        "ecs-batch:job-id": "nightly",
        "ecs-batch:run-id": "run-1",
        "ecs-batch:task-index": String(index),
        "ecs-batch:attempt": "1",
        // The run's deadline (DESIGN 3.11): the default timeout, an hour from the start.
        "ecs-batch:deadline": expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/) as string,
      });
      const deadline = Date.parse(asRecord(body.tags, "key")["ecs-batch:deadline"] ?? "");
      expect(deadline).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
      expect(deadline).toBeLessThanOrEqual(Date.now() + 3_600_000);
      const overrides = body.overrides as {
        containerOverrides: { name: string; command?: string[]; environment: Pair[] }[];
      };
      expect(overrides.containerOverrides).toHaveLength(1);
      const main = overrides.containerOverrides[0];
      expect(main?.name).toBe("main");
      expect(main?.command).toEqual(["export", "--day", "2026-12-05"]);
      // The template's variables stay in the definition; the overrides carry the job's and the
      // runner's, merged by name.
      expect(asRecord(main?.environment, "name")).toEqual({
        GREETING: "hi",
        DAY: "5",
        TASK_NAME: `ecs-batch-nightly-${index}`,
        TASK_NUM: String(index),
        TASK_COUNT: "3",
        TASK_ATTEMPT: "1",
      });
      expect(typeof body.clientToken).toBe("string");
      expect(String(body.clientToken).length).toBeGreaterThan(0);
      expect(String(body.clientToken).length).toBeLessThanOrEqual(64);
    });
    // One token per task attempt.
    expect(new Set(sent.map((r) => r.body.clientToken)).size).toBe(3);

    // What moto made of it: the same tags, overrides and startedBy on the tasks it describes.
    const tasks = await describeInMoto(
      aws.ecs,
      cluster,
      result.tasks.map((t) => t.taskArn ?? ""),
    );
    expect(tasks).toHaveLength(3);
    for (const task of tasks) {
      const index = Number(asRecord(task.tags, "key")["ecs-batch:task-index"]);
      expect(task.startedBy).toBe(`ecs-batch-nightly-${index}`);
      expect(result.tasks[index]?.taskArn).toBe(task.taskArn);
      const env = asRecord(task.overrides?.containerOverrides?.[0]?.environment, "name");
      expect(env.TASK_NUM).toBe(String(index));
      expect(asRecord(task.tags, "key")["ecs-batch:job-id"]).toBe("nightly");
    }
  });

  it("derives each client token from the run: the same run id sends the same tokens again", async () => {
    // moto ignores clientToken (it starts a second task for a repeated token, where ECS would
    // return the first), so the wire is where idempotency can be checked: the bytes sent.
    const cluster = await createCluster(aws.ecs);
    const job = {
      jobId: "tokens",
      cluster,
      taskDefinition: { definition: template(unique("tokens")) },
      taskCount: 2,
      pollInterval: "200ms",
      logs: { fetch: "none" as const },
    };
    const tokens = (): unknown[] =>
      runTasksOf(cluster)
        .map((r) => r.body.clientToken)
        .sort();

    await new EcsBatchRunner({ clients: aws }).run(job, { runId: "same" });
    const first = tokens();
    await new EcsBatchRunner({ clients: aws }).run(job, { runId: "same" });
    const again = tokens().slice();
    await new EcsBatchRunner({ clients: aws }).run(job, { runId: "other" });
    const other = tokens().filter((t) => !again.includes(t));

    expect(first).toHaveLength(2);
    expect(again).toEqual([...first, ...first].sort());
    expect(other).toHaveLength(2);
  });

  it("sends FARGATE_SPOT as a capacity provider strategy, without a launch type", async () => {
    const cluster = await createCluster(aws.ecs, {
      capacityProviders: ["FARGATE", "FARGATE_SPOT"],
    });
    // moto places a task without a launch type on a container instance and fails with HTTP 500
    // when the cluster has none (it has no Fargate capacity providers): a stand-in instance.
    const instance = await aws.ec2.send(
      new RunInstancesCommand({ ImageId: "ami-12c6146b", MinCount: 1, MaxCount: 1 }),
    );
    await aws.ecs.send(
      new RegisterContainerInstanceCommand({
        cluster,
        instanceIdentityDocument: JSON.stringify({
          instanceId: instance.Instances?.[0]?.InstanceId,
        }),
      }),
    );
    const result = await new EcsBatchRunner({ clients: aws }).run({
      jobId: "spot",
      cluster,
      taskDefinition: { definition: template(unique("spot")) },
      taskCount: 2,
      launchType: "FARGATE_SPOT",
      pollInterval: "200ms",
      logs: { fetch: "none" },
    });

    expect(result.status).toBe("succeeded");
    const sent = runTasksOf(cluster);
    expect(sent).toHaveLength(2);
    for (const r of sent) {
      expect(r.body.capacityProviderStrategy).toEqual([
        { capacityProvider: "FARGATE_SPOT", weight: 1 },
      ]);
      expect(r.body).not.toHaveProperty("launchType");
    }
  });
});
