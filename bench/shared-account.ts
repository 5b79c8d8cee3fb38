/**
 * Many runners on one account (issue #24, item 4): what happens to the launch rate and to
 * throttling when 20 runner processes share one AWS account, each with its own adaptive rate
 * limiters, against one runner running the same jobs. Virtual time: one simulated account with
 * the published limits (`bench/workload.ts`) and one `ManualClock` shared by every runner.
 *
 *   npx tsx bench/shared-account.ts                       # 20x500 and 20x100
 *   npx tsx bench/shared-account.ts --scenarios 20x500    # one workload (jobs x tasks per job)
 *   npx tsx bench/shared-account.ts --json out.json       # also write the figures
 *   npx tsx bench/shared-account.ts --prepared            # no registering, no VPC inference
 *   npx tsx bench/shared-account.ts --runtask-min-rate 0.2  # `many`: RunTask's floor lowered
 *
 * Setups, on the same total workload:
 * - `one`: one `EcsBatchRunner` running every job (one launcher, one watcher, one set of limits).
 * - `many`: one runner per job, each with its default limits, as separate processes would be.
 * - `split`: one runner per job, each given 1/N of the default limits through `rateLimits` and
 *   `logRateLimit`: a static share of the account, what an operator can configure today.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  EcsBatchRunner,
  type BatchJobInput,
  type EcsBatchRunnerOptions,
  type JobResult,
} from "../src/index.js";
import { ManualClock } from "../src/testing/index.js";
import { algorithmMetrics, summarizeSim, TaskTimes, type AlgorithmMetrics } from "./metrics.js";
import {
  jobInput,
  seededRandom,
  simulatedAccount,
  taskDefinition,
  WORKLOAD,
  type Scenario,
} from "./workload.js";

const EPOCH = Date.UTC(2026, 0, 1);
const SETUPS = ["one", "many", "split"] as const;
type Setup = (typeof SETUPS)[number];

const { values } = parseArgs({
  options: {
    scenarios: { type: "string", default: "20x500,20x100" },
    setups: { type: "string", default: SETUPS.join(",") },
    json: { type: "string" },
    /**
     * Jobs name a task definition registered before they start and explicit subnets, so no
     * runner registers or infers anything: the launch budget alone, without the start-up calls.
     */
    prepared: { type: "boolean", default: false },
    /** Added to every runner's jitter seed: another draw of the same workload. */
    "seed-offset": { type: "string", default: "0" },
    /**
     * `many`: each runner's RunTask limiter gets this floor (`rateLimits.runTask`'s
     * `minRatePerSecond`, tasks per second) instead of the default 1/s.
     */
    "runtask-min-rate": { type: "string" },
  },
});

function parseScenario(name: string): Scenario {
  const m = /^(\d+)x(\d+)$/.exec(name);
  if (m === null) throw new Error(`scenario ${name}: expected <jobs>x<tasks per job>`);
  return { name, jobs: Number(m[1]), tasksPerJob: Number(m[2]) };
}

/** The runner's default limits (`src/runner.ts`), each divided by `n`. */
function splitLimits(n: number): Pick<EcsBatchRunnerOptions, "rateLimits" | "logRateLimit"> {
  const share = (ratePerSecond: number, burst: number) => ({
    ratePerSecond: ratePerSecond / n,
    burst: Math.max(1, burst / n),
  });
  return {
    rateLimits: {
      runTask: share(20, 20),
      describeTasks: share(20, 100),
      stopTask: share(20, 50),
    },
    logRateLimit: share(5, 5),
  };
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);

