import {
  DeregisterTaskDefinitionCommand,
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type DescribeTasksCommandOutput,
  type ListTasksCommandOutput,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  type StopTaskCommandOutput,
  type Task,
} from "@aws-sdk/client-ecs";
import { beforeEach, describe, expect, it } from "vitest";
import { createSimulatedAws, ManualClock, type SimulatedAws } from "../../src/testing/index.js";

const definition = {
  family: "batch-job",
  requiresCompatibilities: ["FARGATE" as const],
  networkMode: "awsvpc" as const,
  cpu: "256",
  memory: "512",
  containerDefinitions: [
    {
      name: "main",
      image: "alpine:3.20",
      environment: [{ name: "LEVEL", value: "info" }],
      logConfiguration: {
        logDriver: "awslogs" as const,
        options: {
          "awslogs-group": "/ecs/batch",
          "awslogs-region": "us-west-2",
          "awslogs-stream-prefix": "ecs",
        },
      },
    },
    { name: "sidecar", image: "envoy", essential: false },
  ],
};

let aws: SimulatedAws;
let clock: ManualClock;

function runInput(
  index = 0,
  attempt = 1,
  extra: Partial<RunTaskCommandInput> = {},
): RunTaskCommandInput {
  return {
    cluster: "default",
    taskDefinition: "batch-job",
    launchType: "FARGATE",
    startedBy: `job-x-${index}`,
    networkConfiguration: { awsvpcConfiguration: { subnets: ["subnet-1"] } },
    tags: [
      { key: "ecs-batch:task-index", value: String(index) },
      { key: "ecs-batch:attempt", value: String(attempt) },
    ],
    ...extra,
  };
}

async function run(input: RunTaskCommandInput): Promise<RunTaskCommandOutput> {
  return (await aws.ecs.send(new RunTaskCommand(input))) as RunTaskCommandOutput;
}

async function describe1(arn: string): Promise<Task | undefined> {
  const out = (await aws.ecs.send(
    new DescribeTasksCommand({ cluster: "default", tasks: [arn] }),
  )) as DescribeTasksCommandOutput;
  return out.tasks?.[0];
}

beforeEach(() => {
  clock = new ManualClock({ start: Date.UTC(2026, 0, 1) });
  aws = createSimulatedAws({ clock });
  aws.registerTaskDefinition(definition);
});

