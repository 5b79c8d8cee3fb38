import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { AdaptiveRateLimiter, TaskWatcher } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";

describe("TaskWatcher lastTask", () => {
  it("reports what was last seen of a task, not its whole description", async () => {
    const clock = new ManualClock({ start: 0 });
    const arn = "arn:aws:ecs:us-east-1:123456789012:task/default/abc";
    const described = (version: number, lastStatus: string, extra: Partial<Task> = {}): Task => ({
      taskArn: arn,
      lastStatus,
      desiredStatus: "RUNNING",
      version,
      containers: [{ name: "main", lastStatus, image: "alpine" }],
      overrides: { containerOverrides: [{ name: "main", environment: [] }] },
      ...extra,
    });
    const answers = [
      described(2, "RUNNING"),
      described(2, "RUNNING"),
      described(3, "DEACTIVATING", {
        desiredStatus: "STOPPED",
        stopCode: "UserInitiated",
        stoppedReason: "stopped by hand",
        // As a mock client might give it: a string, where the SDK gives a Date.
        stoppingAt: new Date(40_000).toISOString() as unknown as Date,
      }),
    ];
    let polls = 0;
    const watcher = new TaskWatcher({
      ecs: {
        send: () => Promise.resolve({ tasks: [answers[Math.min(polls++, answers.length - 1)]] }),
      },
      clock,
      limiter: new AdaptiveRateLimiter(clock, { ratePerSecond: 20, burst: 100 }),
    });
    const ac = new AbortController();
    const statuses: (string | undefined)[] = [];
    clock.schedule(50_000, () => ac.abort());
    const result = await clock.runUntil(
      watcher.watch({
        cluster: "default",
        taskArn: arn,
        pollInterval: 15_000,
        signal: ac.signal,
        onStatus: (task) => statuses.push(task.lastStatus),
      }),
    );
    expect(polls).toBe(3);
    // Each status once, though RUNNING was seen twice.
    expect(statuses).toEqual(["RUNNING", "DEACTIVATING"]);
    expect(result).toEqual({
      kind: "cancelled",
      lastTask: {
        taskArn: arn,
        lastStatus: "DEACTIVATING",
        desiredStatus: "STOPPED",
        version: 3,
        stopCode: "UserInitiated",
        stoppedReason: "stopped by hand",
        stoppingAt: new Date(40_000),
      },
    });
  });
});
