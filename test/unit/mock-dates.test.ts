import {
  FilterLogEventsCommand,
  GetLogEventsCommand,
  type FilterLogEventsCommandInput,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  DescribeTasksCommand,
  RunTaskCommand,
  type DescribeTasksCommandInput,
  type RunTaskCommandInput,
} from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/testing/index.js";
import { ACCOUNT, createMocks, REGION, runnerFor } from "../helpers/aws-mocks.js";
import { job } from "../helpers/sim.js";

const arn = (id: string): string => `arn:aws:ecs:${REGION}:${ACCOUNT}:task/default/${id}`;
const CREATED = "2026-01-01T00:00:00.000Z";

// A hand-written mock answers in JSON terms: its dates are ISO strings where the SDK gives Dates.
describe("a mock client answering dates as ISO strings", () => {
  it("reads stoppedAt and createdAt as times: the last to stop represents the job, logs start at creation", async () => {
    const mocks = createMocks();
    const clock = new ManualClock();
    mocks.ecs.on(RunTaskCommand).callsFake((input: RunTaskCommandInput) => ({
      tasks: [
        {
          taskArn: arn(`t${input.startedBy?.split("-").at(-1)}`),
          lastStatus: "PROVISIONING",
          createdAt: CREATED,
        },
      ],
      failures: [],
    }));
    mocks.ecs.on(DescribeTasksCommand).callsFake((input: DescribeTasksCommandInput) => ({
      tasks: (input.tasks ?? []).map((taskArn) => ({
        taskArn,
        lastStatus: "STOPPED",
        stopCode: "EssentialContainerExited",
        // Task 0 stops four minutes after task 1: it is the job's representative.
        stoppedAt: taskArn.endsWith("/t0")
          ? "2026-01-01T00:05:00.000Z"
          : "2026-01-01T00:01:00.000Z",
        containers: [{ name: "main", exitCode: 0 }],
      })),
      failures: [],
    }));
    const created = Date.parse(CREATED);
    mocks.logs.on(FilterLogEventsCommand).callsFake((input: FilterLogEventsCommandInput) => ({
      events: (input.logStreamNames ?? []).flatMap((stream) => [
        {
          eventId: `${stream}-before`,
          logStreamName: stream,
          timestamp: created - 1000,
          message: "an earlier attempt's line",
        },
        {
          eventId: `${stream}-after`,
          logStreamName: stream,
          timestamp: created + 1000,
          message: "this attempt's line",
        },
      ]),
    }));
    mocks.logs.on(GetLogEventsCommand).resolves({
      events: [{ timestamp: created + 1000, message: "done" }],
      nextForwardToken: "f/1",
    });
    const runner = runnerFor(mocks, { clock });
    const lines: string[] = [];
    runner.on("log", (e) => lines.push(e.message));

    const result = await clock.runUntil(runner.run(job({ taskCount: 2, logs: { follow: true } })));

    expect(result.status).toBe("succeeded");
    expect(result.logs).toMatchObject({ taskIndex: 0, taskArn: arn("t0"), stream: "stdout" });
    expect(lines).toEqual(["this attempt's line", "this attempt's line"]);
  });
});
