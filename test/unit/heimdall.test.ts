import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  EcsBatchValidationError,
  fromHeimdall,
  loadHeimdallFiles,
  parseJob,
} from "../../src/index.js";
import { createMocks, runnerFor } from "../helpers/aws-mocks.js";

const fixtures = join(import.meta.dirname, "..", "fixtures");
const files = {
  command: join(fixtures, "heimdall-command.yaml"),
  cluster: join(fixtures, "heimdall-cluster.yaml"),
  job: join(fixtures, "heimdall-job.json"),
};

describe("fromHeimdall on the README's complete example", () => {
  it("converts command, cluster and job into a native job", async () => {
    const loaded = await loadHeimdallFiles(files);
    const job = fromHeimdall({ ...loaded, jobId: "abc123" });
    expect(job).toEqual({
      jobId: "abc123",
      cluster: "my-fargate-cluster",
      taskDefinition: { path: join(fixtures, "heimdall-task-definition.json") },
      taskCount: 2,
      cpu: 256,
      memory: 512,
      containerOverrides: [
        {
          name: "main",
          environment: [
            { name: "CUSTOM_VAR", value: "custom_value" },
            { name: "DATA_SOURCE", value: "s3://my-bucket/data/" },
          ],
        },
      ],
      launchType: "FARGATE",
      network: { subnets: ["subnet-12345678", "subnet-87654321"], securityGroups: ["sg-12345678"] },
      executionRoleArn: "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
      taskRoleArn: "arn:aws:iam::123456789012:role/ecsTaskRole",
      tags: {},
      pollInterval: "30s",
      timeout: "1h",
      maxFailCount: 3,
      taskNamePrefix: "heimdall-job",
    });
    expect(parseJob(job).maxFailCount).toBe(3);
  });

  it("previews each task with the README's final environment and TASK_NAME", async () => {
    const loaded = await loadHeimdallFiles(files);
    const mocks = createMocks();
    const plan = await runnerFor(mocks).preview(fromHeimdall({ ...loaded, jobId: "abc123" }));
    expect(plan.runTaskInputs.map((r) => r.startedBy)).toEqual([
      "heimdall-job-abc123-0",
      "heimdall-job-abc123-1",
    ]);
    expect(plan.runTaskInputs[1]?.overrides?.containerOverrides?.[0]?.environment).toEqual([
      { name: "CUSTOM_VAR", value: "custom_value" },
      { name: "DATA_SOURCE", value: "s3://my-bucket/data/" },
      { name: "TASK_NAME", value: "heimdall-job-abc123-1" },
      { name: "TASK_NUM", value: "1" },
      { name: "TASK_COUNT", value: "2" },
      { name: "TASK_ATTEMPT", value: "1" },
    ]);
    expect(plan.runTaskInputs[0]?.networkConfiguration?.awsvpcConfiguration).toEqual({
      subnets: ["subnet-12345678", "subnet-87654321"],
      securityGroups: ["sg-12345678"],
      assignPublicIp: "DISABLED",
    });
  });
});

describe("fromHeimdall merge rules", () => {
  const command = {
    context: {
      task_definition_template: "td.json",
      cpu: 512,
      memory: 1024,
      container_overrides: [
        {
          name: "main",
          command: ["run"],
          environment: [
            { name: "A", value: "command" },
            { name: "B", value: "command" },
          ],
        },
        { name: "sidecar", environment: [{ name: "S", value: "1" }] },
      ],
      tags: { owner: "command", tier: "command" },
    },
  };
  const cluster = {
    context: {
      cluster_name: "c",
      max_cpu: 1024,
      max_memory: 2048,
      max_task_count: 4,
      tags: { owner: "cluster", region: "eu" },
    },
  };

  it("merges job over command by container and variable name; tags cluster < command < job", () => {
    const job = fromHeimdall({
      command,
      cluster,
      job: {
        context: {
          container_overrides: [{ name: "main", environment: [{ name: "A", value: "job" }] }],
          tags: { tier: "job" },
        },
      },
      jobId: "j",
      baseDir: "/base",
    });
    expect(job.taskDefinition).toEqual({ path: "/base/td.json" });
    expect(job.containerOverrides).toEqual([
      {
        name: "main",
        command: ["run"],
        environment: [
          { name: "A", value: "job" },
          { name: "B", value: "command" },
        ],
      },
      { name: "sidecar", environment: [{ name: "S", value: "1" }] },
    ]);
    expect(job.tags).toEqual({ owner: "command", region: "eu", tier: "job" });
  });

  it.each([
    ["cpu", { cpu: 2048 }, "job.context.cpu"],
    ["memory", { memory: 4096 }, "job.context.memory"],
    ["task count", { task_count: 5 }, "job.context.task_count"],
  ])("rejects %s above the cluster's max_*", (_what, context, path) => {
    let error: unknown;
    try {
      fromHeimdall({ command, cluster, job: { context }, jobId: "j" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EcsBatchValidationError);
    expect((error as EcsBatchValidationError).issues[0]?.path).toBe(path);
    expect((error as Error).message).toMatch(/exceeds the cluster's max_/);
  });

  it("rejects a template's own size above the cluster's limit", () => {
    let error: unknown;
    try {
      fromHeimdall({
        command: {
          context: { task_definition_template: join(fixtures, "heimdall-task-definition.json") },
        },
        cluster: { context: { cluster_name: "c", max_memory: 256 } },
        job: { context: {} },
        jobId: "j",
      });
    } catch (e) {
      error = e;
    }
    expect((error as EcsBatchValidationError).issues[0]?.path).toBe("taskDefinition.memory");
  });

  it("ignores routing-criteria tag lists and names misspelt fields", () => {
    const job = fromHeimdall({
      command: { ...command, tags: ["type:ecs"] },
      cluster: { ...cluster, tags: ["type:fargate"] },
      job: { context: {} },
      jobId: "j",
    });
    expect(job.tags).toEqual({ owner: "command", tier: "command", region: "eu" });
    expect(() =>
      fromHeimdall({ command, cluster, job: { context: { max_fail_cont: 2 } }, jobId: "j" }),
    ).toThrow(/job.context.max_fail_cont/);
  });

  it("reads vpc_config and launch type from the cluster", () => {
    const job = fromHeimdall({
      command,
      cluster: {
        context: {
          cluster_name: "c",
          launch_type: "FARGATE_SPOT",
          vpc_config: { subnets: ["subnet-1"], assign_public_ip: true },
        },
      },
      job: { context: {} },
      jobId: "j",
    });
    expect(job.launchType).toBe("FARGATE_SPOT");
    expect(job.network).toEqual({ subnets: ["subnet-1"], assignPublicIp: "ENABLED" });
  });

  it("reports unreadable and malformed files by field", async () => {
    await expect(
      loadHeimdallFiles({ ...files, cluster: join(fixtures, "missing.yaml") }),
    ).rejects.toThrow(/cluster: cannot read/);
  });
});
