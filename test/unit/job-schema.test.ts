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
