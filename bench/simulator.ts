/**
 * How fast the simulator itself is: 10,000 tasks through their whole lifecycle (RunTask, the
 * state changes, DescribeTasks of every task in batches of 100 until all are STOPPED) on a
 * ManualClock. Prints the process CPU time it took.
 *
 *   npm run bench:simulator
 */
import {
  DescribeTasksCommand,
  RunTaskCommand,
  type DescribeTasksCommandOutput,
  type RunTaskCommandOutput,
} from "@aws-sdk/client-ecs";
import { createSimulatedAws, ManualClock } from "../src/testing/index.js";

const TASKS = Number(process.env.TASKS ?? 10_000);
const clock = new ManualClock();
const aws = createSimulatedAws({ clock });
aws.registerTaskDefinition({
  family: "bench",
  requiresCompatibilities: ["FARGATE"],
  networkMode: "awsvpc",
  cpu: "256",
  memory: "512",
  containerDefinitions: [{ name: "main", image: "alpine" }],
});
aws.script((ctx) => ctx.taskIndex % 10 === 0, { exitCode: 1, logs: ["starting", "failing"] });

const cpuBefore = process.cpuUsage();
const wallBefore = performance.now();
const arns: string[] = [];
for (let i = 0; i < TASKS; i++) {
  const out = (await aws.ecs.send(
    new RunTaskCommand({
      taskDefinition: "bench",
      launchType: "FARGATE",
      startedBy: `bench-${i}`,
      networkConfiguration: { awsvpcConfiguration: { subnets: ["subnet-1"] } },
      tags: [{ key: "ecs-batch:task-index", value: String(i) }],
      clientToken: `bench-${i}`,
    }),
  )) as RunTaskCommandOutput;
  arns.push(out.tasks?.[0]?.taskArn as string);
}
let open = arns;
let polls = 0;
while (open.length > 0) {
  await clock.advance(5000);
  polls++;
  const still: string[] = [];
  for (let i = 0; i < open.length; i += 100) {
    const out = (await aws.ecs.send(
      new DescribeTasksCommand({ cluster: "default", tasks: open.slice(i, i + 100) }),
    )) as DescribeTasksCommandOutput;
    for (const t of out.tasks ?? [])
      if (t.lastStatus !== "STOPPED") still.push(t.taskArn as string);
  }
  open = still;
}
const cpu = process.cpuUsage(cpuBefore);
const cpuMs = (cpu.user + cpu.system) / 1000;
process.stdout.write(
  `${TASKS} tasks through their lifecycle: ${aws.count("RunTask")} RunTask, ${aws.count("DescribeTasks")} DescribeTasks over ${polls} polls; ` +
    `CPU ${cpuMs.toFixed(0)} ms (${((cpuMs * 1000) / TASKS).toFixed(1)} µs per task), wall ${(performance.now() - wallBefore).toFixed(0)} ms\n`,
);