/** Everything one setup of one scenario measured. */
interface Measurement {
  readonly scenario: string;
  readonly setup: Setup;
  readonly runners: number;
  readonly metrics: AlgorithmMetrics;
  readonly duplicatesOk: boolean;
  /** Launch attempts failed because RunTask kept being refused for the whole resend window. */
  readonly launchGiveUps: number;
  /** Launches per second over the middle 80% of the launch phase (no burst, no tail). */
  readonly steadyLaunchRatePerS: number;
  /** RunTask calls per second, and the share of them throttled, over the same stretch. */
  readonly steadyRunTaskCallsPerS: number;
  readonly steadyRunTaskThrottledShare: number;
  /** Most RunTask calls throttled in one simulated second. */
  readonly peakRunTaskThrottledPerS: number;
  /** Most DescribeTasks calls in one simulated second (the bucket holds 100). */
  readonly peakDescribeTasksPerS: number;
  /** When each job's last first attempt launched, seconds from submit, sorted. */
  readonly jobLaunchesDoneS: readonly number[];
  /** From a task's STOPPED (simulator) to its runner seeing it, seconds. */
  readonly stopSeenLagMeanS: number;
  readonly stopSeenLagP99S: number;
  /** When each job resolved, seconds from submit, sorted. */
  readonly jobEndS: readonly number[];
  readonly wallMs: number;
}

