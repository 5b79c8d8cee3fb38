/**
 * CloudWatch Logs over the wire. moto runs no containers, so the test plays the awslogs driver:
 * it writes lines into each task's stream (CreateLogGroup, CreateLogStream, PutLogEvents) while
 * moto holds the task RUNNING, then lets moto finish the task. The runner reads them back with
 * FilterLogEvents (`logs.follow`) and GetLogEvents (the result's logs).
 */
import { expect, it } from "vitest";
import { EcsBatchRunner } from "ecs-batch-runner";
import {
  collect,
  createCluster,
  describeInterop,
  motoTasks,
  nextEvents,
  received,
  template,
  unique,
  useAws,
  writeTaskLogs,
} from "./helpers.js";

const aws = useAws();

describeInterop("task logs in moto's CloudWatch Logs", () => {
  it("follows every task's lines live and returns the representative task's logs", async () => {
    await motoTasks.hold();
    const group = `/ecs/${unique("logs")}`;
    const cluster = await createCluster(aws.ecs);
    const runner = new EcsBatchRunner({ clients: aws, logFollowIntervalMs: 200 });
    const lines = collect(runner, "log");
    // Each task writes two lines as soon as it runs; once all four are followed, the tasks end.
    runner.on("taskStarted", (e) => {
      void writeTaskLogs(aws.logs, { group, container: "main", taskArn: e.taskArn }, [
        `task ${e.taskIndex} starting`,
        `task ${e.taskIndex} done`,
      ]);
    });
    void nextEvents(runner, "log", 4).then(() => motoTasks.progress());

    const result = await runner.run({
      jobId: "chatty",
      cluster,
      taskDefinition: { definition: template(unique("logs"), { logGroup: group }) },
      taskCount: 2,
      pollInterval: "200ms",
      timeout: "20s",
      logs: { follow: true },
    });

    expect(result.status).toBe("succeeded");
    const arnOf = (index: number): string => result.tasks[index]?.taskArn ?? "";
    expect(
      lines
        .map((l) => `${l.taskIndex} ${l.attempt} ${l.container} ${l.taskArn} ${l.message}`)
        .sort(),
    ).toEqual([
      `0 1 main ${arnOf(0)} task 0 done`,
      `0 1 main ${arnOf(0)} task 0 starting`,
      `1 1 main ${arnOf(1)} task 1 done`,
      `1 1 main ${arnOf(1)} task 1 starting`,
    ]);
    for (const line of lines) {
      expect(line.jobId).toBe("chatty");
      expect(Math.abs(line.timestamp - Date.now())).toBeLessThan(60_000);
    }
    // Both tasks were followed by one FilterLogEvents call per round, naming both streams.
    const filters = received("FilterLogEvents").filter((r) => r.body.logGroupName === group);
    expect(filters.length).toBeGreaterThan(0);
    expect(filters.some((r) => (r.body.logStreamNames as string[]).length === 2)).toBe(true);

    // On success the representative task is the one that stopped last; moto gives no
    // stoppedAt, so the tie goes to the higher index.
    expect(result.logs).toBeDefined();
    const logs = result.logs as {
      taskIndex: number;
      taskArn: string;
      stream: string;
      text: string;
    };
    expect(logs.taskIndex).toBe(1);
    expect(logs.taskArn).toBe(arnOf(1));
    expect(logs.stream).toBe("stdout");
    const taskId = arnOf(1).slice(arnOf(1).lastIndexOf("/") + 1);
    expect(logs.text).toMatch(
      new RegExp(
        `^=== ecs/main/${taskId} ===\\n\\n\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\] task 1 starting\\n\\[[^\\]]+\\] task 1 done\\n$`,
      ),
    );
  });

  it("reads a stream longer than one GetLogEvents page to its end, in order", async () => {
    await motoTasks.hold();
    const group = `/ecs/${unique("long")}`;
    const cluster = await createCluster(aws.ecs);
    const runner = new EcsBatchRunner({ clients: aws });
    const count = 12_345;
    runner.on("taskStarted", (e) => {
      void writeTaskLogs(
        aws.logs,
        { group, container: "main", taskArn: e.taskArn },
        Array.from({ length: count }, (_, i) => `line ${i}`),
      ).then(() => motoTasks.progress());
    });

    const result = await runner.run({
      jobId: "long",
      cluster,
      taskDefinition: { definition: template(unique("long"), { logGroup: group }) },
      pollInterval: "200ms",
      timeout: "20s",
    });

    expect(result.status).toBe("succeeded");
    const text = (result.logs as { text: string }).text;
    const body = text.split("\n").filter((l) => l.startsWith("["));
    expect(body).toHaveLength(count);
    expect(body[0]).toMatch(/\] line 0$/);
    expect(body[count - 1]).toMatch(new RegExp(`\\] line ${count - 1}$`));
    expect(body.every((l, i) => l.endsWith(`] line ${i}`))).toBe(true);
    // Paged: more than one GetLogEvents call, each forward token taken from the previous answer.
    const gets = received("GetLogEvents").filter((r) => r.body.logGroupName === group);
    expect(gets.length).toBeGreaterThanOrEqual(2);
    expect(gets[0]?.body.startFromHead).toBe(true);
  });
});
