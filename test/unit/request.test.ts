import {
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
} from "@aws-sdk/client-ec2";
import {
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
} from "@aws-sdk/client-ecs";
import { beforeEach, describe, expect, it } from "vitest";
import {
  applyCustomizations,
  buildContainerOverrides,
  buildRunTaskInput,
  clientToken,
  EcsBatchSetupError,
  effectiveEnvironment,
  injectedEnvironment,
  mergeContainerOverrides,
  mergeEnvironment,
  NetworkResolver,
  type LaunchPlan,
} from "../../src/index.js";
import {
  awsError,
  createMocks,
  registered,
  runnerFor,
  sentCommands,
  type Mocks,
} from "../helpers/aws-mocks.js";

const plan: LaunchPlan = {
  jobId: "abc123",
  cluster: "batch",
  taskDefinitionArn: "arn:aws:ecs:us-west-2:123456789012:task-definition/batch-job:3",
  containerNames: ["main", "sidecar"],
  taskCount: 3,
  taskNamePrefix: "heimdall-job",
  containerOverrides: [
    { name: "sidecar", environment: [{ name: "MODE", value: "proxy" }] },
    {
      name: "main",
      command: ["/run.sh"],
      environment: [{ name: "CUSTOM_VAR", value: "custom_value" }],
      cpu: 128,
    },
  ],
  taskOverrides: {},
  launchType: "FARGATE",
  network: { subnets: ["subnet-1"], securityGroups: ["sg-1"], assignPublicIp: "DISABLED" },
  tags: { team: "data" },
  taskCustomizations: [],
};

describe("merging (DESIGN 3.8)", () => {
  it("merges environment by name, later layers winning, first position kept", () => {
    expect(
      mergeEnvironment(
        [
          { name: "A", value: "1" },
          { name: "B", value: "2" },
        ],
        [{ name: "A", value: "x" }],
        [{ name: "C", value: "3" }],
      ),
    ).toEqual([
      { name: "A", value: "x" },
      { name: "B", value: "2" },
      { name: "C", value: "3" },
    ]);
  });

  it("gives the Heimdall README's final environment: template < override < injected", () => {
    const input = buildRunTaskInput({ ...plan, containerNames: ["main"] }, 0, 1);
    const main = input.overrides?.containerOverrides?.find((c) => c.name === "main");
    const env = effectiveEnvironment(
      [
        { name: "ENVIRONMENT", value: "production" },
        { name: "LOG_LEVEL", value: "info" },
      ],
      main,
    );
    expect(env).toEqual([
      { name: "ENVIRONMENT", value: "production" },
      { name: "LOG_LEVEL", value: "info" },
      { name: "CUSTOM_VAR", value: "custom_value" },
      { name: "TASK_NAME", value: "heimdall-job-abc123-0" },
      { name: "TASK_NUM", value: "0" },
      { name: "TASK_COUNT", value: "3" },
      { name: "TASK_ATTEMPT", value: "1" },
    ]);
  });

  it("matches overrides by container name, never by position", () => {
    const input = buildRunTaskInput(plan, 2, 1);
    const [first, second] = input.overrides?.containerOverrides ?? [];
    expect(first?.name).toBe("main");
    expect(first?.command).toEqual(["/run.sh"]);
    expect(first?.cpu).toBe(128);
    expect(second?.name).toBe("sidecar");
    expect(second?.command).toBeUndefined();
    expect(second?.environment?.[0]).toEqual({ name: "MODE", value: "proxy" });
  });

  it("merges two override lists by container and variable name", () => {
    expect(
      mergeContainerOverrides(
        [
          {
            name: "main",
            command: ["a"],
            environment: [
              { name: "X", value: "cmd" },
              { name: "Y", value: "cmd" },
            ],
          },
          { name: "other", command: ["o"] },
        ],
        [
          { name: "main", environment: [{ name: "X", value: "job" }] },
          { name: "new", cpu: 256 },
        ],
      ),
    ).toEqual([
      {
        name: "main",
        command: ["a"],
        environment: [
          { name: "X", value: "job" },
          { name: "Y", value: "cmd" },
        ],
      },
      { name: "other", command: ["o"] },
      { name: "new", cpu: 256 },
    ]);
  });

  it("injected variables win over a same-named override", () => {
    const input = buildRunTaskInput(
      {
        ...plan,
        containerOverrides: [{ name: "main", environment: [{ name: "TASK_NUM", value: "99" }] }],
      },
      1,
      2,
    );
    const env = input.overrides?.containerOverrides?.[0]?.environment;
    expect(env?.filter((e) => e.name === "TASK_NUM")).toEqual([{ name: "TASK_NUM", value: "1" }]);
  });
});

