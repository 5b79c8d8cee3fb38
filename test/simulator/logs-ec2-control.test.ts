import {
  FilterLogEventsCommand,
  GetLogEventsCommand,
  DescribeLogStreamsCommand,
  type FilterLogEventsCommandOutput,
  type GetLogEventsCommandOutput,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  type DescribeSubnetsCommandOutput,
  type DescribeVpcsCommandOutput,
} from "@aws-sdk/client-ec2";
import {
  DescribeClustersCommand,
  DescribeTasksCommand,
  ListTasksCommand,
} from "@aws-sdk/client-ecs";
import { beforeEach, describe, expect, it } from "vitest";
import { createSimulatedAws, ManualClock, type SimulatedAws } from "../../src/testing/index.js";

let aws: SimulatedAws;
let clock: ManualClock;

beforeEach(() => {
  clock = new ManualClock({ start: 1_700_000_000_000 });
  aws = createSimulatedAws({ clock });
});

const lines = (n: number, prefix = "line") =>
  Array.from({ length: n }, (_, i) => ({
    timestamp: 1_700_000_000_000 + i,
    message: `${prefix} ${i}`,
  }));

async function get(
  input: ConstructorParameters<typeof GetLogEventsCommand>[0],
): Promise<GetLogEventsCommandOutput> {
  return (await aws.logs.send(new GetLogEventsCommand(input))) as GetLogEventsCommandOutput;
}

describe("GetLogEvents", () => {
  it("pages from the head and repeats the forward token at the end of the stream", async () => {
    aws.putLogEvents("/g", "s", lines(25));
    const pages: string[][] = [];
    let token: string | undefined;
    for (;;) {
      const out = await get({
        logGroupName: "/g",
        logStreamName: "s",
        startFromHead: true,
        limit: 10,
        ...(token === undefined ? {} : { nextToken: token }),
      });
      if (out.nextForwardToken === token) {
        expect(out.events).toEqual([]);
        break;
      }
      pages.push((out.events ?? []).map((e) => e.message as string));
      token = out.nextForwardToken;
    }
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    expect(pages.flat()).toEqual(lines(25).map((l) => l.message));
  });

  it("returns the newest events without a token or startFromHead, oldest first", async () => {
    aws.putLogEvents("/g", "s", lines(30));
    const out = await get({ logGroupName: "/g", logStreamName: "s", limit: 3 });
    expect(out.events?.map((e) => e.message)).toEqual(["line 27", "line 28", "line 29"]);
  });

  it("returns at most 10,000 events and 1 MB per call", async () => {
    aws.putLogEvents("/g", "s", lines(12_000));
    expect(
      (await get({ logGroupName: "/g", logStreamName: "s", startFromHead: true })).events,
    ).toHaveLength(10_000);
    aws.putLogEvents(
      "/g",
      "big",
      Array.from({ length: 20 }, (_, i) => ({ timestamp: i, message: "x".repeat(100_000) })),
    );
    expect(
      (await get({ logGroupName: "/g", logStreamName: "big", startFromHead: true })).events,
    ).toHaveLength(10);
  });

  it("reports a missing group or stream as ResourceNotFoundException", async () => {
    await expect(get({ logGroupName: "/none", logStreamName: "s" })).rejects.toMatchObject({
      name: "ResourceNotFoundException",
    });
    aws.putLogEvents("/g", "s", lines(1));
    await expect(get({ logGroupName: "/g", logStreamName: "other" })).rejects.toMatchObject({
      name: "ResourceNotFoundException",
      message: "The specified log stream does not exist.",
    });
  });
});

describe("FilterLogEvents", () => {
  it("interleaves many streams by time, with event ids and a next token", async () => {
    aws.putLogEvents("/g", "a", lines(3, "a"));
    aws.putLogEvents("/g", "b", lines(3, "b"));
    aws.putLogEvents("/g", "c", lines(3, "c"));
    const first = (await aws.logs.send(
      new FilterLogEventsCommand({ logGroupName: "/g", logStreamNames: ["a", "b"], limit: 4 }),
    )) as FilterLogEventsCommandOutput;
    expect(first.events?.map((e) => `${e.logStreamName}:${e.message}`)).toEqual([
      "a:a 0",
      "b:b 0",
      "a:a 1",
      "b:b 1",
    ]);
    expect(new Set(first.events?.map((e) => e.eventId)).size).toBe(4);
    const rest = (await aws.logs.send(
      new FilterLogEventsCommand({
        logGroupName: "/g",
        logStreamNames: ["a", "b"],
        nextToken: first.nextToken,
      }),
    )) as FilterLogEventsCommandOutput;
    expect(rest.events?.map((e) => e.message)).toEqual(["a 2", "b 2"]);
    expect(rest.nextToken).toBeUndefined();
    const since = (await aws.logs.send(
      new FilterLogEventsCommand({
        logGroupName: "/g",
        logStreamNamePrefix: "c",
        startTime: 1_700_000_000_001,
      }),
    )) as FilterLogEventsCommandOutput;
    expect(since.events?.map((e) => e.message)).toEqual(["c 1", "c 2"]);
  });

  it("accepts at most 100 stream names", async () => {
    aws.putLogEvents("/g", "a", lines(1));
    const names = Array.from({ length: 101 }, (_, i) => `s${i}`);
    await expect(
      aws.logs.send(new FilterLogEventsCommand({ logGroupName: "/g", logStreamNames: names })),
    ).rejects.toMatchObject({
      name: "InvalidParameterException",
    });
  });

  it("describes streams by prefix", async () => {
    aws.putLogEvents("/g", "ecs/main/1", lines(1));
    aws.putLogEvents("/g", "ecs/side/1", lines(1));
    const out = (await aws.logs.send(
      new DescribeLogStreamsCommand({ logGroupName: "/g", logStreamNamePrefix: "ecs/main" }),
    )) as {
      logStreams: { logStreamName: string }[];
    };
    expect(out.logStreams.map((s) => s.logStreamName)).toEqual(["ecs/main/1"]);
  });
});

