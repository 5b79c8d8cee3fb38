import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DescribeTaskDefinitionCommand,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
} from "@aws-sdk/client-ecs";
import { beforeEach, describe, expect, it, onTestFinished } from "vitest";
import {
  EcsBatchSetupError,
  loadTaskDefinition,
  parseJob,
  sameTaskDefinition,
  TaskDefinitionRegistry,
  applyJobToTemplate,
  templateFromObject,
} from "../../src/index.js";
import {
  awsError,
  clientException,
  createMocks,
  registered,
  runnerFor,
  type Mocks,
} from "../helpers/aws-mocks.js";

const template: RegisterTaskDefinitionCommandInput = {
  family: "batch-job",
  requiresCompatibilities: ["FARGATE"],
  networkMode: "awsvpc",
  cpu: "256",
  memory: "512",
  containerDefinitions: [
    {
      name: "main",
      image: "alpine:latest",
      environment: [
        { name: "LOG_LEVEL", value: "info" },
        { name: "ENVIRONMENT", value: "production" },
      ],
      portMappings: [{ containerPort: 8080 }],
    },
  ],
  ephemeralStorage: { sizeInGiB: 21 },
  runtimePlatform: { cpuArchitecture: "X86_64", operatingSystemFamily: "LINUX" },
};

describe("template sources", () => {
  it("loads { path } relative to baseDir, { definition } and { arn }", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebr-template-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "td.json"), JSON.stringify(template));
    const fromPath = await loadTaskDefinition({ kind: "path", path: "td.json" }, { baseDir: dir });
    expect(fromPath).toEqual({ kind: "template", template, origin: join(dir, "td.json") });
    const fromObject = await loadTaskDefinition({
      kind: "definition",
      definition: { ...template },
    });
    expect(fromObject).toMatchObject({ kind: "template", template });
    expect(await loadTaskDefinition({ kind: "arn", arn: "batch-job:7" })).toEqual({
      kind: "arn",
      arn: "batch-job:7",
    });
  });

  it("accepts describe-task-definition output and drops registration-only fields", () => {
    const described = { taskDefinition: registered(template, 4), tags: [{ key: "a", value: "b" }] };
    const loaded = templateFromObject(
      JSON.parse(JSON.stringify(described)),
      "taskDefinition.definition",
    );
    for (const field of [
      "taskDefinitionArn",
      "revision",
      "status",
      "requiresAttributes",
      "compatibilities",
      "registeredAt",
      "registeredBy",
    ]) {
      expect(loaded).not.toHaveProperty(field);
    }
    expect(loaded.ephemeralStorage).toEqual({ sizeInGiB: 21 });
    expect(loaded.runtimePlatform).toEqual(template.runtimePlatform);
  });

  it("applies the job's size and roles and keeps every other field", () => {
    const job = parseJob({
      taskDefinition: { definition: template },
      cpu: 1024,
      memory: 4096,
      taskRoleArn: "arn:aws:iam::123456789012:role/job",
    });
    const out = applyJobToTemplate(template, job);
    expect(out).toMatchObject({
      cpu: "1024",
      memory: "4096",
      taskRoleArn: "arn:aws:iam::123456789012:role/job",
    });
    expect(out.ephemeralStorage).toEqual({ sizeInGiB: 21 });
    expect(template.cpu).toBe("256");
  });

  it("adds FARGATE compatibility and awsvpc when the template leaves them out", () => {
    const bare = {
      family: "x",
      cpu: "512",
      memory: "1024",
      containerDefinitions: [{ name: "a", image: "b" }],
    };
    const out = applyJobToTemplate(bare, parseJob({ taskDefinition: { definition: bare } }));
    expect(out.requiresCompatibilities).toEqual(["FARGATE"]);
    expect(out.networkMode).toBe("awsvpc");
  });
});

describe("comparison with AWS defaults", () => {
  it("treats a registered definition as equal to its template", () => {
    expect(sameTaskDefinition(registered(template, 3), template)).toBe(true);
  });

  it("ignores environment order but not values", () => {
    const reordered = structuredClone(template);
    reordered.containerDefinitions![0]!.environment!.reverse();
    expect(sameTaskDefinition(registered(reordered, 3), template)).toBe(true);
    const changed = structuredClone(template);
    changed.containerDefinitions![0]!.environment![0]!.value = "debug";
    expect(sameTaskDefinition(registered(changed, 3), template)).toBe(false);
  });

  it("keeps essential: false distinct from the default", () => {
    const sidecar = structuredClone(template);
    sidecar.containerDefinitions![0]!.essential = false;
    expect(sameTaskDefinition(sidecar, template)).toBe(false);
  });
});

