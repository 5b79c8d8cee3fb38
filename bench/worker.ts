/**
 * One measurement in a fresh process: one scenario, one strategy, one mode. The orchestrator
 * (`bench/run.ts`) forks it and receives the result over IPC; run alone it prints the result.
 *
 *   node bench/out/build/worker.js --scenario 1x100 --strategy ours --mode virtual
 */
import { mkdtemp } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FileJobStore, type JobStore } from "../src/index.js";
import type { Env } from "./env.js";
import { algorithmMetrics, ProcessMonitor, summarizeSim, type RunRecord } from "./metrics.js";
import { runNaivePerTaskPoll } from "./naive/per-task-poll.js";
import { runNaiveSequential } from "./naive/sequential.js";
import { runOurs } from "./ours.js";
import { startProfile } from "./profile.js";
import { RemoteSimulator } from "./realtime/remote-sim.js";
import { readRequests, replayTranscript } from "./replay.js";
import { realNow, ScaledClock } from "./realtime/scaled-clock.js";
import {
  STRATEGIES,
  type MeasurementResult,
  type Mode,
  type ReplayResult,
  type Strategy,
} from "./result.js";
import {
  scenarioByName,
  seededRandom,
  virtualAccount,
  taskDefinition,
  WORKLOAD,
  type NetworkChoice,
  type Scenario,
} from "./workload.js";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "1x100" },
    strategy: { type: "string", default: "ours" },
    mode: { type: "string", default: "virtual" },
    speed: { type: "string", default: "10" },
    "sim-server": { type: "string" },
    /** Real-time runs: record the transcript of the calls into this directory. */
    record: { type: "string" },
    /** Replay runs: the transcript directory, and the replay server to answer from it. */
    transcript: { type: "string" },
    "replay-server": { type: "string" },
    /**
     * Samples the JS thread (every 100 µs in virtual time, every 1 ms in real time, where the
     * profiler's own wake-ups inflate the process's CPU: then only the split means anything).
     */
    profile: { type: "boolean", default: false },
    /** Our runner checkpoints its runs into a `FileJobStore` in a new directory under this one. */
    store: { type: "string" },
    /** Real-time runs: load the SDK client modules before the measured job (see bench/run.ts). */
    "preload-sdk": { type: "boolean", default: false },
    /**
     * Our runner: `infer` (the default VPC, as the peers have it) or `named` (the job names that
     * network itself: no EC2 call, and `--preload-sdk` leaves out `@aws-sdk/client-ec2`).
     */
    network: { type: "string", default: "infer" },
  },
});
const scenario = scenarioByName(values.scenario);
const strategy = values.strategy as Strategy;
if (!STRATEGIES.includes(strategy)) throw new Error(`unknown strategy ${strategy}`);
const mode = values.mode as Mode | "replay";
/** The mode of a measurement (a replay sends no `MeasurementResult`). */
const measured: Mode = mode === "realtime" ? "realtime" : "virtual";
const EPOCH = Date.UTC(2026, 0, 1);
if (values.network !== "infer" && values.network !== "named") {
  throw new Error("--network is infer or named");
}
const network: NetworkChoice = values.network;

/** The store of `--store`, if given. */
async function fileStore(): Promise<JobStore | undefined> {
  const parent = values.store;
  if (parent === undefined) return undefined;
  return new FileJobStore(await mkdtemp(join(parent, "ecs-batch-bench-")));
}

async function virtualRun(): Promise<MeasurementResult> {
  const { aws, env } = virtualAccount(scenario, EPOCH);
  // The naive runners do not register definitions: theirs exists before they start.
  const naive = {
    taskDefinitionArn:
      strategy === "ours"
        ? ""
        : (aws.registerTaskDefinition(taskDefinition()).taskDefinitionArn as string),
    subnets: ["subnet-0bench0001"],
    random: seededRandom(WORKLOAD.seed + 2),
  };
  const store = await fileStore();
  const stopProfile = values.profile ? await startProfile(import.meta.url) : undefined;
  const monitor = new ProcessMonitor();
  monitor.start();
  const run = await runStrategy(strategy, env, scenario, naive, store);
  const proc = monitor.stop(run.tasks);
  const cpu = await stopProfile?.();
  return {
    scenario: scenario.name,
    strategy,
    mode: measured,
    algorithm: algorithmMetrics(run, summarizeSim(aws)),
    process: proc,
    ...(cpu === undefined ? {} : { cpu }),
  };
}