describe("EC2", () => {
  it("has a default VPC with one subnet per zone, paged", async () => {
    const vpcs = (await aws.ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: "isDefault", Values: ["true"] }] }),
    )) as DescribeVpcsCommandOutput;
    const vpcId = vpcs.Vpcs?.[0]?.VpcId as string;
    const page = (await aws.ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }], MaxResults: 2 }),
    )) as DescribeSubnetsCommandOutput;
    expect(page.Subnets).toHaveLength(2);
    const next = (await aws.ec2.send(
      new DescribeSubnetsCommand({
        Filters: [{ Name: "vpc-id", Values: [vpcId] }],
        MaxResults: 2,
        NextToken: page.NextToken,
      }),
    )) as DescribeSubnetsCommandOutput;
    expect(next.Subnets).toHaveLength(1);
    expect(next.NextToken).toBeUndefined();
  });

  it("can have no default VPC", async () => {
    const bare = createSimulatedAws({ clock, defaultVpc: false });
    const vpcs = (await bare.ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: "isDefault", Values: ["true"] }] }),
    )) as DescribeVpcsCommandOutput;
    expect(vpcs.Vpcs).toEqual([]);
  });
});

describe("call control", () => {
  it("records every call and counts per action", async () => {
    await aws.ecs.send(new DescribeClustersCommand({ clusters: ["default"] }));
    await aws.ecs.send(new DescribeTasksCommand({ cluster: "default", tasks: ["x"] }));
    await aws.ecs
      .send(new DescribeTasksCommand({ cluster: "nope", tasks: ["x"] }))
      .catch(() => undefined);
    expect(aws.count("DescribeTasks")).toBe(2);
    expect(aws.callsTo("DescribeTasks").map((c) => c.error)).toEqual([
      undefined,
      "ClusterNotFoundException",
    ]);
    expect(aws.calls[0]).toMatchObject({
      service: "ecs",
      action: "DescribeClusters",
      input: { clusters: ["default"] },
    });
  });

  it("throttles with token buckets that refill with clock time", async () => {
    aws.throttle({ service: "ecs", actions: ["ListTasks"], burst: 2, ratePerSecond: 1 });
    const call = () => aws.ecs.send(new ListTasksCommand({ cluster: "default" }));
    await call();
    await call();
    await expect(call()).rejects.toMatchObject({
      name: "ThrottlingException",
      $retryable: { throttling: true },
    });
    await clock.advance(1000);
    await expect(call()).resolves.toBeDefined();
  });

  it("injects faults by count, window and probability, reproducibly", async () => {
    aws.inject({ action: "ListTasks", error: "ServerException", times: 2 });
    const call = () =>
      aws.ecs.send(new ListTasksCommand({ cluster: "default" })).then(
        () => "ok",
        (e: unknown) => (e as Error).name,
      );
    expect([await call(), await call(), await call()]).toEqual([
      "ServerException",
      "ServerException",
      "ok",
    ]);
    const outcomes = async (seed: number) => {
      const sim = createSimulatedAws({ clock, seed });
      sim.inject({ action: "ListTasks", error: "ThrottlingException", probability: 0.5 });
      const out: string[] = [];
      for (let i = 0; i < 40; i++)
        out.push(
          await sim.ecs.send(new ListTasksCommand({ cluster: "default" })).then(
            () => "ok",
            (e: unknown) => (e as Error).name,
          ),
        );
      return out;
    };
    const a = await outcomes(7);
    expect(await outcomes(7)).toEqual(a);
    const failed = a.filter((x) => x !== "ok").length;
    expect(failed).toBeGreaterThan(8);
    expect(failed).toBeLessThan(32);
  });

  it("waits the configured latency on the clock", async () => {
    aws.setLatency(250);
    let done = false;
    const p = aws.ecs.send(new ListTasksCommand({ cluster: "default" })).then(() => (done = true));
    await clock.advance(200);
    expect(done).toBe(false);
    await clock.advance(100);
    await p;
    expect(done).toBe(true);
  });
});

describe("the published limits", () => {
  it("limit RunTask calls that launch Fargate tasks to 20 per second, burst and sustained", async () => {
    const { RunTaskCommand } = await import("@aws-sdk/client-ecs");
    const clock = new ManualClock({ start: 0 });
    const aws = createSimulatedAws({ clock, limits: "aws" });
    aws.registerTaskDefinition({
      family: "f",
      requiresCompatibilities: ["FARGATE"],
      networkMode: "awsvpc",
      cpu: "256",
      memory: "512",
      containerDefinitions: [{ name: "main", image: "x" }],
    });
    const run = () =>
      aws.ecs
        .send(
          new RunTaskCommand({
            taskDefinition: "f",
            launchType: "FARGATE",
            networkConfiguration: { awsvpcConfiguration: { subnets: ["subnet-1"] } },
          }),
        )
        .then(
          () => "ok",
          (e: unknown) => (e as Error).name,
        );
    const first = await Promise.all(Array.from({ length: 25 }, run));
    expect(first.filter((r) => r === "ok")).toHaveLength(20);
    expect(first.filter((r) => r === "ThrottlingException")).toHaveLength(5);
    await clock.advance(500);
    const later = await Promise.all(Array.from({ length: 12 }, run));
    expect(later.filter((r) => r === "ok")).toHaveLength(10);
  });
});