describe("TaskDefinitionRegistry", () => {
  let mocks: Mocks;
  beforeEach(() => {
    mocks = createMocks();
  });

  it("registers the first revision of a new family", async () => {
    const registry = new TaskDefinitionRegistry(mocks.clients.ecs);
    const out = await registry.resolveTemplate(template);
    expect(out.action).toBe("registered");
    expect(out.taskDefinitionArn).toMatch(/task-definition\/batch-job:1$/);
    expect(mocks.ecs).toHaveReceivedCommandWith(DescribeTaskDefinitionCommand, {
      taskDefinition: "batch-job",
    });
    expect(mocks.ecs).toHaveReceivedCommandWith(RegisterTaskDefinitionCommand, { ...template });
  });

  it("reuses the latest ACTIVE revision when it is equal after AWS defaults", async () => {
    mocks.ecs
      .on(DescribeTaskDefinitionCommand)
      .resolves({ taskDefinition: registered(template, 12) });
    const registry = new TaskDefinitionRegistry(mocks.clients.ecs);
    const out = await registry.resolveTemplate(template);
    expect(out).toMatchObject({ action: "reused" });
    expect(out.taskDefinitionArn).toMatch(/batch-job:12$/);
    expect(mocks.ecs).toHaveReceivedCommandTimes(RegisterTaskDefinitionCommand, 0);
  });

  it("registers a new revision when the template changed", async () => {
    const old = structuredClone(template);
    old.containerDefinitions![0]!.image = "alpine:3.19";
    mocks.ecs.on(DescribeTaskDefinitionCommand).resolves({ taskDefinition: registered(old, 12) });
    mocks.ecs
      .on(RegisterTaskDefinitionCommand)
      .resolves({ taskDefinition: registered(template, 13) });
    const out = await new TaskDefinitionRegistry(mocks.clients.ecs).resolveTemplate(template);
    expect(out.action).toBe("registered");
    expect(out.taskDefinitionArn).toMatch(/batch-job:13$/);
  });

  it("100 jobs with one template cost one describe and one register", async () => {
    const runner = runnerFor(mocks);
    const registry = new TaskDefinitionRegistry(mocks.clients.ecs);
    const outs = await Promise.all(
      Array.from({ length: 100 }, () => registry.resolveTemplate(structuredClone(template))),
    );
    expect(new Set(outs.map((o) => o.taskDefinitionArn)).size).toBe(1);
    expect(mocks.ecs).toHaveReceivedCommandTimes(DescribeTaskDefinitionCommand, 1);
    expect(mocks.ecs).toHaveReceivedCommandTimes(RegisterTaskDefinitionCommand, 1);
    // Previews never register; the runner's preview reuses what its registry learnt.
    await runner.preview({ taskDefinition: { definition: template } });
    expect(mocks.ecs).toHaveReceivedCommandTimes(RegisterTaskDefinitionCommand, 1);
  });

  it("does not cache a failure", async () => {
    mocks.ecs
      .on(DescribeTaskDefinitionCommand)
      .rejectsOnce(awsError("AccessDeniedException", "denied"))
      .rejects(clientException("Unable to describe task definition."));
    const registry = new TaskDefinitionRegistry(mocks.clients.ecs);
    await expect(registry.resolveTemplate(template)).rejects.toBeInstanceOf(EcsBatchSetupError);
    await expect(registry.resolveTemplate(template)).resolves.toMatchObject({
      action: "registered",
    });
  });

  it("describes an { arn } source once and requires it to be ACTIVE", async () => {
    mocks.ecs
      .on(DescribeTaskDefinitionCommand, { taskDefinition: "batch-job:12" })
      .resolves({ taskDefinition: registered(template, 12) });
    mocks.ecs
      .on(DescribeTaskDefinitionCommand, { taskDefinition: "batch-job:2" })
      .resolves({ taskDefinition: { ...registered(template, 2), status: "INACTIVE" } });
    const registry = new TaskDefinitionRegistry(mocks.clients.ecs);
    await registry.describe("batch-job:12");
    await registry.describe("batch-job:12");
    expect(mocks.ecs).toHaveReceivedCommandTimes(DescribeTaskDefinitionCommand, 1);
    await expect(registry.describe("batch-job:2")).rejects.toThrow(/INACTIVE/);
    await expect(registry.describe("nope:1")).rejects.toMatchObject({
      code: "TASK_DEFINITION_NOT_FOUND",
      name: "EcsBatchSetupError",
    });
  });

  it("explains a denied registration", async () => {
    mocks.ecs
      .on(RegisterTaskDefinitionCommand)
      .rejects(awsError("AccessDeniedException", "not allowed"));
    await expect(
      new TaskDefinitionRegistry(mocks.clients.ecs).resolveTemplate(template),
    ).rejects.toMatchObject({
      code: "ACCESS_DENIED",
      message: expect.stringContaining("ecs:RegisterTaskDefinition") as unknown,
    });
  });
});
