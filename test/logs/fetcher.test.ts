import type { ContainerDefinition } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { AdaptiveRateLimiter, CloudWatchLogFetcher, logSources } from "../../src/index.js";
import { createSimulatedAws, ManualClock, type SimulatedAws } from "../../src/testing/index.js";

const TASK = "arn:aws:ecs:us-west-2:123456789012:task/default/0123456789abcdef0123456789abcdef";
const awslogs = (name: string, extra: Record<string, string> = {}): ContainerDefinition => ({
  name,
  image: "img",
  logConfiguration: {
    logDriver: "awslogs",
    options: { "awslogs-group": "/ecs/jobs", "awslogs-stream-prefix": "ecs", ...extra },
  },
});

function fetcherOn(
  aws: SimulatedAws,
  clock: ManualClock,
  regional: Record<string, SimulatedAws> = {},
) {
  return new CloudWatchLogFetcher({
    logsClientFor: (region) =>
      region !== undefined && regional[region] !== undefined ? regional[region].logs : aws.logs,
    limiter: new AdaptiveRateLimiter(clock, { ratePerSecond: 5, burst: 5 }),
    clock,
  });
}

const lines = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    timestamp: 1_700_000_000_000 + from + i,
    message: `line ${from + i}`,
  }));

describe("CloudWatchLogFetcher", () => {
  it("reads 10,000 lines in 2 GetLogEvents calls (a page of 10,000, then the repeated token)", async () => {
    const clock = new ManualClock();
    const aws = createSimulatedAws({ clock });
    aws.putLogEvents("/ecs/jobs", "ecs/main/0123456789abcdef0123456789abcdef", lines(10_000));
    const fetcher = fetcherOn(aws, clock);
    const { streams, text } = await clock.runUntil(
      fetcher.fetchTaskLogs([awslogs("main")], TASK, { maxBytes: 10 * 1024 * 1024 }),
    );
    expect(aws.count("GetLogEvents")).toBe(2);
    expect(streams[0]?.lines).toHaveLength(10_000);
    expect(text.split("\n")).toHaveLength(10_003);
    expect(aws.inputs("GetLogEvents")[0]).toMatchObject({ startFromHead: true, limit: 10_000 });
  });

  it("follows the forward token across pages of a long stream", async () => {
    const clock = new ManualClock();
    const aws = createSimulatedAws({ clock });
    aws.putLogEvents("/ecs/jobs", "ecs/main/0123456789abcdef0123456789abcdef", lines(25_000));
    const out = await clock.runUntil(
      fetcherOn(aws, clock).fetchStream(logSources([awslogs("main")], TASK)[0]!, Infinity),
    );
    expect(out.lines.map((l) => l.message)).toEqual(lines(25_000).map((l) => l.message));
    expect(out.calls).toBe(4);
  });

  it("reads every awslogs container in definition order and reports a missing stream without failing the others", async () => {
    const clock = new ManualClock();
    const aws = createSimulatedAws({ clock });
    aws.putLogEvents("/ecs/jobs", "ecs/main/0123456789abcdef0123456789abcdef", lines(2));
    aws.putLogEvents("/ecs/jobs", "ecs/proxy/0123456789abcdef0123456789abcdef", lines(1, 10));
    const containers = [
      awslogs("main"),
      { name: "plain", image: "x" },
      awslogs("missing"),
      awslogs("proxy"),
    ];
    const { text } = await clock.runUntil(
      fetcherOn(aws, clock).fetchTaskLogs(containers, TASK, { maxBytes: 1000 }),
    );
    expect(text).toBe(
      [
        "=== ecs/main/0123456789abcdef0123456789abcdef ===\n\n[2023-11-14 22:13:20] line 0\n[2023-11-14 22:13:20] line 1\n",
        "=== ecs/missing/0123456789abcdef0123456789abcdef ===\n\n[ecs-batch-runner] no log stream ecs/missing/0123456789abcdef0123456789abcdef in group /ecs/jobs (The specified log stream does not exist.)\n",
        "=== ecs/proxy/0123456789abcdef0123456789abcdef ===\n\n[2023-11-14 22:13:20] line 10\n",
      ].join("\n"),
    );
  });

  it("stops at logs.maxBytes for the whole task, with a truncation line", async () => {
    const clock = new ManualClock();
    const aws = createSimulatedAws({ clock });
    aws.putLogEvents("/ecs/jobs", "ecs/main/0123456789abcdef0123456789abcdef", lines(100));
    aws.putLogEvents("/ecs/jobs", "ecs/side/0123456789abcdef0123456789abcdef", lines(5));
    const { streams, text } = await clock.runUntil(
      fetcherOn(aws, clock).fetchTaskLogs([awslogs("main"), awslogs("side")], TASK, {
        maxBytes: 60,
      }),
    );
    expect(streams[0]?.lines.map((l) => l.message)).toEqual(lines(10).map((l) => l.message)); // 10 × 6 bytes
    expect(streams[0]?.truncated).toBe(true);
    expect(streams[1]?.lines).toHaveLength(0);
    expect(text).toContain(
      "[ecs-batch-runner] log truncated at 60 bytes (logs.maxBytes); the rest is in CloudWatch Logs group /ecs/jobs",
    );
  });

  it("uses the client for the container's awslogs-region", async () => {
    const clock = new ManualClock();
    const home = createSimulatedAws({ clock, region: "us-west-2" });
    const eu = createSimulatedAws({ clock, region: "eu-west-1" });
    eu.putLogEvents("/ecs/jobs", "ecs/main/0123456789abcdef0123456789abcdef", lines(1));
    const { streams } = await clock.runUntil(
      fetcherOn(home, clock, { "eu-west-1": eu }).fetchTaskLogs(
        [awslogs("main", { "awslogs-region": "eu-west-1" })],
        TASK,
        { maxBytes: 100 },
      ),
    );
    expect(streams[0]?.lines).toHaveLength(1);
    expect(home.count("GetLogEvents")).toBe(0);
    expect(eu.count("GetLogEvents")).toBe(1 + 1);
  });

  it("retries throttling under the rate limit", async () => {
    const clock = new ManualClock();
    const aws = createSimulatedAws({ clock });
    aws.putLogEvents("/ecs/jobs", "ecs/main/0123456789abcdef0123456789abcdef", lines(3));
    aws.inject({ action: "GetLogEvents", error: "ThrottlingException", times: 2 });
    const out = await clock.runUntil(
      fetcherOn(aws, clock).fetchStream(logSources([awslogs("main")], TASK)[0]!, Infinity),
    );
    expect(out.lines).toHaveLength(3);
    expect(out.error).toBeUndefined();
    expect(aws.count("GetLogEvents")).toBe(4);
  });

  it("returns the last lines as a tail", async () => {
    const clock = new ManualClock();
    const aws = createSimulatedAws({ clock });
    aws.putLogEvents("/ecs/jobs", "ecs/main/0123456789abcdef0123456789abcdef", lines(50));
    const tail = await clock.runUntil(
      fetcherOn(aws, clock).fetchTail(logSources([awslogs("main")], TASK)[0]!, 3),
    );
    expect(tail).toBe(
      "[2023-11-14 22:13:20] line 47\n[2023-11-14 22:13:20] line 48\n[2023-11-14 22:13:20] line 49",
    );
  });
});
