import { describe, expect, it } from "vitest";
import { EcsBatchValidationError, parseJob } from "../../src/index.js";

const base = { taskDefinition: { arn: "batch-job:3" } };

describe("parseJob", () => {
  it("fills in every default of DESIGN 2.1", () => {
    const job = parseJob(base, { random: () => 0 });
    expect(job).toEqual({
      jobId: "aaaaaaaaaaaaaaaa",
      cluster: "default",
      taskDefinition: { kind: "arn", arn: "batch-job:3" },
      taskCount: 1,
      containerOverrides: [],
      launchType: "FARGATE",
      tags: {},
      taskCustomizations: [],
      pollInterval: 30_000,
      timeout: 3_600_000,
      maxFailCount: 1,
      retry: { maxLaunchRetries: 5, backoff: { initial: 1000, max: 60_000, factor: 2 } },
      taskNamePrefix: "ecs-batch",
      logs: { fetch: "representative", follow: false, maxBytes: 10 * 1024 * 1024, tailLines: 20 },
    });
  });

  it("reads sizes, durations and environment records", () => {
    const job = parseJob({
      ...base,
      jobId: "nightly-2026-11-26",
      cpu: "1 vCPU",
      memory: "2 GB",
      timeout: "2h15m30s",
      pollInterval: 5000,
      containerOverrides: [{ name: "main", environment: { BATCH_SIZE: 1000, DRY_RUN: false } }],
      network: { subnets: ["subnet-1234abcd"] },
    });
    expect(job.jobId).toBe("nightly-2026-11-26");
    expect(job.cpu).toBe(1024);
    expect(job.memory).toBe(2048);
    expect(job.timeout).toBe(8_130_000);
    expect(job.pollInterval).toBe(5000);
    expect(job.containerOverrides[0]?.environment).toEqual([
      { name: "BATCH_SIZE", value: "1000" },
      { name: "DRY_RUN", value: "false" },
    ]);
    expect(job.network).toEqual({
      kind: "explicit",
      subnets: ["subnet-1234abcd"],
      securityGroups: [],
      assignPublicIp: "DISABLED",
    });
  });

  it("generates distinct job ids from the random source", () => {
    let n = 0;
    const random = () => (n += 0.37) % 1;
    const a = parseJob(base, { random }).jobId;
    const b = parseJob(base, { random }).jobId;
    expect(a).toMatch(/^[a-z0-9]{16}$/);
    expect(a).not.toBe(b);
  });

  it("reports every problem at once, each with its field path", () => {
    let error: unknown;
    try {
      parseJob({
        taskDefinition: { path: "" },
        taskCount: 0,
        timeout: "soon",
        launchType: "fargate",
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EcsBatchValidationError);
    const issues = (error as EcsBatchValidationError).issues.map((i) => i.path);
    expect(issues).toEqual(
      expect.arrayContaining(["taskDefinition.path", "taskCount", "timeout", "launchType"]),
    );
    expect((error as Error).name).toBe("EcsBatchValidationError");
    expect((error as EcsBatchValidationError).code).toBe("VALIDATION");
  });

  it("never echoes environment values in messages", () => {
    const secret = "hunter2-super-secret";
    let message = "";
    try {
      parseJob({
        ...base,
        containerOverrides: [
          {
            name: "main",
            environment: [
              { name: "PASSWORD", value: secret },
              { name: "PASSWORD", value: secret },
              { name: "TASK_NAME", value: secret },
              { name: "BAD", value: { nested: secret } },
            ],
          },
        ],
      });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain("containerOverrides[0].environment");
    expect(message).not.toContain(secret);
  });
});

describe("parseJob: limits and formats (issue #19)", () => {
  const issuesOf = (input: unknown) => {
    try {
      parseJob(input);
      return [];
    } catch (e) {
      expect(e).toBeInstanceOf(EcsBatchValidationError);
      return (e as EcsBatchValidationError).issues;
    }
  };

  it("accepts durations up to 365 days and names the field and the limit above", () => {
    const year = 365 * 24 * 3_600_000;
    expect(parseJob({ ...base, timeout: "8760h", pollInterval: year }).timeout).toBe(year);
    for (const timeout of [year + 1, "8760h1s", "9".repeat(400), `${"9".repeat(400)}h`]) {
      const issues = issuesOf({ ...base, timeout });
      expect(issues.map((i) => i.path)).toEqual(["timeout"]);
    }
    const [issue] = issuesOf({ ...base, retry: { backoff: { max: "9000h" } } });
    expect(issue).toEqual({
      path: "retry.backoff.max",
      message: "retry.backoff.max is too long; the maximum is 8760h (365 days)",
    });
  });

  it.each([
    "batch-job",
    "batch_job-2:17",
    "arn:aws:ecs:us-west-2:123456789012:task-definition/batch-job:3",
    "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/batch_job:12",
  ])("accepts the task definition reference %s", (arn) => {
    expect(parseJob({ taskDefinition: { arn } }).taskDefinition).toEqual({ kind: "arn", arn });
  });

  it.each([
    "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
    "arn:aws:iam::123456789012:role/service-role/batch/my.role+x=y,z@corp-1",
    "arn:aws-us-gov:iam::123456789012:role/job",
  ])("accepts the role ARN %s", (role) => {
    const job = parseJob({ ...base, executionRoleArn: role, taskRoleArn: role });
    expect([job.executionRoleArn, job.taskRoleArn]).toEqual([role, role]);
  });

  it.each([
    "arn:aws:iam::123456789012:policy/job",
    "arn:aws:iam::12345:role/job",
    "arn:aws:sts::123456789012:assumed-role/job/session",
    "arn:aws:iam::123456789012:role/",
  ])("refuses %s as a role, showing a valid one", (role) => {
    const issues = issuesOf({ ...base, taskRoleArn: role });
    expect(issues.map((i) => i.path)).toEqual(["taskRoleArn"]);
    expect(issues[0]?.message).toContain("arn:aws:iam::123456789012:role/");
  });

  it("refuses __proto__ and constructor keys by name, never echoing their values", () => {
    const secret = "hunter2-super-secret";
    const issues = issuesOf({
      ...base,
      containerOverrides: [
        {
          name: "main",
          environment: JSON.parse(
            `{ "__proto__": "${secret}", "constructor": "${secret}" }`,
          ) as unknown,
        },
      ],
      tags: JSON.parse(`{ "__proto__": "${secret}" }`) as unknown,
    });
    expect(issues.map((i) => i.path)).toEqual([
      "containerOverrides[0].environment.__proto__",
      "containerOverrides[0].environment.constructor",
      "tags.__proto__",
    ]);
    expect(JSON.stringify(issues)).not.toContain(secret);
  });
});
