/**
 * The lookup that settles a RunTask whose answer was lost, when ECS lists a task of the request's
 * `startedBy` as running but DescribeTasks answers MISSING: ECS has not caught up (its API is
 * eventually consistent), so "no task" must not be concluded from it.
 */
import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { AdaptiveRateLimiter, findStartedTasks, type AwsClient } from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";

const arn = "arn:aws:ecs:us-west-2:123456789012:task/default/0123456789abcdef";
const tags = [
  { key: "ecs-batch:job-id", value: "job1" },
  { key: "ecs-batch:attempt", value: "1" },
];
const request = { cluster: "default", startedBy: "ecs-batch-job1-0", tags };

/** ECS listing the task as running, and describing it MISSING for its first `missing` looks. */
function laggingEcs(missing: number): { ecs: AwsClient; describes: () => number } {
  let describes = 0;
  const task: Task = { taskArn: arn, lastStatus: "PROVISIONING", desiredStatus: "RUNNING", tags };
  const ecs: AwsClient = {
    send: (command) => {
      const input = command.input as { desiredStatus?: string; tasks?: string[] };
      if (input.tasks !== undefined) {
        describes++;
        return Promise.resolve(
          describes <= missing
            ? { tasks: [], failures: [{ arn, reason: "MISSING" }] }
            : { tasks: [task], failures: [] },
        );
      }
      return Promise.resolve({ taskArns: input.desiredStatus === "RUNNING" ? [arn] : [] });
    },
  };
  return { ecs, describes: () => describes };
}

function lookup(ecs: AwsClient, clock: ManualClock) {
  const limiter = new AdaptiveRateLimiter(clock, { ratePerSecond: 20, burst: 100 });
  return clock.runUntil(findStartedTasks({ ecs, clock, limiter }, request));
}

describe("findStartedTasks and a task listed but not yet described", () => {
  it("describes it again until ECS shows it: the request's task is found", async () => {
    const clock = new ManualClock({ start: 0 });
    const { ecs, describes } = laggingEcs(2);
    const found = await lookup(ecs, clock);
    expect(found).toEqual({ ok: true, tasks: [expect.objectContaining({ taskArn: arn })] });
    expect(describes()).toBe(3);
    // One second, then two, before the second and third looks.
    expect(clock.now()).toBe(3000);
  });

  it("never concludes that the request started no task while ECS lists one it cannot describe", async () => {
    const clock = new ManualClock({ start: 0 });
    const { ecs, describes } = laggingEcs(Number.POSITIVE_INFINITY);
    const found = await lookup(ecs, clock);
    expect(found.ok).toBe(false);
    expect(String((found as { error: unknown }).error)).toContain(`${arn} as running`);
    expect(describes()).toBe(4);
  });
});
