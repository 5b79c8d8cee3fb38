/**
 * Issue #19, item 11: the SDK's retry does not sit under the runner's. The clients the runner
 * builds send each request once; the calls that relied on the SDK's retry (preparation) retry
 * themselves, waiting on the injected clock; reads take the caller's abort signal.
 */
import type { ContainerDefinition } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { isTransientError, withRetries, type AwsClient, type AwsCommand } from "../../src/aws.js";
import { defaultClients, defaultLogsClient } from "../../src/aws-clients.js";
import {
  AdaptiveRateLimiter,
  CloudWatchLogFetcher,
  EcsBatchSetupError,
  LogFollower,
  NetworkResolver,
  TaskDefinitionRegistry,
  checkCluster,
  logSources,
  parseJob,
  type Logger,
} from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { awsError, registered } from "../helpers/aws-mocks.js";

const ARN = "arn:aws:ecs:us-west-2:123456789012:task-definition/batch-job:3";
const TASK = "arn:aws:ecs:us-west-2:123456789012:task/default/0123456789abcdef0123456789abcdef";
const definition = registered(
  {
    family: "batch-job",
    networkMode: "awsvpc",
    containerDefinitions: [{ name: "main", image: "alpine" }],
  },
  3,
);

interface Sent {
  readonly action: string;
  readonly at: number;
  readonly options: { abortSignal?: AbortSignal } | undefined;
}

/**
 * A client answering from a script per action: each entry an answer or an error, the last one
 * repeated. Records what was sent, when on `clock`, and with which options.
 */
