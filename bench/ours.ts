/** Our runner on a scenario: one `EcsBatchRunner`, every job submitted at once. */
import { EcsBatchRunner, type JobResult, type JobStore } from "../src/index.js";
import type { Env } from "./env.js";
import { TaskTimes, type JobOutcome, type RunRecord } from "./metrics.js";
import {
  jobIds,
  jobInput,
  seededRandom,
  WORKLOAD,
  type NetworkChoice,
  type Scenario,
} from "./workload.js";

function outcome(result: JobResult): JobOutcome {
  return {
    jobId: result.jobId,
    status: result.status,
    attempts: result.tasks.reduce((a, t) => a + t.attempts, 0),
    ...(result.error === undefined
      ? {}
      : { error: `${result.error.code}: ${result.error.message}` }),
  };
}

/**
 * @param store checkpoints the runs into it (DESIGN 3.11); none by default, as the peers have none
 * @param network how the jobs get their network (`jobInput`)
 */
export async function runOurs(
  env: Env,
  scenario: Scenario,
  store?: JobStore,
  network: NetworkChoice = "infer",
): Promise<RunRecord> {
  const { clock } = env;
  const times = new TaskTimes();
  const runner = new EcsBatchRunner({
    region: WORKLOAD.region,
    clients: env.clients,
    clock,
    random: seededRandom(WORKLOAD.seed + 1),
    ...(store === undefined ? {} : { store }),
  });
  runner.on("taskStarted", (e) => times.started(e.taskArn, clock.now()));
  runner.on("taskStatusChanged", (e) => {
    if (e.lastStatus === "STOPPED") times.stopped(e.taskArn, clock.now());
  });
  const startedAt = clock.now();
  let finishedAt = startedAt;
  const done = (o: JobOutcome): JobOutcome => {
    finishedAt = Math.max(finishedAt, clock.now());
    return o;
  };
  const results = jobIds(scenario).map((jobId) =>
    runner.submit(jobInput(jobId, scenario, network)).result.then(
      (r) => done(outcome(r)),
      (error: unknown) => done({ jobId, status: "rejected", attempts: 0, error: String(error) }),
    ),
  );
  const jobs = await env.drive(Promise.all(results));
  return {
    tasks: scenario.jobs * scenario.tasksPerJob,
    startedAt,
    finishedAt,
    jobs,
    times,
    // The runner resolves a job only once it saw every task STOPPED (or its 2-minute watch after
    // StopTask ran out): what it never saw stop, it left behind.
    abandoned: times.unfinished,
  };
}
