/**
 * The benchmark (issue 7): every scenario, driven by our runner and by two naive strategies
 * against the simulator with the published AWS limits, plus real-time runs of our runner for
 * the process figures. Prints tables and writes `bench/out/latest.json`.
 *
 *   npm run bench
 *   npm run bench -- --scenarios 1x100,1x1000 --speed 20 --no-naive --no-realtime --no-replay
 *   npm run bench -- --scenarios 1x10000 --no-naive --repeat 3
 *   npm run bench -- --scenarios 1x10000 --no-naive --speed 1 --sequential-replay
 *
 * Each measurement runs in a fresh process built from the sources with tsup (plain `node`, no
 * TypeScript loader in the measured process, as users run the library).
 */
import { forkMeasurement } from "./fork.js";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { parseArgs } from "node:util";
import { build } from "tsup";
import { medianPair, printReport, summarize } from "./report.js";
import type { MeasurementResult, Mode, ReplayResult, Strategy } from "./result.js";
import { isLongTaskScenario, scenarioByName, SCENARIOS, WORKLOAD } from "./workload.js";

const { values } = parseArgs({
  options: {
    /**
     * Default: every scenario in virtual time, and all but the long-task one in real time (its
     * jobs run an hour of simulated time: over 6 minutes a run at 10x). Named here, a scenario
     * runs in both.
     */
    scenarios: { type: "string" },
    speed: { type: "string", default: "10" },
    "no-naive": { type: "boolean", default: false },
    "no-realtime": { type: "boolean", default: false },
    "no-replay": { type: "boolean", default: false },
    /** Real-time run + replay pairs per scenario; the report keeps the median pair. */
    repeat: { type: "string", default: "1" },
    /**
     * Replay each run's own transcript after it, alone, instead of replaying the previous run's
     * transcript beside the next run (the default; see "Modes" in bench/README.md).
     */
    "sequential-replay": { type: "boolean", default: false },
    /**
     * Real-time runs: load the three SDK client modules before the measured job, as a host that
     * built its own SDK clients has; the job's figures then hold no one-time module loading
     * (which `npm run bench:startup` measures).
     */
    "preload-sdk": { type: "boolean", default: false },
    /**
     * Real-time runs: `infer` (the default VPC, through EC2) or `named` (the job names that
     * network, as a production job names its own: no EC2 call, and `--preload-sdk` leaves the EC2
     * client out).
     */
    network: { type: "string", default: "infer" },
    /**
     * Our runner checkpoints its runs into a `FileJobStore` in a new directory under this one
     * (DESIGN 3.11), in every mode; the peers keep no checkpoints. `npm run bench:durable`
     * measures what the store costs in virtual time; this measures it at a real pace.
     */
    store: { type: "string" },
    parallel: { type: "string", default: String(Math.min(2, availableParallelism())) },
  },
});
const scenarios =
  values.scenarios === undefined
    ? SCENARIOS.map((s) => s.name)
    : values.scenarios.split(",").map((s) => s.trim());
for (const name of scenarios) {
  if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`unknown scenario ${name}`);
}
const realtimeScenarios =
  values.scenarios === undefined
    ? scenarios.filter((name) => !isLongTaskScenario(scenarioByName(name)))
    : scenarios;
const speed = Number(values.speed);
const withNaive = !values["no-naive"];
const withRealtime = !values["no-realtime"];
const withReplay = !values["no-replay"];
const sideBySide = !values["sequential-replay"];
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) throw new Error("--repeat must be a whole number ≥ 1");
if (repeat > 1 && !withReplay)
  throw new Error("--repeat repeats run + replay pairs: drop --no-replay");

const outDir = new URL("./out/", import.meta.url);
const buildDir = new URL("./out/build/", import.meta.url);

process.stderr.write("building the benchmark workers (tsup)...\n");
await build({
  config: false,
  entry: {
    worker: "bench/worker.ts",
    "sim-server": "bench/realtime/sim-server.ts",
    "replay-server": "bench/realtime/replay-server.ts",
  },
  outDir: buildDir.pathname,
  format: ["esm"],
  platform: "node",
  target: "node20",
  splitting: false,
  clean: true,
  silent: true,
});
const worker = new URL("worker.js", buildDir).pathname;
const simServer = new URL("sim-server.js", buildDir).pathname;
const replayServer = new URL("replay-server.js", buildDir).pathname;

interface Job {
  readonly scenario: string;
  readonly strategy: Strategy;
  readonly mode: Mode;
}

