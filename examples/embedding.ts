/**
 * The README's embedding example, type-checked by `npm test`. It runs against AWS (credentials
 * and a region from the environment); to try it without AWS, pass `createLocalAws().clients`.
 */
import { EcsBatchRunner } from "ecs-batch-runner";

export async function nightlyReport(date: string): Promise<number> {
  const runner = new EcsBatchRunner({ region: "us-west-2" });
  runner.on("taskFailed", (e) => console.warn(`task ${e.taskIndex} failed: ${e.failure.reason}`));
  const result = await runner.run({
    cluster: "batch",
    taskDefinition: { path: "task-definition.json" },
    taskCount: 8,
    maxFailCount: 2,
    timeout: "2h",
    containerOverrides: [{ name: "main", environment: { REPORT_DATE: date } }],
  });
  if (result.logs !== undefined && "text" in result.logs) process.stdout.write(result.logs.text);
  return result.status === "succeeded" ? 0 : 1;
}