describe("RunTask input", () => {
  it("carries name, tags, token and network for one attempt", () => {
    const input = buildRunTaskInput(plan, 1, 2);
    expect(input).toMatchObject({
      cluster: "batch",
      taskDefinition: plan.taskDefinitionArn,
      count: 1,
      startedBy: "heimdall-job-abc123-1",
      launchType: "FARGATE",
      networkConfiguration: { awsvpcConfiguration: plan.network },
      tags: [
        { key: "team", value: "data" },
        { key: "ecs-batch:job-id", value: "abc123" },
        { key: "ecs-batch:task-index", value: "1" },
        { key: "ecs-batch:attempt", value: "2" },
      ],
    });
    expect(input.clientToken).toBe(clientToken("abc123", 1, 2));
  });

  it("derives distinct client tokens of at most 64 characters", () => {
    const long = "j".repeat(64);
    const tokens = new Set<string>();
    for (let i = 0; i < 50; i++) for (let a = 1; a <= 4; a++) tokens.add(clientToken(long, i, a));
    expect(tokens.size).toBe(200);
    for (const t of tokens) expect(t.length).toBeLessThanOrEqual(64);
    expect(clientToken("abc", 1, 1)).toBe(clientToken("abc", 1, 1));
    // Pinned: a host restarted on a newer version must derive the tokens its tasks were sent with.
    expect(clientToken("abc123", 1, 2)).toBe(
      "abc123-1-2-79f8c30418f217ce99a0e1ba0fd8dcb6df547fb310d565bad8fb5",
    );
    expect(clientToken("abc", 1, 1)).not.toBe(clientToken("abd", 1, 1));
  });

  it("turns FARGATE_SPOT into a capacity provider strategy", () => {
    const input = buildRunTaskInput({ ...plan, launchType: "FARGATE_SPOT" }, 0, 1);
    expect(input.launchType).toBeUndefined();
    expect(input.capacityProviderStrategy).toEqual([
      { capacityProvider: "FARGATE_SPOT", weight: 1 },
    ]);
  });

  it("applies JSON patches that add, replace and remove", () => {
    const input = buildRunTaskInput(
      {
        ...plan,
        taskCustomizations: [
          { op: "add", path: "/enableExecuteCommand", value: true },
          {
            op: "replace",
            path: "/networkConfiguration/awsvpcConfiguration/assignPublicIp",
            value: "ENABLED",
          },
          { op: "remove", path: "/tags/0" },
          { op: "add", path: "/overrides/ephemeralStorage", value: { sizeInGiB: 50 } },
        ],
      },
      0,
      1,
    );
    expect(input.enableExecuteCommand).toBe(true);
    expect(input.networkConfiguration?.awsvpcConfiguration?.assignPublicIp).toBe("ENABLED");
    expect(input.tags?.[0]?.key).toBe("ecs-batch:job-id");
    expect(input.overrides?.ephemeralStorage).toEqual({ sizeInGiB: 50 });
  });

  it("gives every task the merged overrides plus its own injected variables, sharing nothing it could change", () => {
    for (const [index, attempt] of [
      [0, 1],
      [2, 3],
    ] as const) {
      const input = buildRunTaskInput(plan, index, attempt);
      const injected = injectedEnvironment({
        taskName: `heimdall-job-abc123-${String(index)}`,
        index,
        taskCount: 3,
        attempt,
      });
      expect(input.overrides?.containerOverrides).toEqual(
        buildContainerOverrides(plan.containerNames, plan.containerOverrides, injected),
      );
      // Spoil this task's request: the next one must not see it.
      const main = input.overrides?.containerOverrides?.[0];
      main?.command?.push("--spoiled");
      main?.environment?.push({ name: "SPOILED", value: "1" });
      input.networkConfiguration?.awsvpcConfiguration?.subnets?.push("subnet-spoiled");
      input.tags?.push({ key: "spoiled", value: "1" });
    }
    const nextInput = buildRunTaskInput(plan, 1, 1);
    expect(nextInput.networkConfiguration?.awsvpcConfiguration).toEqual(plan.network);
    expect(nextInput.tags?.map((t) => t.key)).toEqual([
      "team",
      "ecs-batch:job-id",
      "ecs-batch:task-index",
      "ecs-batch:attempt",
    ]);
    const next = nextInput.overrides?.containerOverrides?.[0];
    expect(next?.command).toEqual(["/run.sh"]);
    expect(next?.environment?.map((e) => e.name)).toEqual([
      "CUSTOM_VAR",
      "TASK_NAME",
      "TASK_NUM",
      "TASK_COUNT",
      "TASK_ATTEMPT",
    ]);
  });

  it("keeps an injected variable a hand-built plan sets in its place, with the runner's value", () => {
    const own: LaunchPlan = {
      ...plan,
      containerOverrides: [
        {
          name: "main",
          environment: [
            { name: "TASK_ATTEMPT", value: "mine" },
            { name: "OTHER", value: "x" },
          ],
        },
      ],
    };
    const env = buildRunTaskInput(own, 0, 2).overrides?.containerOverrides?.[0]?.environment;
    expect(env?.slice(0, 2)).toEqual([
      { name: "TASK_ATTEMPT", value: "2" },
      { name: "OTHER", value: "x" },
    ]);
  });

  it("leaves the input of applyCustomizations untouched", () => {
    const input = buildRunTaskInput(plan, 0, 1);
    const before = structuredClone(input);
    applyCustomizations(input, [{ op: "remove", path: "/tags" }]);
    expect(input).toEqual(before);
  });
});

