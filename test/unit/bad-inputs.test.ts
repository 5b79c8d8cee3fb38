import { beforeEach, describe, expect, it } from "vitest";
import { EcsBatchValidationError, type BatchJobInput } from "../../src/index.js";
import { createMocks, runnerFor, sentCommands, type Mocks } from "../helpers/aws-mocks.js";

const definition = {
  family: "batch-job",
  cpu: "256",
  memory: "512",
  networkMode: "awsvpc",
  requiresCompatibilities: ["FARGATE"],
  containerDefinitions: [{ name: "main", image: "alpine:3.20", essential: true }],
};
const ok = { taskDefinition: { definition } };

/** [what, input, field path the message must name] */
const cases: [string, unknown, string][] = [
  ["no input at all", undefined, "(job)"],
  ["missing taskDefinition", {}, "taskDefinition"],
  ["empty taskDefinition", { taskDefinition: {} }, "taskDefinition"],
  [
    "two taskDefinition sources",
    { taskDefinition: { path: "a.json", arn: "b:1" } },
    "taskDefinition",
  ],
  ["unknown taskDefinition key", { taskDefinition: { file: "a.json" } }, "taskDefinition.file"],
  ["jobId with spaces", { ...ok, jobId: "my job" }, "jobId"],
  ["jobId too long", { ...ok, jobId: "x".repeat(65) }, "jobId"],
  ["cluster with slashes", { ...ok, cluster: "a/b" }, "cluster"],
  ["taskCount zero", { ...ok, taskCount: 0 }, "taskCount"],
  ["taskCount fractional", { ...ok, taskCount: 2.5 }, "taskCount"],
  ["cpu not a size", { ...ok, cpu: "lots" }, "cpu"],
  ["cpu not on Fargate", { ...ok, cpu: 300 }, "cpu"],
  ["memory not valid for cpu", { ...ok, cpu: 256, memory: 4096 }, "memory"],
  ["timeout in words", { ...ok, timeout: "30 seconds" }, "timeout"],
  ["pollInterval too short", { ...ok, pollInterval: "10ms" }, "pollInterval"],
  ["pollInterval an object", { ...ok, pollInterval: { s: 30 } }, "pollInterval"],
  ["maxFailCount negative", { ...ok, maxFailCount: -1 }, "maxFailCount"],
  ["snake_case field", { ...ok, max_fail_count: 3 }, "max_fail_count"],
  ["launchType lowercase", { ...ok, launchType: "fargate" }, "launchType"],
  [
    "override without name",
    { ...ok, containerOverrides: [{ command: ["x"] }] },
    "containerOverrides[0].name",
  ],
  [
    "override of an unknown container",
    { ...ok, containerOverrides: [{ name: "sidecar" }] },
    "containerOverrides[0].name",
  ],
  [
    "same container overridden twice",
    { ...ok, containerOverrides: [{ name: "main" }, { name: "main" }] },
    "containerOverrides[1].name",
  ],
  [
    "command not a list",
    { ...ok, containerOverrides: [{ name: "main", command: "echo hi" }] },
    "containerOverrides[0].command",
  ],
  [
    "environment with an injected name",
    {
      ...ok,
      containerOverrides: [{ name: "main", environment: [{ name: "TASK_NUM", value: "1" }] }],
    },
    "containerOverrides[0].environment[0].name",
  ],
  [
    "misspelt override field",
    { ...ok, containerOverrides: [{ name: "main", enviroment: { A: "1" } }] },
    "containerOverrides[0].enviroment",
  ],
  ["subnet id malformed", { ...ok, network: { subnets: ["10.0.0.0/24"] } }, "network.subnets[0]"],
  [
    "subnets and vpcId",
    { ...ok, network: { subnets: ["subnet-1"], vpcId: "vpc-1" } },
    "network.vpcId",
  ],
  [
    "securityGroups without subnets",
    { ...ok, network: { securityGroups: ["sg-1"] } },
    "network.securityGroups",
  ],
  ["reserved tag prefix", { ...ok, tags: { "aws:owner": "me" } }, 'tags["aws:owner"]'],
  [
    "too many tags",
    { ...ok, tags: Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`t${i}`, "v"])) },
    "tags",
  ],
  [
    "patch op unknown",
    { ...ok, taskCustomizations: [{ op: "merge", path: "/x" }] },
    "taskCustomizations[0].op",
  ],
  [
    "patch add without value",
    { ...ok, taskCustomizations: [{ op: "add", path: "/x" }] },
    "taskCustomizations[0].value",
  ],
  [
    "patch path that does not apply",
    {
      ...ok,
      taskCustomizations: [
        { op: "add", path: "/enableExecuteCommand", value: true },
        { op: "replace", path: "/overrides/ephemeralStorage/sizeInGiB", value: 50 },
      ],
    },
    "taskCustomizations[1]",
  ],
  [
    "retry backoff initial above max",
    { ...ok, retry: { backoff: { initial: "2m", max: "1m" } } },
    "retry.backoff.initial",
  ],
  ["shouldRetry not a function", { ...ok, retry: { shouldRetry: true } }, "retry.shouldRetry"],
  ["logs.fetch unknown", { ...ok, logs: { fetch: "some" } }, "logs.fetch"],
  ["taskNamePrefix with spaces", { ...ok, taskNamePrefix: "my jobs" }, "taskNamePrefix"],
  [
    "task names over 128 characters",
    { ...ok, taskNamePrefix: "p".repeat(100), jobId: "j".repeat(30) },
    "taskNamePrefix",
  ],
  [
    "overrides over 8 KiB",
    { ...ok, containerOverrides: [{ name: "main", environment: { BIG: "x".repeat(9000) } }] },
    "containerOverrides",
  ],
  [
    "template without containers",
    { taskDefinition: { definition: { family: "x" } } },
    "taskDefinition.definition",
  ],
  [
    "template with bridge networking on Fargate",
    { taskDefinition: { definition: { ...definition, networkMode: "bridge" } } },
    "taskDefinition",
  ],
  [
    "Fargate template without a size",
    { taskDefinition: { definition: { ...definition, cpu: undefined, memory: undefined } } },
    "cpu",
  ],
  [
    "template file that does not exist",
    { taskDefinition: { path: "/nonexistent/task-definition.json" } },
    "taskDefinition.path",
  ],
  [
    "__proto__ in an environment record",
    {
      ...ok,
      containerOverrides: [
        { name: "main", environment: JSON.parse('{ "__proto__": "x" }') as unknown },
      ],
    },
    "containerOverrides[0].environment.__proto__",
  ],
  ["constructor as a tag key", { ...ok, tags: { constructor: "x" } }, "tags.constructor"],
  [
    "__proto__ as a tag key",
    { ...ok, tags: JSON.parse('{ "__proto__": "x" }') as unknown },
    "tags.__proto__",
  ],
  [
    "task definition ARN without a revision",
    { taskDefinition: { arn: "arn:aws:ecs:us-west-2:123456789012:task-definition/batch-job" } },
    "taskDefinition.arn",
  ],
  [
    "task definition family with a space",
    { taskDefinition: { arn: "batch job:3" } },
    "taskDefinition.arn",
  ],
  ["task definition revision 0", { taskDefinition: { arn: "batch-job:0" } }, "taskDefinition.arn"],
  [
    "executionRoleArn a role name",
    { ...ok, executionRoleArn: "ecsTaskExecutionRole" },
    "executionRoleArn",
  ],
  [
    "taskRoleArn not a role",
    { ...ok, taskRoleArn: "arn:aws:iam::123456789012:user/alice" },
    "taskRoleArn",
  ],
  ["timeout over 365 days", { ...ok, timeout: "8761h" }, "timeout"],
  ["timeout of 400 digits", { ...ok, timeout: "9".repeat(400) }, "timeout"],
  ["backoff max over 365 days", { ...ok, retry: { backoff: { max: 1e15 } } }, "retry.backoff.max"],
  [
    "patch on a field the runner relies on",
    { ...ok, taskCount: 2, taskCustomizations: [{ op: "replace", path: "/count", value: 3 }] },
    "taskCustomizations[0]",
  ],
  [
    "patch path through __proto__",
    { ...ok, taskCustomizations: [{ op: "add", path: "/__proto__/x", value: 1 }] },
    "taskCustomizations[0]",
  ],
];

describe("bad input", () => {
  let mocks: Mocks;
  beforeEach(() => {
    mocks = createMocks();
  });

  it("has at least 25 distinct cases", () => {
    expect(new Set(cases.map(([name]) => name)).size).toBeGreaterThanOrEqual(25);
  });

  it.each(cases)(
    "%s: EcsBatchValidationError naming the field, no AWS call",
    async (_name, input, path) => {
      const runner = runnerFor(mocks);
      const error = await runner.preview(input as BatchJobInput).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(EcsBatchValidationError);
      expect((error as Error).name).toBe("EcsBatchValidationError");
      const validation = error as EcsBatchValidationError;
      expect(validation.issues.map((i) => i.path)).toContain(path === "(job)" ? "" : path);
      expect(validation.message).toContain(path);
      expect(sentCommands(mocks)).toEqual([]);
    },
  );
});