describe("task lifecycle", () => {
  it("moves PROVISIONING → PENDING → RUNNING → DEPROVISIONING → STOPPED with exit codes", async () => {
    const out = await run(runInput());
    const task = out.tasks?.[0];
    expect(out.failures).toEqual([]);
    expect(task).toMatchObject({
      lastStatus: "PROVISIONING",
      desiredStatus: "RUNNING",
      startedBy: "job-x-0",
      launchType: "FARGATE",
    });
    expect(task?.taskArn).toMatch(
      /^arn:aws:ecs:us-west-2:123456789012:task\/default\/[0-9a-f]{32}$/,
    );
    const arn = task?.taskArn as string;
    const seen: string[] = [];
    for (let t = 0; t <= 20_000; t += 500) {
      const s = (await describe1(arn))?.lastStatus as string;
      if (seen.at(-1) !== s) seen.push(s);
      await clock.advance(500);
    }
    expect(seen).toEqual(["PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"]);
    const stopped = await describe1(arn);
    expect(stopped).toMatchObject({
      stopCode: "EssentialContainerExited",
      desiredStatus: "STOPPED",
    });
    expect(stopped?.containers?.map((c) => [c.name, c.exitCode, c.lastStatus])).toEqual([
      ["main", 0, "STOPPED"],
      ["sidecar", 0, "STOPPED"],
    ]);
    expect(stopped?.startedAt).toBeInstanceOf(Date);
    expect((stopped?.stoppedAt as Date).getTime()).toBeGreaterThan(
      (stopped?.startedAt as Date).getTime(),
    );
  });

  it("follows scripts per task index and attempt", async () => {
    aws.script(
      { taskIndex: 1, attempt: 1 },
      {
        exitCodes: { main: 3 },
        containerReasons: { main: "OutOfMemoryError: Container killed due to memory usage" },
      },
    );
    aws.script(
      { taskIndex: 2 },
      { startFailure: "CannotPullContainerError: pull image manifest has been retried 5 time(s)" },
    );
    const [a, b, c, d] = await Promise.all([
      run(runInput(0)),
      run(runInput(1)),
      run(runInput(2)),
      run(runInput(1, 2)),
    ]);
    await clock.advance(60_000);
    const [ta, tb, tc, td] = await Promise.all(
      [a, b, c, d].map((o) => describe1(o.tasks?.[0]?.taskArn as string)),
    );
    expect(ta?.containers?.[0]?.exitCode).toBe(0);
    expect(tb?.containers?.[0]).toMatchObject({
      exitCode: 3,
      reason: expect.stringContaining("OutOfMemoryError") as unknown,
    });
    expect(tc).toMatchObject({
      stopCode: "TaskFailedToStart",
      stoppedReason: expect.stringContaining("CannotPullContainerError") as unknown,
    });
    expect(tc?.containers?.[0]?.exitCode).toBeUndefined();
    expect(tc?.startedAt).toBeUndefined();
    expect(td?.containers?.[0]?.exitCode).toBe(0);
  });

  it("simulates Spot interruptions and stops by someone else", async () => {
    aws.script({ taskIndex: 0 }, { interrupted: { afterMs: 2000 } });
    aws.script(
      { taskIndex: 1 },
      { stoppedExternally: { afterMs: 1000, stoppedReason: "Scaling activity" } },
    );
    const [a, b] = await Promise.all([run(runInput(0)), run(runInput(1))]);
    await clock.advance(60_000);
    expect(await describe1(a.tasks?.[0]?.taskArn as string)).toMatchObject({
      stopCode: "SpotInterruption",
      stoppedReason: "Your Spot Task was interrupted.",
    });
    expect(await describe1(b.tasks?.[0]?.taskArn as string)).toMatchObject({
      stopCode: "UserInitiated",
      stoppedReason: "Scaling activity",
    });
  });

  it("forgets a task that goes missing and stopped tasks after the retention", async () => {
    aws.script({ taskIndex: 0 }, { missingAfterMs: 4000 });
    const a = await run(runInput(0));
    const b = await run(runInput(1));
    await clock.advance(5000);
    const out = (await aws.ecs.send(
      new DescribeTasksCommand({
        cluster: "default",
        tasks: [a.tasks?.[0]?.taskArn as string, b.tasks?.[0]?.taskArn as string],
      }),
    )) as DescribeTasksCommandOutput;
    expect(out.failures).toEqual([{ arn: a.tasks?.[0]?.taskArn, reason: "MISSING" }]);
    expect(out.tasks).toHaveLength(1);
    await clock.advance(20_000);
    expect((await describe1(b.tasks?.[0]?.taskArn as string))?.lastStatus).toBe("STOPPED");
    await clock.advance(3_600_000);
    expect(await describe1(b.tasks?.[0]?.taskArn as string)).toBeUndefined();
  });

  it("writes scripted log lines to the awslogs stream while RUNNING", async () => {
    aws.script(
      {},
      {
        logs: [
          "Starting application...",
          { message: "Processing", atMs: 1000 },
          { message: "proxy up", container: "sidecar" },
        ],
      },
    );
    const out = await run(runInput());
    const id = (out.tasks?.[0]?.taskArn as string).split("/").pop() as string;
    await clock.advance(5500);
    expect(aws.logEvents("/ecs/batch", `ecs/main/${id}`).map((e) => e.message)).toEqual([
      "Starting application...",
    ]);
    await clock.advance(2000);
    expect(aws.logEvents("/ecs/batch", `ecs/main/${id}`).map((e) => e.message)).toEqual([
      "Starting application...",
      "Processing",
    ]);
  });
});

describe("StopTask", () => {
  it("stops a running task with SIGTERM and the given reason", async () => {
    const out = await run(runInput());
    const arn = out.tasks?.[0]?.taskArn as string;
    await clock.advance(6000);
    const stop = (await aws.ecs.send(
      new StopTaskCommand({ cluster: "default", task: arn, reason: "job j1 timed out" }),
    )) as StopTaskCommandOutput;
    expect(stop.task).toMatchObject({ desiredStatus: "STOPPED", lastStatus: "RUNNING" });
    await clock.advance(10_000);
    expect(await describe1(arn)).toMatchObject({
      lastStatus: "STOPPED",
      stopCode: "UserInitiated",
      stoppedReason: "job j1 timed out",
      containers: [
        expect.objectContaining({ exitCode: 143 }),
        expect.objectContaining({ exitCode: 143 }),
      ],
    });
  });

  it("stops a task still provisioning without running it, and accepts task ids", async () => {
    aws.script({}, { logs: ["never"] });
    const out = await run(runInput());
    const arn = out.tasks?.[0]?.taskArn as string;
    await aws.ecs.send(new StopTaskCommand({ cluster: "default", task: arn.split("/").pop() }));
    await clock.advance(60_000);
    const t = await describe1(arn);
    expect(t).toMatchObject({ lastStatus: "STOPPED", stopCode: "UserInitiated" });
    expect(t?.startedAt).toBeUndefined();
    expect(t?.containers?.[0]?.exitCode).toBeUndefined();
  });

  it("rejects long reasons and unknown tasks", async () => {
    const out = await run(runInput());
    const arn = out.tasks?.[0]?.taskArn as string;
    await expect(
      aws.ecs.send(new StopTaskCommand({ cluster: "default", task: arn, reason: "x".repeat(256) })),
    ).rejects.toMatchObject({
      name: "InvalidParameterException",
    });
    await expect(
      aws.ecs.send(new StopTaskCommand({ cluster: "default", task: "nope" })),
    ).rejects.toMatchObject({ name: "InvalidParameterException" });
  });
});