describe("network", () => {
  let mocks: Mocks;
  beforeEach(() => {
    mocks = createMocks();
  });

  it("uses explicit settings as given, assignPublicIp DISABLED by default, with no EC2 call", async () => {
    const resolver = new NetworkResolver(mocks.clients.ec2);
    expect(
      await resolver.resolve(
        { kind: "explicit", subnets: ["subnet-1"], securityGroups: [], assignPublicIp: "DISABLED" },
        "awsvpc",
      ),
    ).toEqual({
      subnets: ["subnet-1"],
      securityGroups: [],
      assignPublicIp: "DISABLED",
    });
    expect(sentCommands(mocks)).toEqual([]);
  });

  it("infers the default VPC's subnets and default security group, once", async () => {
    const resolver = new NetworkResolver(mocks.clients.ec2);
    const a = await resolver.resolve(undefined, "awsvpc");
    const b = await resolver.resolve({ kind: "infer" }, "awsvpc");
    expect(a).toEqual({
      subnets: ["subnet-aaaa1111", "subnet-bbbb2222"],
      securityGroups: ["sg-default1"],
      assignPublicIp: "ENABLED",
    });
    expect(b).toEqual(a);
    expect(mocks.ec2).toHaveReceivedCommandWith(DescribeVpcsCommand, {
      Filters: [{ Name: "is-default", Values: ["true"] }],
    });
    expect(mocks.ec2).toHaveReceivedCommandWith(DescribeSubnetsCommand, {
      Filters: [{ Name: "vpc-id", Values: ["vpc-default1"] }],
    });
    expect(mocks.ec2).toHaveReceivedCommandWith(DescribeSecurityGroupsCommand, {
      Filters: [
        { Name: "vpc-id", Values: ["vpc-default1"] },
        { Name: "group-name", Values: ["default"] },
      ],
    });
    expect(mocks.ec2).toHaveReceivedCommandTimes(DescribeVpcsCommand, 1);
  });

  it("looks up a named VPC and pages through its subnets", async () => {
    mocks.ec2
      .on(DescribeVpcsCommand, { VpcIds: ["vpc-other"] })
      .resolves({ Vpcs: [{ VpcId: "vpc-other" }] });
    mocks.ec2
      .on(DescribeSubnetsCommand)
      .resolvesOnce({ Subnets: [{ SubnetId: "subnet-1" }], NextToken: "t1" })
      .resolvesOnce({ Subnets: [{ SubnetId: "subnet-2" }] });
    const out = await new NetworkResolver(mocks.clients.ec2).resolve(
      { kind: "infer", vpcId: "vpc-other" },
      "awsvpc",
    );
    expect(out?.subnets).toEqual(["subnet-1", "subnet-2"]);
  });

  it("needs no network for bridge mode", async () => {
    expect(
      await new NetworkResolver(mocks.clients.ec2).resolve(undefined, "bridge"),
    ).toBeUndefined();
    expect(sentCommands(mocks)).toEqual([]);
  });

  it("fails setup when there is no default VPC, saying how to pass network", async () => {
    mocks.ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [] });
    const error = await new NetworkResolver(mocks.clients.ec2)
      .resolve(undefined, "awsvpc")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "NETWORK_NOT_INFERABLE" });
    expect((error as Error).message).toMatch(/default VPC was not found.*network: \{ subnets/);
  });

  it("fails setup when the VPC has no subnets, or EC2 denies access", async () => {
    mocks.ec2.on(DescribeSubnetsCommand).resolves({ Subnets: [] });
    await expect(
      new NetworkResolver(mocks.clients.ec2).resolve(undefined, "awsvpc"),
    ).rejects.toThrow(/has no subnets/);
    mocks.ec2
      .on(DescribeVpcsCommand)
      .rejects(awsError("UnauthorizedOperation", "You are not authorized"));
    await expect(
      new NetworkResolver(mocks.clients.ec2).resolve(undefined, "awsvpc"),
    ).rejects.toThrow(/ec2:DescribeVpcs/);
  });
});

