/**
 * An orchestrator wrapper in the style of Airflow or Prefect: a small DAG of two jobs where the
 * second is fed by the first, with every event forwarded to the host's logger. Runs locally:
 *
 *   npx tsx examples/orchestrator/dag.ts
 */
import { EcsBatchRunner, type BatchJobInput, type JobResult, type Logger } from "ecs-batch-runner";
import { createLocalAws } from "ecs-batch-runner/local";

/** The host's logger; an orchestrator would pass its own (task-instance log, Prefect run logger). */
const hostLogger: Logger = {
  debug: () => undefined,
  info: (message, meta) =>
    process.stderr.write(`INFO  ${message} ${meta === undefined ? "" : JSON.stringify(meta)}\n`),
  warn: (message, meta) =>
    process.stderr.write(`WARN  ${message} ${meta === undefined ? "" : JSON.stringify(meta)}\n`),
  error: (message, meta) =>
    process.stderr.write(`ERROR ${message} ${meta === undefined ? "" : JSON.stringify(meta)}\n`),
};

/** One DAG node: an ECS batch job built from its upstream results. */
interface Node {
  readonly id: string;
  readonly upstream: readonly string[];
  build(upstream: ReadonlyMap<string, JobResult>): BatchJobInput;
}

/** Runs the nodes in dependency order; a failed node fails its downstream without running them. */
async function runDag(
  runner: EcsBatchRunner,
  nodes: readonly Node[],
  runId: string,
): Promise<Map<string, JobResult>> {
  // Forward every event to the host, as an operator's log would show them.
  runner.on("taskFailed", (e) =>
    hostLogger.warn(`${e.jobId}: task ${e.taskIndex} attempt ${e.attempt} failed`, {
      reason: e.failure.reason,
      willRetry: e.willRetry,
    }),
  );
  runner.on("retried", (e) =>
    hostLogger.info(`${e.jobId}: task ${e.taskIndex} retries`, {
      attempt: e.attempt,
      delayMs: e.delayMs,
    }),
  );
  runner.on("taskSucceeded", (e) =>
    hostLogger.info(`${e.jobId}: task ${e.taskIndex} succeeded`, { attempt: e.attempt }),
  );
  runner.on("jobCompleted", (e) =>
    hostLogger.info(`${e.jobId}: ${e.result.status}`, {
      failedAttempts: e.result.failedTaskArns.length,
    }),
  );

  const results = new Map<string, JobResult>();
  for (const node of nodes) {
    const failedUpstream = node.upstream.find((u) => results.get(u)?.status !== "succeeded");
    if (failedUpstream !== undefined) {
      hostLogger.error(`${node.id}: skipped, upstream ${failedUpstream} did not succeed`);
      continue;
    }
    const job = { ...node.build(results), jobId: `${runId}-${node.id}` };
    results.set(node.id, await runner.run(job));
  }
  return results;
}

const definition = (family: string, script: string): BatchJobInput["taskDefinition"] => ({
  definition: {
    family,
    cpu: "256",
    memory: "512",
    containerDefinitions: [
      {
        name: "main",
        image: "python:3.12-slim",
        entryPoint: ["sh", "-c"],
        command: [script],
        logConfiguration: {
          logDriver: "awslogs",
          options: {
            "awslogs-group": "/dag",
            "awslogs-region": "us-west-2",
            "awslogs-stream-prefix": family,
          },
        },
      },
    ],
  },
});

const dag: Node[] = [
  {
    id: "extract",
    upstream: [],
    build: () => ({
      taskDefinition: definition("extract", 'echo "extracted part $TASK_NUM"'),
      taskCount: 3,
      maxFailCount: 1,
      pollInterval: "500ms",
    }),
  },
  {
    id: "load",
    upstream: ["extract"],
    // Fed by the first job: one loader per extracted part, told where the parts came from.
    build: (upstream) => {
      const extract = upstream.get("extract") as JobResult;
      return {
        taskDefinition: definition(
          "load",
          'echo "loading part $TASK_NUM of $PARTS from job $SOURCE_JOB"',
        ),
        taskCount: extract.tasks.length,
        pollInterval: "500ms",
        containerOverrides: [
          {
            name: "main",
            environment: { SOURCE_JOB: extract.jobId, PARTS: String(extract.tasks.length) },
          },
        ],
      };
    },
  },
];

const local = createLocalAws();
try {
  const runner = new EcsBatchRunner({ clients: local.clients, logger: hostLogger });
  const results = await runDag(runner, dag, `run${Date.now().toString(36)}`);
  const load = results.get("load");
  if (load?.logs !== undefined && "text" in load.logs) process.stdout.write(load.logs.text);
  process.exitCode =
    [...results.values()].every((r) => r.status === "succeeded") && results.size === dag.length
      ? 0
      : 1;
} finally {
  local.close();
}