function runStrategy(
  which: Strategy,
  env: Env,
  s: Scenario,
  naive: Parameters<typeof runNaiveSequential>[2],
  store: JobStore | undefined,
): Promise<RunRecord> {
  if (which !== "ours" && store !== undefined) throw new Error("--store is for our runner only");
  if (which !== "ours" && network !== "infer") throw new Error("--network is for our runner only");
  switch (which) {
    case "ours":
      return runOurs(env, s, store, network);
    case "naive-per-task-poll":
      return runNaivePerTaskPoll(env, s, naive);
    case "naive-sequential":
      return runNaiveSequential(env, s, naive);
  }
}

async function realtimeRun(): Promise<MeasurementResult> {
  if (strategy !== "ours") throw new Error("real-time runs measure our runner only");
  const script = values["sim-server"];
  if (script === undefined) throw new Error("--sim-server <path to sim-server.js> is required");
  const speed = Number(values.speed);
  if (values["preload-sdk"]) {
    // Through `require`, as src/aws/sdk.ts loads them: the same module instances. Before the
    // simulator's process is forked, as a host that imports the SDK has it from its start:
    // loaded after the fork, the job's process promotes about three times as many young
    // objects to the old generation (bench/README.md, "What the SDK's loading moment costs").
    const require = createRequire(import.meta.url);
    const modules = ["@aws-sdk/client-ecs", "@aws-sdk/client-cloudwatch-logs"];
    // A host whose jobs name their network has no use for the EC2 client.
    if (network === "infer") modules.push("@aws-sdk/client-ec2");
    for (const name of modules) require(name);
  }
  const realStart = realNow();
  const remote = await RemoteSimulator.start(
    script,
    RemoteSimulator.simServerArgs({
      scenario: scenario.name,
      speed,
      epoch: EPOCH,
      realStart,
      ...(values.record === undefined ? {} : { record: values.record }),
    }),
  );
  const clock = new ScaledClock(speed, EPOCH, realStart);
  const env: Env = { clients: remote.clients, clock, drive: (promise) => promise };
  const store = await fileStore();
  const stopProfile = values.profile ? await startProfile(import.meta.url, 1000) : undefined;
  const monitor = new ProcessMonitor();
  monitor.start();
  const run = await runOurs(env, scenario, store, network);
  const proc = monitor.stop(run.tasks);
  const cpu = await stopProfile?.();
  const sim = await remote.summary();
  await remote.close();
  return {
    scenario: scenario.name,
    strategy,
    mode: measured,
    speed,
    algorithm: algorithmMetrics(run, sim),
    process: proc,
    ...(cpu === undefined ? {} : { cpu }),
  };
}

async function replayRun(): Promise<ReplayResult> {
  const dir = values.transcript;
  const script = values["replay-server"];
  if (dir === undefined || script === undefined)
    throw new Error("--transcript <dir> and --replay-server <path> are required");
  const requests = await readRequests(dir);
  const remote = await RemoteSimulator.start(script, [
    "--transcript",
    dir,
    "--scenario",
    scenario.name,
  ]);
  const monitor = new ProcessMonitor();
  monitor.start();
  const { calls, errors, readingMs } = await replayTranscript(remote, requests);
  const proc = monitor.stop(scenario.jobs * scenario.tasksPerJob);
  const neighbour = await remote.summary();
  await remote.close();
  return {
    scenario: scenario.name,
    calls,
    errors,
    readingMs,
    neighbourLaunches: neighbour.launches,
    process: proc,
  };
}

const result =
  mode === "realtime"
    ? await realtimeRun()
    : mode === "replay"
      ? await replayRun()
      : await virtualRun();
if (process.send !== undefined) {
  process.send(result, () => process.exit(0));
} else {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