describe("preview", () => {
  let mocks: Mocks;
  beforeEach(() => {
    mocks = createMocks();
  });

  const definition = {
    family: "batch-job",
    cpu: "256",
    memory: "512",
    networkMode: "awsvpc",
    requiresCompatibilities: ["FARGATE"],
    containerDefinitions: [{ name: "main", image: "alpine:3.20" }],
  };

  it("returns the definition to register and every task's RunTask input, launching nothing", async () => {
    const runner = runnerFor(mocks);
    const plan = await runner.preview({
      jobId: "j1",
      cluster: "batch",
      taskDefinition: { definition },
      taskCount: 3,
    });
    expect(plan.taskDefinition).toEqual({ action: "register", input: { ...definition } });
    expect(plan.runTaskInputs).toHaveLength(3);
    expect(plan.runTaskInputs.map((i) => i.startedBy)).toEqual([
      "ecs-batch-j1-0",
      "ecs-batch-j1-1",
      "ecs-batch-j1-2",
    ]);
    expect(plan.runTaskInputs[0]?.taskDefinition).toBe("batch-job");
    expect(plan.network?.subnets).toEqual(["subnet-aaaa1111", "subnet-bbbb2222"]);
    expect(mocks.ecs).toHaveReceivedCommandWith(DescribeClustersCommand, { clusters: ["batch"] });
    expect(mocks.ecs).toHaveReceivedCommandTimes(RegisterTaskDefinitionCommand, 0);
    expect(mocks.ecs).toHaveReceivedCommandTimes(RunTaskCommand, 0);
  });

  it("gives every task's input as a copy of its own, so editing one changes no other", async () => {
    const runner = runnerFor(mocks);
    const plan = await runner.preview({
      jobId: "j1",
      cluster: "batch",
      taskDefinition: { definition },
      taskCount: 2,
      containerOverrides: [{ name: "main", environment: [{ name: "MODE", value: "full" }] }],
      tags: { team: "data" },
    });
    const [first, second] = plan.runTaskInputs;
    const entry = first?.overrides?.containerOverrides?.[0]?.environment?.[0];
    if (entry !== undefined) entry.value = "edited";
    const tag = first?.tags?.[0];
    if (tag !== undefined) tag.value = "edited";
    expect(second?.overrides?.containerOverrides?.[0]?.environment?.[0]).toEqual({
      name: "MODE",
      value: "full",
    });
    expect(second?.tags?.[0]).toEqual({ key: "team", value: "data" });
  });

  it("reports a missing cluster as a setup error", async () => {
    mocks.ecs.on(DescribeClustersCommand).resolves({
      clusters: [],
      failures: [{ arn: "arn:aws:ecs:us-west-2:123456789012:cluster/nope", reason: "MISSING" }],
    });
    await expect(
      runnerFor(mocks).preview({ cluster: "nope", taskDefinition: { definition } }),
    ).rejects.toMatchObject({
      name: "EcsBatchSetupError",
      code: "CLUSTER_NOT_FOUND",
    });
  });
});

describe("checks that need AWS facts", () => {
  it("reports oversized overrides of an { arn } definition as a setup error, before any RunTask", async () => {
    const mocks = createMocks();
    mocks.ecs.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: registered(
        {
          family: "existing",
          cpu: "256",
          memory: "512",
          networkMode: "awsvpc",
          requiresCompatibilities: ["FARGATE"],
          containerDefinitions: [{ name: "main", image: "x" }],
        },
        4,
      ),
    });
    const error = await runnerFor(mocks)
      .run({
        taskDefinition: { arn: "existing:4" },
        network: { subnets: ["subnet-1"] },
        containerOverrides: [{ name: "main", environment: { BIG: "x".repeat(9000) } }],
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "INVALID_PARAMETER" });
    expect((error as Error).message).toContain("containerOverrides: RunTask overrides would be");
    expect(mocks.ecs).toHaveReceivedCommandTimes(RunTaskCommand, 0);
  });
});