function measure(job: Job, extra: readonly string[] = []): Promise<MeasurementResult> {
  return runWorker<MeasurementResult>(describe(job), [
    "--scenario",
    job.scenario,
    "--strategy",
    job.strategy,
    "--mode",
    job.mode,
    "--speed",
    String(speed),
    "--sim-server",
    simServer,
    ...(job.strategy === "ours" && job.mode === "virtual" ? ["--profile"] : []),
    ...(job.strategy === "ours" && values.store !== undefined ? ["--store", values.store] : []),
    ...extra,
  ]);
}

/** Forks one worker and resolves with the result it sends. */
function runWorker<T>(label: string, args: readonly string[]): Promise<T> {
  return forkMeasurement<T>(worker, args, label);
}

function describe(job: Job): string {
  return `${job.scenario} ${job.strategy} (${job.mode})`;
}

/** Runs jobs, at most `limit` at a time, keeping their order in the results. */
async function runAll(jobs: readonly Job[], limit: number): Promise<MeasurementResult[]> {
  const results: MeasurementResult[] = new Array<MeasurementResult>(jobs.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await measure(jobs[i] as Job);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, lane));
  return results;
}

const strategies: Strategy[] = withNaive
  ? ["ours", "naive-per-task-poll", "naive-sequential"]
  : ["ours"];
const virtualJobs: Job[] = scenarios.flatMap((scenario) =>
  strategies.map((strategy) => ({ scenario, strategy, mode: "virtual" as const })),
);
process.stderr.write(`virtual-time runs (${String(virtualJobs.length)}):\n`);
const results = await runAll(virtualJobs, Number(values.parallel));
if (withRealtime) {
  process.stderr.write(`real-time runs at ${String(speed)}x: ${realtimePlan()}\n`);
  for (const scenario of realtimeScenarios) await realtimeScenario(scenario);
}

function realtimePlan(): string {
  const n = realtimeScenarios.length;
  if (!withReplay) return `${String(n * repeat)}, one at a time`;
  if (!sideBySide)
    return `${String(n * repeat)}, one at a time, each followed by its transport replay`;
  return `${String(n * (repeat + 1))}, one at a time, the first of each scenario alone and each later one beside the transport replay of the one before`;
}

/**
 * The real-time runs of one scenario and their transport replays. Side by side (the default),
 * each run shares the machine with the replay of the previous run's transcript, started at the
 * same moment: whatever slows this machine down for a minute or an hour slows both processes,
 * so their difference keeps only the runner. A first run, measured alone, records the transcript
 * the first pair replays. Transcripts of one scenario differ only by a few throttled resends.
 */
async function realtimeScenario(scenario: string): Promise<void> {
  const transcript = (k: number): string =>
    new URL(`./out/transcripts/${scenario}-${String(k)}/`, import.meta.url).pathname;
  const run = async (k: number): Promise<MeasurementResult> => {
    // A transcript an interrupted benchmark left behind would mix with the new one.
    if (withReplay) await rm(transcript(k), { recursive: true, force: true });
    return measure({ scenario, strategy: "ours", mode: "realtime" }, [
      ...(withReplay ? ["--record", transcript(k)] : []),
      ...(values["preload-sdk"] ? ["--preload-sdk"] : []),
      "--network",
      values.network,
    ]);
  };
  const replay = async (k: number): Promise<ReplayResult> => {
    const result = await runWorker<ReplayResult>(`${scenario} transport replay`, [
      "--scenario",
      scenario,
      "--mode",
      "replay",
      "--transcript",
      transcript(k),
      "--replay-server",
      replayServer,
    ]);
    await rm(transcript(k), { recursive: true, force: true });
    return result;
  };
  const pairs: MeasurementResult[] = [];
  if (!withReplay) {
    for (let k = 1; k <= repeat; k++) pairs.push({ ...(await run(k)), pairing: "none" });
  } else if (!sideBySide) {
    for (let k = 1; k <= repeat; k++) {
      const realtime = await run(k);
      pairs.push({ ...realtime, transport: await replay(k), pairing: "sequential" });
    }
  } else {
    results.push({ ...(await run(0)), pairing: "none" });
    for (let k = 1; k <= repeat; k++) {
      const [realtime, transport] = await Promise.all([run(k), replay(k - 1)]);
      pairs.push({ ...realtime, transport, pairing: "side-by-side" });
    }
    // The last run recorded too, so that every run had the same neighbour: a recording simulator.
    await rm(transcript(repeat), { recursive: true, force: true });
  }
  results.push(medianPair(pairs));
}

const summary = summarize(results);
printReport(summary);
await mkdir(outDir, { recursive: true });
await writeFile(
  new URL("latest.json", outDir),
  `${JSON.stringify(
    {
      generatedAt: new Date().toISOString(),
      node: process.version,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown" },
      workload: WORKLOAD,
      speed,
      ...summary,
    },
    null,
    2,
  )}\n`,
);
process.stderr.write(`written: ${new URL("latest.json", outDir).pathname}\n`);
