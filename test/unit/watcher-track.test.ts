import type { DescribeTasksCommandInput, Task } from "@aws-sdk/client-ecs";
import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import {
  AdaptiveRateLimiter,
  TaskWatcher,
  type AwsCommand,
  type WatchResult,
} from "../../src/index.js";
import { trackTask, type WatchListener } from "../../src/execution/watcher.js";
import { ManualClock } from "../../src/testing/index.js";

const arnA = "arn:aws:ecs:us-east-1:123456789012:task/default/a";
const arnB = "arn:aws:ecs:us-east-1:123456789012:task/default/b";
const arnC = "arn:aws:ecs:us-east-1:123456789012:task/default/c";

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

describe("trackTask", () => {
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
    trackTask(
      watcher,
      { cluster: "default", taskArn: arnA, pollInterval: 10_000, lastStatus: "PENDING" },
      listener,
      { name: "a" },
    );
    trackTask(watcher, { cluster: "default", taskArn: arnB, pollInterval: 10_000 }, listener, {
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

  it("ends, when a signal aborts, the watches it was given to and no other, with one listener per signal", async () => {
    const { clock, watcher } = watcherOver({
      [arnA]: ["RUNNING"],
      [arnB]: ["RUNNING"],
      [arnC]: ["RUNNING"],
    });
    const x = new AbortController();
    const y = new AbortController();
    const ended = new Map<string, WatchResult>();
    const listener: WatchListener<string> = {
      onDone: (subject, result) => ended.set(subject, result),
    };
    const watch = (taskArn: string, signal: AbortSignal, name: string): void =>
      trackTask(
        watcher,
        { cluster: "default", taskArn, pollInterval: 10_000, signal },
        listener,
        name,
      );
    watch(arnA, x.signal, "a");
    watch(arnB, x.signal, "b");
    watch(arnC, y.signal, "c");
    expect(getEventListeners(x.signal, "abort")).toHaveLength(1);
    await clock.advance(10_000);
    x.abort();
    expect([...ended.keys()].sort()).toEqual(["a", "b"]);
    expect(ended.get("a")).toMatchObject({
      kind: "cancelled",
      lastTask: { lastStatus: "RUNNING" },
    });
    expect(watcher.watching).toBe(1);
    // The last watch of a signal that ends takes the signal's listener with it.
    watch(arnA, y.signal, "a2");
    expect(getEventListeners(y.signal, "abort")).toHaveLength(1);
    y.abort();
    expect(ended.get("c")).toMatchObject({ kind: "cancelled" });
    expect(ended.get("a2")).toMatchObject({ kind: "cancelled" });
    expect(getEventListeners(y.signal, "abort")).toHaveLength(0);
    expect(watcher.watching).toBe(0);
  });

  it("removes a signal's listener once its last watch ends", async () => {
    const { clock, watcher } = watcherOver({ [arnA]: ["STOPPED"], [arnB]: ["RUNNING", "STOPPED"] });
    const x = new AbortController();
    const listener: WatchListener<undefined> = { onDone: () => undefined };
    for (const taskArn of [arnA, arnB])
      trackTask(
        watcher,
        { cluster: "default", taskArn, pollInterval: 10_000, signal: x.signal },
        listener,
        undefined,
      );
    await clock.advance(10_000);
    expect(watcher.watching).toBe(1);
    expect(getEventListeners(x.signal, "abort")).toHaveLength(1);
    await clock.advance(10_000);
    expect(watcher.watching).toBe(0);
    expect(getEventListeners(x.signal, "abort")).toHaveLength(0);
  });

  it("ends a watch whose signal already aborted after track returns, never inside it", async () => {
    const { watcher, asked } = watcherOver({});
    const ac = new AbortController();
    ac.abort();
    const calls: WatchResult[] = [];
    trackTask(
      watcher,
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
