import type { DescribeTasksCommandInput, Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import {
  AdaptiveRateLimiter,
  TaskWatcher,
  type AwsCommand,
  type WatchListener,
  type WatchResult,
} from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";

const arnA = "arn:aws:ecs:us-east-1:123456789012:task/default/a";
const arnB = "arn:aws:ecs:us-east-1:123456789012:task/default/b";

/** A watcher whose DescribeTasks answers from `statuses` (ARN -> statuses per poll). */
function watcherOver(statuses: Record<string, string[]>) {
  const clock = new ManualClock({ start: 0 });
  const asked: string[][] = [];
  const polls = new Map<string, number>();
  const watcher = new TaskWatcher({
    ecs: {
      send: (command: AwsCommand) => {
        const input = command.input as DescribeTasksCommandInput;
        const arns = input.tasks ?? [];
        asked.push([...arns]);
        const tasks: Task[] = arns.map((taskArn) => {
          const seen = polls.get(taskArn) ?? 0;
          polls.set(taskArn, seen + 1);
          const list = statuses[taskArn] ?? [];
          return { taskArn, lastStatus: list[Math.min(seen, list.length - 1)] };
        });
        return Promise.resolve({ tasks });
      },
    },
    clock,
    limiter: new AdaptiveRateLimiter(clock, { ratePerSecond: 20, burst: 100 }),
  });
  return { clock, watcher, asked };
}

describe("TaskWatcher.track", () => {
  it("reports every watch to one listener, told apart by subject, and polls them together", async () => {
    const { clock, watcher, asked } = watcherOver({
      [arnA]: ["RUNNING", "STOPPED"],
      [arnB]: ["RUNNING", "RUNNING", "STOPPED"],
    });
    const seen: string[] = [];
    const ended = new Map<string, WatchResult>();
    const listener: WatchListener<{ name: string }> = {
      onStatus: (subject, task) => seen.push(`${subject.name}:${task.lastStatus}`),
      onDone: (subject, result) => ended.set(subject.name, result),
    };
    watcher.track(
      { cluster: "default", taskArn: arnA, pollInterval: 10_000, lastStatus: "PENDING" },
      listener,
      { name: "a" },
    );
    watcher.track({ cluster: "default", taskArn: arnB, pollInterval: 10_000 }, listener, {
      name: "b",
    });
    expect(watcher.watching).toBe(2);
    await clock.runUntil(
      new Promise<void>((resolve) => {
        const poll = (): void => {
          if (ended.size === 2) resolve();
          else void clock.sleep(1000).then(poll);
        };
        poll();
      }),
    );
    expect(seen).toEqual(["a:RUNNING", "b:RUNNING", "a:STOPPED", "b:STOPPED"]);
    expect(ended.get("a")).toMatchObject({ kind: "stopped", task: { taskArn: arnA } });
    expect(ended.get("b")).toMatchObject({ kind: "stopped", task: { taskArn: arnB } });
    // Both tasks in one call while both ran; B alone once A had stopped.
    expect(asked).toEqual([[arnA, arnB], [arnA, arnB], [arnB]]);
    expect(watcher.watching).toBe(0);
  });

  it("ends a watch whose signal already aborted after track returns, never inside it", async () => {
    const { watcher, asked } = watcherOver({});
    const ac = new AbortController();
    ac.abort();
    const calls: WatchResult[] = [];
    watcher.track(
      { cluster: "default", taskArn: arnA, pollInterval: 10_000, signal: ac.signal },
      { onDone: (_subject: undefined, result) => calls.push(result) },
      undefined,
    );
    expect(calls).toEqual([]);
    await Promise.resolve();
    expect(calls).toEqual([{ kind: "cancelled" }]);
    expect(watcher.watching).toBe(0);
    expect(asked).toEqual([]);
  });
});