async function measure(scenario: Scenario, setup: Setup): Promise<Measurement> {
  const wallStart = performance.now();
  const clock = new ManualClock({ start: EPOCH });
  const aws = simulatedAccount(clock, scenario);
  const arn = values.prepared
    ? aws.registerTaskDefinition(taskDefinition()).taskDefinitionArn
    : undefined;
  const input = (jobId: string): BatchJobInput => {
    const job = jobInput(jobId, scenario);
    return arn === undefined
      ? job
      : { ...job, taskDefinition: { arn }, network: { subnets: ["subnet-0bench0001"] } };
  };
  const runnerCount = setup === "one" ? 1 : scenario.jobs;
  const times = new TaskTimes();
  const seenStopped = new Map<string, number>();
  let launchGiveUps = 0;
  const runners = Array.from({ length: runnerCount }, (_, i) => {
    const runner = new EcsBatchRunner({
      region: WORKLOAD.region,
      clients: aws.clients,
      clock,
      // Runner 0 draws what `bench/ours.ts` draws (offset 0); each other has its own jitter.
      // All share one set of client objects: what a runner coalesces per client (one
      // DescribeClusters for concurrent checks) is made once here, once per process on AWS.
      random: seededRandom(WORKLOAD.seed + 1 + i + Number(values["seed-offset"]) * 1000),
      ...(setup === "split" ? splitLimits(runnerCount) : {}),
      ...(setup === "many" && values["runtask-min-rate"] !== undefined
        ? {
            rateLimits: {
              runTask: {
                ratePerSecond: 20,
                burst: 20,
                minRatePerSecond: Number(values["runtask-min-rate"]),
              },
            },
          }
        : {}),
    });
    runner.on("taskStarted", (e) => times.started(e.taskArn, clock.now()));
    runner.on("taskStatusChanged", (e) => {
      if (e.lastStatus !== "STOPPED") return;
      times.stopped(e.taskArn, clock.now());
      if (!seenStopped.has(e.taskArn)) seenStopped.set(e.taskArn, clock.now());
    });
    runner.on("taskFailed", (e) => {
      if (e.failure.kind === "launch" && e.failure.reason.startsWith("RunTask kept failing"))
        launchGiveUps++;
    });
    return runner;
  });
  const startedAt = clock.now();
  const jobEnds: number[] = [];
  const results = Array.from({ length: scenario.jobs }, (_, j) => {
    const runner = runners[j % runnerCount] as EcsBatchRunner;
    return runner.submit(input(`job-${j}`)).result.then(
      (r: JobResult) => {
        jobEnds.push(clock.now());
        return {
          jobId: r.jobId,
          status: r.status,
          attempts: r.tasks.reduce((a, t) => a + t.attempts, 0),
          ...(r.error === undefined ? {} : { error: `${r.error.code}: ${r.error.message}` }),
        };
      },
      (error: unknown) => {
        jobEnds.push(clock.now());
        return { jobId: `job-${j}`, status: "rejected", attempts: 0, error: String(error) };
      },
    );
  });
  const jobs = await clock.runUntil(Promise.all(results), { maxTimeMs: 48 * 3_600_000 });
  const finishedAt = Math.max(startedAt, ...jobEnds);
  const sim = summarizeSim(aws);
  const metrics = algorithmMetrics(
    {
      tasks: scenario.jobs * scenario.tasksPerJob,
      startedAt,
      finishedAt,
      jobs,
      times,
      abandoned: times.unfinished,
    },
    sim,
  );
  let duplicatesOk = true;
  try {
    aws.assert.noDuplicateTasks();
  } catch {
    duplicatesOk = false;
  }

  // The steady launch phase: its middle 80%, without the first burst and the last stragglers.
  let steadyLaunchRatePerS = Number.NaN;
  let steadyRunTaskCallsPerS = Number.NaN;
  let steadyRunTaskThrottledShare = Number.NaN;
  if (sim.firstRunTaskAt !== undefined && sim.initialLaunchesDoneAt !== undefined) {
    const span = sim.initialLaunchesDoneAt - sim.firstRunTaskAt;
    const from = sim.firstRunTaskAt + 0.1 * span;
    const to = sim.firstRunTaskAt + 0.9 * span;
    const inside = (at: number): boolean => at >= from && at < to;
    const seconds = (to - from) / 1000;
    steadyLaunchRatePerS = aws.taskHistory.filter((h) => inside(h.createdAt)).length / seconds;
    const calls = aws.callsTo("RunTask").filter((c) => inside(c.at));
    steadyRunTaskCallsPerS = calls.length / seconds;
    steadyRunTaskThrottledShare =
      calls.filter((c) => c.error === "ThrottlingException").length / Math.max(1, calls.length);
  }
  const perSecond = (action: string, throttledOnly: boolean): number => {
    const counts = new Map<number, number>();
    for (const c of aws.callsTo(action)) {
      if (throttledOnly && c.error !== "ThrottlingException") continue;
      const s = Math.floor((c.at - startedAt) / 1000);
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    return Math.max(0, ...counts.values());
  };
  const launchesDone = new Map<string, number>();
  for (const h of aws.taskHistory) {
    if (h.context.attempt !== 1) continue;
    const job = h.context.jobId ?? "?";
    launchesDone.set(job, Math.max(launchesDone.get(job) ?? 0, h.createdAt));
  }
  const lags: number[] = [];
  for (const t of aws.tasks()) {
    const seen = t.taskArn === undefined ? undefined : seenStopped.get(t.taskArn);
    if (seen !== undefined && t.stoppedAt !== undefined)
      lags.push((seen - t.stoppedAt.getTime()) / 1000);
  }
  lags.sort((a, b) => a - b);
  return {
    scenario: scenario.name,
    setup,
    runners: runnerCount,
    metrics,
    duplicatesOk,
    launchGiveUps,
    steadyLaunchRatePerS,
    steadyRunTaskCallsPerS,
    steadyRunTaskThrottledShare,
    peakRunTaskThrottledPerS: perSecond("RunTask", true),
    peakDescribeTasksPerS: perSecond("DescribeTasks", false),
    jobLaunchesDoneS: [...launchesDone.values()]
      .map((t) => (t - startedAt) / 1000)
      .sort((a, b) => a - b),
    stopSeenLagMeanS: lags.reduce((a, b) => a + b, 0) / Math.max(1, lags.length),
    stopSeenLagP99S: quantile(lags, 0.99),
    jobEndS: jobEnds.map((t) => (t - startedAt) / 1000).sort((a, b) => a - b),
    wallMs: performance.now() - wallStart,
  };
}

const fmt = (n: number | null | undefined, digits = 1): string =>
  n === null || n === undefined || Number.isNaN(n) ? "-" : n.toFixed(digits);

const spread = (sorted: readonly number[]): string =>
  `${fmt(sorted[0])}/${fmt(quantile(sorted, 0.5))}/${fmt(sorted.at(-1))}`;

function table(rows: readonly Measurement[]): string {
  const lines: string[][] = [
    [
      "scenario",
      "setup",
      "runners",
      "jobs ok",
      "dup-free",
      "makespan s",
      "launch phase s",
      "launch/s (÷20)",
      "steady launch/s",
      "steady RT calls/s",
      "steady RT thr share",
      "RunTask calls",
      "RT/needed",
      "RT throttled",
      "peak RT thr/s",
      "launch give-ups",
      "DT calls",
      "DT/bound",
      "peak DT/s",
      "DT+LT throttled",
      "StopTask thr",
      "GetLogEvents thr",
      "RegisterTaskDef",
      "stop seen s mean/p99",
      "job launched s min/med/max",
      "job end s min/med/max",
    ],
  ];
  for (const r of rows) {
    const m = r.metrics;
    const thr = (a: string): number => m.throttled[a] ?? 0;
    lines.push([
      r.scenario,
      r.setup,
      String(r.runners),
      `${m.jobsSucceeded}/${m.jobs}`,
      r.duplicatesOk && m.duplicates === 0 ? "yes" : `NO (${m.duplicates})`,
      fmt(m.makespanS),
      fmt(m.launchPhaseS),
      `${fmt(m.launchRatePerS)} (${fmt(m.launchRateRatio, 2)})`,
      fmt(r.steadyLaunchRatePerS),
      fmt(r.steadyRunTaskCallsPerS),
      fmt(r.steadyRunTaskThrottledShare, 2),
      String(m.calls.RunTask ?? 0),
      fmt(m.runTaskRatio, 3),
      String(thr("RunTask")),
      String(r.peakRunTaskThrottledPerS),
      String(r.launchGiveUps),
      String(m.calls.DescribeTasks ?? 0),
      fmt(m.describeTasksRatio, 2),
      String(r.peakDescribeTasksPerS),
      String(thr("DescribeTasks") + thr("ListTasks")),
      String(thr("StopTask")),
      String(thr("GetLogEvents")),
      String(m.calls.RegisterTaskDefinition ?? 0),
      `${fmt(r.stopSeenLagMeanS)}/${fmt(r.stopSeenLagP99S)}`,
      spread(r.jobLaunchesDoneS),
      spread(r.jobEndS),
    ]);
  }
  // Transposed: one column per run, one row per figure, so it fits a terminal.
  const cols = lines.length;
  const out: string[][] = (lines[0] as string[]).map((_, i) =>
    Array.from({ length: cols }, (_, c) => (lines[c] as string[])[i] as string),
  );
  const widths = Array.from({ length: cols }, (_, c) =>
    Math.max(...out.map((row) => (row[c] as string).length)),
  );
  return out
    .map((row) => row.map((cell, c) => cell.padEnd(widths[c] as number)).join("  "))
    .join("\n");
}

const scenarios = values.scenarios.split(",").map(parseScenario);
const setups = values.setups.split(",").map((s) => {
  if (!(SETUPS as readonly string[]).includes(s)) throw new Error(`unknown setup ${s}`);
  return s as Setup;
});
const rows: Measurement[] = [];
for (const scenario of scenarios) {
  for (const setup of setups) {
    const r = await measure(scenario, setup);
    rows.push(r);
    process.stderr.write(
      `${scenario.name} ${setup}: ${fmt(r.metrics.makespanS)} s simulated, ${fmt(r.wallMs / 1000)} s wall\n`,
    );
  }
}
process.stdout.write(`${table(rows)}\n`);
for (const r of rows) {
  const other = Object.entries(r.metrics.otherErrors);
  if (r.metrics.failures.length > 0 || other.length > 0)
    process.stdout.write(
      `${r.scenario} ${r.setup}: failures ${JSON.stringify(r.metrics.failures)}, other errors ${JSON.stringify(r.metrics.otherErrors)}\n`,
    );
}
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