function scripted(clock: ManualClock, script: Record<string, unknown[]>) {
  const sent: Sent[] = [];
  const client: AwsClient = {
    send(command: AwsCommand, options?: { abortSignal?: AbortSignal }) {
      const action = command.constructor.name.replace(/Command$/, "");
      sent.push({ action, at: clock.now(), options });
      const answers = script[action] ?? [];
      const answer =
        answers[Math.min(sent.filter((s) => s.action === action).length, answers.length) - 1];
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
  return { client, sent, times: (action: string) => sent.filter((s) => s.action === action) };
}

const throttled = () => awsError("ThrottlingException", "Rate exceeded");

describe("the clients the runner builds", () => {
  it("send each request once: the runner retries, not the SDK", async () => {
    const clients = defaultClients({ region: "us-west-2" });
    for (const lazy of [clients.ecs, clients.logs, clients.ec2]) {
      expect(await lazy.client().config.maxAttempts()).toBe(1);
    }
    const regional = defaultLogsClient("eu-west-1").client();
    expect(await regional.config.maxAttempts()).toBe(1);
    expect(await regional.config.region()).toBe("eu-west-1");
  });

  it("keep the region and endpoint they are given", async () => {
    const { ecs } = defaultClients({ region: "eu-central-1", endpoint: "http://localhost:4566" });
    expect(await ecs.client().config.region()).toBe("eu-central-1");
    const endpoint = await ecs.client().config.endpoint?.();
    expect(endpoint?.hostname).toBe("localhost");
  });
});

describe("preparation calls retry themselves, on the injected clock", () => {
  it("DescribeTaskDefinition throttled twice, then answering, succeeds after backing off 0.5 s and 1 s", async () => {
    const clock = new ManualClock({ start: 0 });
    const ecs = scripted(clock, {
      DescribeTaskDefinition: [throttled(), throttled(), { taskDefinition: definition }],
    });
    const registry = new TaskDefinitionRegistry(ecs.client, undefined, clock);
    const resolved = await clock.runUntil(registry.describe(ARN));
    expect(resolved.taskDefinitionArn).toBe(definition.taskDefinitionArn);
    expect(ecs.times("DescribeTaskDefinition").map((s) => s.at)).toEqual([0, 500, 1500]);
  });

  it("RegisterTaskDefinition throttled gives up after 8 sends (25 s), with a setup error naming the call", async () => {
    const clock = new ManualClock({ start: 0 });
    const ecs = scripted(clock, {
      DescribeTaskDefinition: [awsError("ClientException", "Unable to describe task definition.")],
      RegisterTaskDefinition: [throttled()],
    });
    const registry = new TaskDefinitionRegistry(ecs.client, undefined, clock);
    const template = { family: "batch-job", containerDefinitions: [{ name: "main", image: "a" }] };
    const error = await clock.runUntil(registry.resolveTemplate(template)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect((error as Error).message).toContain("RegisterTaskDefinition failed");
    expect((error as Error).message).toContain("ThrottlingException");
    expect(ecs.times("RegisterTaskDefinition").map((s) => s.at)).toEqual([
      0, 500, 1500, 3500, 7500, 12_500, 17_500, 22_500,
    ]);
  });

  it("a throttled RegisterTaskDefinition reuses the revision another process registered meanwhile", async () => {
    const clock = new ManualClock({ start: 0 });
    const template = { family: "batch-job", containerDefinitions: [{ name: "main", image: "a" }] };
    const theirs = {
      ...template,
      taskDefinitionArn: "arn:aws:ecs:us-west-2:123456789012:task-definition/batch-job:7",
      revision: 7,
      status: "ACTIVE",
    };
    const ecs = scripted(clock, {
      DescribeTaskDefinition: [
        awsError("ClientException", "Unable to describe task definition."),
        { taskDefinition: theirs },
      ],
      RegisterTaskDefinition: [throttled()],
    });
    const registry = new TaskDefinitionRegistry(ecs.client, undefined, clock);
    const resolved = await clock.runUntil(registry.resolveTemplate(template));
    expect(resolved).toMatchObject({
      action: "reused",
      taskDefinitionArn: theirs.taskDefinitionArn,
    });
    expect(ecs.times("RegisterTaskDefinition")).toHaveLength(1);
  });

  it("an error retrying cannot fix is not sent again", async () => {
    const clock = new ManualClock({ start: 0 });
    const ecs = scripted(clock, {
      DescribeTaskDefinition: [awsError("AccessDeniedException", "not authorized")],
    });
    const registry = new TaskDefinitionRegistry(ecs.client, undefined, clock);
    await expect(clock.runUntil(registry.describe(ARN))).rejects.toMatchObject({
      code: "ACCESS_DENIED",
    });
    expect(ecs.times("DescribeTaskDefinition")).toHaveLength(1);
  });

  it("the registry logs each retry through the runner's logger", async () => {
    const clock = new ManualClock({ start: 0 });
    const warnings: string[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (message) => warnings.push(message),
      error: () => undefined,
    };
    const ecs = scripted(clock, {
      DescribeTaskDefinition: [throttled(), { taskDefinition: definition }],
    });
    await clock.runUntil(new TaskDefinitionRegistry(ecs.client, logger, clock).describe(ARN));
    expect(warnings).toEqual(["DescribeTaskDefinition failed; sending it again"]);
  });

  it("EC2 DescribeSubnets throttled once, then answering, infers the network", async () => {
    const clock = new ManualClock({ start: 0 });
    const ec2 = scripted(clock, {
      DescribeVpcs: [{ Vpcs: [{ VpcId: "vpc-1", IsDefault: true }] }],
      DescribeSubnets: [
        awsError("RequestLimitExceeded", "Request limit exceeded."),
        { Subnets: [{ SubnetId: "subnet-0abc1234" }] },
      ],
      DescribeSecurityGroups: [{ SecurityGroups: [{ GroupId: "sg-1" }] }],
    });
    const network = new NetworkResolver(ec2.client, clock);
    const job = parseJob({ taskDefinition: { arn: ARN } });
    await expect(clock.runUntil(network.resolve(job.network, "awsvpc"))).resolves.toEqual({
      subnets: ["subnet-0abc1234"],
      securityGroups: ["sg-1"],
      assignPublicIp: "ENABLED",
    });
    expect(ec2.times("DescribeSubnets").map((s) => s.at)).toEqual([0, 500]);
  });

  it("DescribeClusters failing twice, then answering MISSING, still finds the cluster missing", async () => {
    const clock = new ManualClock({ start: 0 });
    const down = () => awsError("ServerException", "Service unavailable", 500);
    const ecs = scripted(clock, {
      DescribeClusters: [
        down(),
        down(),
        { clusters: [], failures: [{ arn: "nope", reason: "MISSING" }] },
      ],
    });
    await expect(
      clock.runUntil(checkCluster(ecs.client, "nope", undefined, clock)),
    ).rejects.toMatchObject({ code: "CLUSTER_NOT_FOUND" });
    expect(ecs.times("DescribeClusters").map((s) => s.at)).toEqual([0, 500, 1500]);
  });

  it("withRetries: a clock-skew-corrected error is worth sending again; an abort ends the waiting", async () => {
    const skewed = Object.assign(new Error("Signature expired"), {
      name: "InvalidSignatureException",
      $metadata: { httpStatusCode: 403, clockSkewCorrected: true },
    });
    expect(isTransientError(skewed)).toBe(true);
    const clock = new ManualClock({ start: 0 });
    const controller = new AbortController();
    clock.schedule(200, () => controller.abort());
    let calls = 0;
    const error = await clock
      .runUntil(
        withRetries(
          () => {
            calls++;
            return Promise.reject(throttled());
          },
          { clock, signal: controller.signal },
        ),
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "ThrottlingException" });
    expect(calls).toBe(1);
    expect(clock.now()).toBe(200);
  });
});

describe("withRetries: many callers throttled at once", () => {
  const serverError = () =>
    Object.assign(new Error("Internal"), { name: "ServerException", $fault: "server" });

  it("keeps sending a throttled call 8 times (about 25 s), a failing one 4 times", async () => {
    const clock = new ManualClock({ start: 0 });
    const sent = (error: () => Error) => {
      const at: number[] = [];
      const done = withRetries(
        () => {
          at.push(clock.now());
          return Promise.reject(error());
        },
        { clock },
      ).catch(() => at);
      return clock.runUntil(done);
    };
    expect(await sent(throttled)).toEqual([0, 500, 1500, 3500, 7500, 12_500, 17_500, 22_500]);
    expect(await sent(serverError)).toHaveLength(4);
  });

  it("spreads each wait over half to all of it with the given random source", async () => {
    const clock = new ManualClock({ start: 0 });
    const draws = [0, 1, 0.5];
    const at: number[] = [];
    await clock.runUntil(
      withRetries(
        () => {
          at.push(clock.now());
          return at.length < 4 ? Promise.reject(throttled()) : Promise.resolve("ok");
        },
        { clock, random: () => draws.shift() ?? 0 },
      ),
    );
    // 500 x 0.5, 1000 x 1, 2000 x 0.75.
    expect(at).toEqual([0, 250, 1250, 2750]);
  });
});

describe("log reads take the caller's abort signal", () => {
  const containers: ContainerDefinition[] = [
    {
      name: "main",
      logConfiguration: {
        logDriver: "awslogs",
        options: { "awslogs-group": "/ecs/jobs", "awslogs-stream-prefix": "ecs" },
      },
    },
  ];

  function fetcher(clock: ManualClock, client: AwsClient) {
    return new CloudWatchLogFetcher({
      logsClientFor: () => client,
      limiter: new AdaptiveRateLimiter(clock, { ratePerSecond: 5, burst: 5 }),
      clock,
    });
  }

  it("GetLogEvents is sent with the signal; once aborted, reading stops and says so", async () => {
    const clock = new ManualClock({ start: 0 });
    const logs = scripted(clock, {
      GetLogEvents: [
        { events: [{ timestamp: 0, message: "hello" }], nextForwardToken: "f/1" },
        { events: [], nextForwardToken: "f/1" },
      ],
    });
    const controller = new AbortController();
    const out = await clock.runUntil(
      fetcher(clock, logs.client).fetchTaskLogs(containers, TASK, {
        maxBytes: 1024,
        signal: controller.signal,
      }),
    );
    expect(out.text).toContain("hello");
    expect(logs.times("GetLogEvents").map((s) => s.options?.abortSignal)).toEqual([
      controller.signal,
      controller.signal,
    ]);

    controller.abort();
    const source = logSources(containers, TASK)[0]!;
    const tail = await clock.runUntil(
      fetcher(clock, logs.client).fetchTail(source, 10, { signal: controller.signal }),
    );
    expect(tail).toBeUndefined();
    expect(logs.times("GetLogEvents")).toHaveLength(2);
  });

  it("an unanswered GetLogEvents shows in the log text, naming the command, instead of throwing", async () => {
    const clock = new ManualClock({ start: 0 });
    const logs = scripted(clock, { GetLogEvents: [undefined] });
    const out = await clock.runUntil(
      fetcher(clock, logs.client).fetchTaskLogs(containers, TASK, { maxBytes: 1024 }),
    );
    expect(out.streams[0]?.error).toContain("GetLogEvents answered undefined");
    expect(out.text).toContain("mock GetLogEventsCommand");
  });

  it("the follower's signal ends following: no FilterLogEvents after it aborts", async () => {
    const clock = new ManualClock({ start: 0 });
    const logs = scripted(clock, { FilterLogEvents: [{ events: [] }] });
    const controller = new AbortController();
    const follower = new LogFollower(
      {
        logsClientFor: () => logs.client,
        limiter: new AdaptiveRateLimiter(clock, { ratePerSecond: 5, burst: 5 }),
        clock,
      },
      () => undefined,
      { intervalMs: 1000, signal: controller.signal },
    );
    follower.follow({
      jobId: "j",
      taskIndex: 0,
      attempt: 1,
      taskArn: TASK,
      sources: logSources(containers, TASK),
      since: 0,
    });
    await clock.advance(2500);
    const before = logs.times("FilterLogEvents");
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((s) => s.options?.abortSignal === controller.signal)).toBe(true);
    controller.abort();
    await clock.advance(10_000);
    expect(logs.times("FilterLogEvents")).toHaveLength(before.length);
    expect(follower.isFollowing(TASK)).toBe(false);
    await expect(follower.finish(TASK)).resolves.toBeUndefined();
  });
});