describe("RunTask", () => {
  it("is idempotent per clientToken: a repeated request returns the same task", async () => {
    const first = await run(runInput(0, 1, { clientToken: "tok-1" }));
    const again = await run(runInput(0, 1, { clientToken: "tok-1" }));
    expect(again.tasks?.[0]?.taskArn).toBe(first.tasks?.[0]?.taskArn);
    expect(aws.taskHistory).toHaveLength(1);
    await expect(run(runInput(0, 2, { clientToken: "tok-1" }))).rejects.toMatchObject({
      name: "ConflictException",
      resourceIds: [first.tasks?.[0]?.taskArn],
    });
    await clock.advance(25 * 3_600_000);
    const later = await run(runInput(0, 2, { clientToken: "tok-1" }));
    expect(later.tasks?.[0]?.taskArn).not.toBe(first.tasks?.[0]?.taskArn);
  });

  it("reports scripted launch failures in failures[] and starts nothing", async () => {
    aws.failLaunch({ taskIndex: 0, attempt: 1 }, "RESOURCE:MEMORY");
    const out = await run(runInput(0, 1));
    expect(out.tasks).toEqual([]);
    expect(out.failures).toEqual([
      {
        arn: expect.stringContaining(":container-instance/") as unknown,
        reason: "RESOURCE:MEMORY",
      },
    ]);
    expect((await run(runInput(0, 2))).tasks).toHaveLength(1);
  });

  it.each<[string, Partial<RunTaskCommandInput>, string]>([
    ["unknown cluster", { cluster: "nope" }, "ClusterNotFoundException"],
    ["unknown definition", { taskDefinition: "other" }, "ClientException"],
    ["count above 10", { count: 11 }, "InvalidParameterException"],
    ["startedBy over 128 characters", { startedBy: "s".repeat(129) }, "InvalidParameterException"],
    ["awsvpc without network", { networkConfiguration: undefined }, "InvalidParameterException"],
    [
      "override of an unknown container",
      { overrides: { containerOverrides: [{ name: "nope" }] } },
      "InvalidParameterException",
    ],
    [
      "overrides over 8192 characters",
      { overrides: { containerOverrides: [{ name: "main", command: ["x".repeat(9000)] }] } },
      "InvalidParameterException",
    ],
    ["invalid Fargate size", { overrides: { cpu: "256", memory: "4096" } }, "ClientException"],
    [
      "launch type and capacity provider",
      { capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT" }] },
      "InvalidParameterException",
    ],
  ])("rejects %s", async (_what, extra, name) => {
    await expect(run(runInput(0, 1, extra))).rejects.toMatchObject({
      name,
      $fault: "client",
      $metadata: { httpStatusCode: 400 },
    });
  });

  it("runs FARGATE_SPOT through a capacity provider strategy", async () => {
    const out = await run(
      runInput(0, 1, {
        launchType: undefined,
        capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT", weight: 1 }],
      }),
    );
    expect(out.tasks?.[0]).toMatchObject({ capacityProviderName: "FARGATE_SPOT" });
  });

  it("throws a scripted error", async () => {
    aws.script({ taskIndex: 3 }, { runTaskError: "AccessDeniedException" });
    await expect(run(runInput(3))).rejects.toMatchObject({ name: "AccessDeniedException" });
  });
});

describe("DescribeTasks and ListTasks", () => {
  it("accepts at most 100 tasks and reports unknown ones as MISSING", async () => {
    const tasks = Array.from(
      { length: 101 },
      (_, i) => `arn:aws:ecs:us-west-2:123456789012:task/default/${i}`,
    );
    await expect(
      aws.ecs.send(new DescribeTasksCommand({ cluster: "default", tasks })),
    ).rejects.toMatchObject({ name: "InvalidParameterException" });
    const out = (await aws.ecs.send(
      new DescribeTasksCommand({ cluster: "default", tasks: tasks.slice(0, 100) }),
    )) as DescribeTasksCommandOutput;
    expect(out.failures).toHaveLength(100);
    expect(out.failures?.[0]).toEqual({ arn: tasks[0], reason: "MISSING" });
  });

  it("returns tags only when asked", async () => {
    const arn = (await run(runInput(4))).tasks?.[0]?.taskArn as string;
    expect((await describe1(arn))?.tags).toBeUndefined();
    const out = (await aws.ecs.send(
      new DescribeTasksCommand({ cluster: "default", tasks: [arn], include: ["TAGS"] }),
    )) as DescribeTasksCommandOutput;
    expect(out.tasks?.[0]?.tags).toContainEqual({ key: "ecs-batch:task-index", value: "4" });
  });

  it("lists by startedBy and desiredStatus, 100 per page", async () => {
    for (let i = 0; i < 150; i++) await run(runInput(i, 1, { startedBy: "same" }));
    const first = (await aws.ecs.send(
      new ListTasksCommand({ cluster: "default", startedBy: "same" }),
    )) as ListTasksCommandOutput;
    expect(first.taskArns).toHaveLength(100);
    const second = (await aws.ecs.send(
      new ListTasksCommand({ cluster: "default", startedBy: "same", nextToken: first.nextToken }),
    )) as ListTasksCommandOutput;
    expect(second.taskArns).toHaveLength(50);
    expect(second.nextToken).toBeUndefined();
    await clock.advance(60_000);
    const running = (await aws.ecs.send(
      new ListTasksCommand({ cluster: "default" }),
    )) as ListTasksCommandOutput;
    expect(running.taskArns).toEqual([]);
    const stopped = (await aws.ecs.send(
      new ListTasksCommand({ cluster: "default", desiredStatus: "STOPPED", maxResults: 10 }),
    )) as ListTasksCommandOutput;
    expect(stopped.taskArns).toHaveLength(10);
  });
});

describe("task definitions and clusters", () => {
  it("registers revisions, describes by family, family:revision or ARN, and deregisters", async () => {
    const second = aws.registerTaskDefinition({ ...definition, cpu: "512", memory: "1024" });
    expect(second.revision).toBe(2);
    const byFamily = (await aws.ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: "batch-job" }),
    )) as { taskDefinition: { revision: number } };
    expect(byFamily.taskDefinition.revision).toBe(2);
    await aws.ecs.send(new DeregisterTaskDefinitionCommand({ taskDefinition: "batch-job:2" }));
    const after = (await aws.ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: "batch-job" }),
    )) as { taskDefinition: { revision: number } };
    expect(after.taskDefinition.revision).toBe(1);
    const inactive = (await aws.ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: second.taskDefinitionArn }),
    )) as { taskDefinition: { status: string } };
    expect(inactive.taskDefinition.status).toBe("INACTIVE");
    await expect(
      aws.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: "unknown" })),
    ).rejects.toMatchObject({
      name: "ClientException",
      message: "Unable to describe task definition.",
    });
    await expect(run(runInput(0, 1, { taskDefinition: "batch-job:2" }))).rejects.toMatchObject({
      name: "ClientException",
    });
    const list = async (status: "ACTIVE" | "INACTIVE") =>
      (
        (await aws.ecs.send(
          new ListTaskDefinitionsCommand({ familyPrefix: "batch-job", status }),
        )) as {
          taskDefinitionArns: string[];
        }
      ).taskDefinitionArns;
    expect(await list("ACTIVE")).toEqual([expect.stringMatching(/batch-job:1$/)]);
    expect(await list("INACTIVE")).toEqual([second.taskDefinitionArn]);
  });

  it("fills in AWS defaults on registration", async () => {
    const out = (await aws.ecs.send(
      new RegisterTaskDefinitionCommand({ ...definition, family: "other" }),
    )) as {
      taskDefinition: {
        containerDefinitions: { essential: boolean; cpu: number }[];
        compatibilities: string[];
      };
    };
    expect(out.taskDefinition.containerDefinitions[0]).toMatchObject({ essential: true, cpu: 0 });
    expect(out.taskDefinition.compatibilities).toContain("FARGATE");
    await expect(
      aws.ecs.send(
        new RegisterTaskDefinitionCommand({ ...definition, family: "bad", memory: "4096" }),
      ),
    ).rejects.toMatchObject({
      name: "ClientException",
    });
  });

  it("describes clusters, reporting unknown ones as MISSING", async () => {
    aws.createCluster("batch");
    const out = (await aws.ecs.send(
      new DescribeClustersCommand({ clusters: ["batch", "nope"] }),
    )) as {
      clusters: { clusterName: string; status: string }[];
      failures: { reason: string }[];
    };
    expect(out.clusters).toMatchObject([{ clusterName: "batch", status: "ACTIVE" }]);
    expect(out.failures).toMatchObject([{ reason: "MISSING" }]);
  });
});
