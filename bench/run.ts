/**
 * The benchmark (issue 7): every scenario, driven by our runner and by two naive strategies
 * against the simulator with the published AWS limits, plus real-time runs of our runner for
 * the process figures. Prints tables and writes `bench/out/latest.json`.
 *
 *   npm run bench
 *   npm run bench -- --scenarios 1x100,1x1000 --speed 20 --no-naive --no-realtime --no-replay
 *   npm run bench -- --scenarios 1x10000 --no-naive --repeat 3
 *
 * Each measurement runs in a fresh process built from the sources with tsup (plain `node`, no
 * TypeScript loader in the measured process, as users run the library).
 */
import { fork } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus } from "node:os";
import { parseArgs } from "node:util";
import { build } from "tsup";
import { medianPair, printReport, summarize } from "./report.js";
import type { MeasurementResult, Mode, ReplayResult, Strategy } from "./result.js";
import { SCENARIOS, WORKLOAD } from "./workload.js";

const { values } = parseArgs({
  options: {
    scenarios: { type: "string", default: SCENARIOS.map((s) => s.name).join(",") },
    speed: { type: "string", default: "10" },
    "no-naive": { type: "boolean", default: false },
    "no-realtime": { type: "boolean", default: false },
    "no-replay": { type: "boolean", default: false },
    /** Real-time run + replay pairs per scenario; the report keeps the median pair. */
    repeat: { type: "string", default: "1" },
    parallel: { type: "string", default: String(Math.min(2, availableParallelism())) },
  },
});
const scenarios = values.scenarios.split(",").map((s) => s.trim());
for (const name of scenarios) {
  if (!SCENARIOS.some((s) => s.name === name)) throw new Error(`unknown scenario ${name}`);
}
const speed = Number(values.speed);
const withNaive = !values["no-naive"];
const withRealtime = !values["no-realtime"];
const withReplay = !values["no-replay"];
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
    ...extra,
  ]);
}

/** Forks one worker and resolves with the result it sends. */
function runWorker<T>(label: string, args: readonly string[]): Promise<T> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = fork(worker, args, {
      execArgv: ["--expose-gc"],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let result: T | undefined;
    child.on("message", (message: unknown) => {
      result = message as T;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (result === undefined) {
        reject(new Error(`${label} exited with code ${String(code)} and no result`));
        return;
      }
      process.stderr.write(`  ${label}: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      resolve(result);
    });
  });
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
  // Alone, one at a time: nothing else may compete for the CPU while the process is measured.
  process.stderr.write(
    `real-time runs at ${String(speed)}x (${String(scenarios.length * repeat)}, one at a time${withReplay ? ", each followed by its transport replay" : ""}):\n`,
  );
  for (const scenario of scenarios) {
    const transcript = new URL(`./out/transcripts/${scenario}/`, import.meta.url).pathname;
    const pairs: MeasurementResult[] = [];
    for (let k = 1; k <= repeat; k++) {
      const realtime = await measure(
        { scenario, strategy: "ours", mode: "realtime" },
        withReplay ? ["--record", transcript] : [],
      );
      if (!withReplay) {
        pairs.push(realtime);
        continue;
      }
      const transport = await runWorker<ReplayResult>(`${scenario} transport replay`, [
        "--scenario",
        scenario,
        "--mode",
        "replay",
        "--transcript",
        transcript,
        "--replay-server",
        replayServer,
      ]);
      await rm(transcript, { recursive: true, force: true });
      pairs.push({ ...realtime, transport });
    }
    results.push(medianPair(pairs));
  }
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
