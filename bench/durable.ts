/**
 * Durable runs (issue #21): what a `FileJobStore` costs a run, and what attaching to a run costs.
 *
 *   npm run bench:durable
 *   npx tsx bench/durable.ts --tasks 10000 --repeat 3
 *
 * The acceptance it measures: "the 10,000-task scenario with the file store costs at most 5%
 * more runner CPU and one checkpoint write per poll interval in steady state; attaching to a
 * 10,000-task run costs at most 2 × ⌈10,000/100⌉ list and describe calls."
 *
 * 1. **Store cost.** The `1x10000` job of `bench/workload.ts` (the simulated account with the
 *    published AWS limits, 60-240 s tasks, 15 s polls) in virtual time, without a store and
 *    with `store: new FileJobStore(dir)`, as pairs of fresh `node` processes run one after the
 *    other (each pair's order alternates). The runner's CPU is the benchmark's virtual-time
 *    reading (`bench/profile.ts`, as `bench/worker.ts` takes it for `npm run bench`): the JS
 *    thread's samples in the library's code plus its share of garbage collection. The file
 *    store's code is library code (`src/durable/`), so its JavaScript (building the checkpoint,
 *    `JSON.stringify`, the `fs` calls) is in that reading; the thread pool's work (writing,
 *    `fsync`) is not, so the whole process's CPU (every thread) is given too: the simulator
 *    does the same work in both runs, so the difference is what the store costs the host.
 *    Checkpoint writes are timed on the clock (a `FileJobStore` that records when each save
 *    ended) and counted per poll interval in the steady state: from the moment the last task
 *    slot got its first task to the moment the runner saw the last task stop.
 * 2. **Attach cost.** The job with every task running 30 minutes, so that all 10,000 are
 *    running at once: a host submits it, with a `FileJobStore` or without a store, and is
 *    killed (as in `test/durable/harness.ts`: its clock and clients never answer again) once it
 *    has seen every task RUNNING. Once its lease has lapsed (three poll intervals), a fresh
 *    runner (a new store on the same directory) calls `attach(job)`; the ListTasks and
 *    DescribeTasks calls the simulator received between `attach()` and the attached run's
 *    `jobStarted` are its cost. A third case kills the file-store host as soon as the last slot's
 *    RunTask was answered, before the next checkpoint: the checkpoint's worst lag, which the
 *    attach describes. Each attached run is then cancelled and awaited; the table says how many
 *    tasks ECS still had running (desired status RUNNING) once its result came.
 *
 * Every measurement runs in a fresh `node` process built with tsup (as `bench/run.ts` does:
 * no TypeScript loader in the measured process, a clean heap each time); this file is both
 * the orchestrator and, with `--child`, the measured process. Prints a table and writes
 * `bench/out/durable.json` (git-ignored).
 */
import { forkMeasurement } from "./fork.js";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as realSleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import {
  EcsBatchRunner,
  FileJobStore,
  type BatchJobInput,
  type Clock,
  type EcsBatchRunnerOptions,
} from "../src/index.js";
import {
  flushMicrotasks,
  killableHost,
  ManualClock,
  type SimulatedAws,
} from "../src/testing/index.js";
import { parseCheckpoint } from "../src/durable/checkpoint.js";
import { algorithmMetrics, ProcessMonitor, summarizeSim, type ProcessMetrics } from "./metrics.js";
import { runOurs } from "./ours.js";
import { startProfile, type CpuAttribution } from "./profile.js";
import {
  jobInput,
  seededRandom,
  simulatedAccount,
  virtualAccount,
  WORKLOAD,
  type Scenario,
} from "./workload.js";

const { values } = parseArgs({
  options: {
    /** Task slots of the job. */
    tasks: { type: "string", default: "10000" },
    /** Pairs (no store, file store) of store-cost runs. */
    repeat: { type: "string", default: "3" },
    /** Where the stores' directories are made (a temporary directory each). */
    dir: { type: "string", default: tmpdir() },
    /** `cpu` or `attach`: one part only. */
    only: { type: "string" },
    /** Internal: run one measurement (`cpu` or `attach`) and send its result to the parent. */
    child: { type: "string" },
    /** Internal: the child's store, `none` or `file`. */
    store: { type: "string", default: "none" },
    /** Internal: when the attach child's first host dies, `running` or `launched`. */
    "kill-at": { type: "string", default: "running" },
  },
});

const TASKS = Number(values.tasks);
if (!Number.isInteger(TASKS) || TASKS < 1) throw new Error("--tasks must be a whole number ≥ 1");
const EPOCH = Date.UTC(2026, 0, 1);
/** The runner's default lease: three poll intervals. */
const LEASE_TTL_MS = 3 * WORKLOAD.pollIntervalMs;
const THIRTY_MINUTES = 30 * 60_000;
const JOB_ID = "job-0";

type StoreKind = "none" | "file";
/** When the first host dies: every task seen RUNNING, or the last slot's task just launched. */
type KillAt = "running" | "launched";

/** One store-cost measurement. */
interface CpuResult {
  readonly store: StoreKind;
  readonly tasks: number;
  readonly status: string;
  readonly makespanS: number;
  readonly totalCalls: number;
  readonly calls: Record<string, number>;
  readonly cpu: CpuAttribution;
  readonly process: ProcessMetrics;
  /** When the last slot got its first task, and when the last task was seen stopped (s). */
  readonly launchesDoneS: number | null;
  readonly lastStopS: number;
  readonly checkpoints?: {
    /** Checkpoint writes: `FileJobStore.saves` (whole checkpoints) plus `appends` (changes). */
    readonly saves: number;
    /** Of which whole checkpoints. */
    readonly full: number;
    /** Lease renewals (each one an atomic write of the lease file). */
    readonly renewals: number;
    /** When each save ended, seconds from the submit. */
    readonly saveAtS: readonly number[];
    /** Size of the checkpoint file at the end, bytes. */
    readonly fileBytes: number;
    /** Size of the changes file at the end (the changes appended since that checkpoint), bytes. */
    readonly changesBytes: number;
    /** The largest checkpoint written, characters (ASCII: bytes). */
    readonly maxBytes: number;
  };
}

/** One attach measurement. */
interface AttachResult {
  readonly store: StoreKind;
  readonly killAt: KillAt;
  readonly tasks: number;
  readonly runId: string;
  /** Clock time (s from the submit) the first host was killed, and the attach started. */
  readonly killedAtS: number;
  readonly attachAtS: number;
  /** Slots whose current task the last checkpoint before the kill did not hold. */
  readonly checkpointLag?: number;
  /** Every call between `attach()` and the attached run's `jobStarted`, per action. */
  readonly calls: Record<string, number>;
  readonly listTasks: number;
  readonly describeTasks: number;
  readonly throttled: number;
  /** Simulated and real time from `attach()` to `jobStarted`. */
  readonly attachVirtualS: number;
  readonly attachWallMs: number;
  /** The attached run's end after `cancel()`, and tasks ECS still had running after it. */
  readonly status: string;
  readonly notStopped: number;
  readonly orphans: number;
  readonly stopTasks: number;
  readonly finishedAtS: number;
  readonly pendingTimers: number;
  readonly duplicates: number;
}

// ---------------------------------------------------------------------------------------------
// The measured process.

/** A `FileJobStore` that records, on the run's clock, when each checkpoint was saved. */
class RecordingFileStore extends FileJobStore {
  readonly saveAt: number[] = [];
  maxBytes = 0;
  renewals = 0;
  readonly #clock: Clock;

  constructor(dir: string, clock: Clock) {
    super(dir);
    this.#clock = clock;
  }

  override async save(...args: Parameters<FileJobStore["save"]>): Promise<void> {
    await super.save(...args);
    this.saveAt.push(this.#clock.now());
    this.maxBytes = Math.max(this.maxBytes, args[1].length);
  }

  /** A change appended is a checkpoint write too (the store's `append`), and may renew. */
  override async append(...args: Parameters<FileJobStore["append"]>): Promise<void> {
    await super.append(...args);
    this.saveAt.push(this.#clock.now());
    if (args[3] !== undefined) this.renewals++;
  }

  override async renew(
    ...args: Parameters<FileJobStore["renew"]>
  ): ReturnType<FileJobStore["renew"]> {
    const lease = await super.renew(...args);
    this.renewals++;
    return lease;
  }
}

async function cpuRun(kind: StoreKind): Promise<CpuResult> {
  const scenario: Scenario = { name: `1x${String(TASKS)}`, jobs: 1, tasksPerJob: TASKS };
  const { clock, aws, env } = virtualAccount(scenario, EPOCH);
  const dir = kind === "file" ? await mkdtemp(join(values.dir, "ecs-batch-durable-")) : undefined;
  const store = dir === undefined ? undefined : new RecordingFileStore(dir, clock);
  const stopProfile = await startProfile(import.meta.url);
  const monitor = new ProcessMonitor();
  monitor.start();
  const run = await runOurs(env, scenario, store);
  const proc = monitor.stop(run.tasks);
  const cpu = await stopProfile();
  const sim = summarizeSim(aws);
  const algorithm = algorithmMetrics(run, sim);
  let lastStop = run.startedAt;
  for (const [, stop] of run.times.intervals()) lastStop = Math.max(lastStop, stop ?? lastStop);
  const s = (at: number): number => (at - run.startedAt) / 1000;
  let checkpoints: CpuResult["checkpoints"];
  if (store !== undefined && dir !== undefined) {
    const runDir = join(dir, JOB_ID);
    const checkpoint = (await readdir(runDir)).find(
      (name) => name.endsWith(".json") && !name.endsWith(".lease.json"),
    );
    checkpoints = {
      saves: store.saves + store.appends,
      full: store.saves,
      renewals: store.renewals,
      saveAtS: store.saveAt.map(s),
      fileBytes: checkpoint === undefined ? 0 : (await stat(join(runDir, checkpoint))).size,
      changesBytes:
        checkpoint === undefined
          ? 0
          : await stat(join(runDir, checkpoint.replace(/\.json$/, ".changes"))).then(
              (info) => info.size,
              () => 0,
            ),
      maxBytes: store.maxBytes,
    };
    await rm(dir, { recursive: true, force: true });
  }
  return {
    store: kind,
    tasks: run.tasks,
    status: run.jobs[0]?.status ?? "?",
    makespanS: algorithm.makespanS,
    totalCalls: algorithm.totalCalls,
    calls: algorithm.calls,
    cpu,
    process: proc,
    launchesDoneS: sim.initialLaunchesDoneAt === undefined ? null : s(sim.initialLaunchesDoneAt),
    lastStopS: s(lastStop),
    ...(checkpoints === undefined ? {} : { checkpoints }),
  };
}

/**
 * A runner on a host that can die (`killableHost`, as `test/durable/harness.ts` uses it): after
 * `kill()` its clock and clients never answer again; the account, the clock and the store's
 * files carry on.
 */
function mortalRunner(
  aws: SimulatedAws,
  clock: ManualClock,
  options: Partial<EcsBatchRunnerOptions>,
): { runner: EcsBatchRunner; kill(): void } {
  const mortal = killableHost(clock, aws);
  const runner = new EcsBatchRunner({
    region: WORKLOAD.region,
    clients: mortal.clients,
    clock: mortal.clock,
    ...options,
  });
  return { runner, kill: () => mortal.kill() };
}

/** Waits (real time) until no file operation is in flight: a killed host's last write lands. */
async function ioSettled(): Promise<void> {
  while (process.getActiveResourcesInfo().some((r) => /Req/.test(r))) await realSleep(1);
  await flushMicrotasks();
}

async function attachRun(kind: StoreKind, killAt: KillAt): Promise<AttachResult> {
  const scenario: Scenario = {
    name: `1x${String(TASKS)}-30min`,
    jobs: 1,
    tasksPerJob: TASKS,
    runMs: { min: THIRTY_MINUTES, max: THIRTY_MINUTES },
  };
  const job: BatchJobInput = jobInput(JOB_ID, scenario);
  const clock = new ManualClock({ start: EPOCH });
  const aws = simulatedAccount(clock, scenario);
  const dir = kind === "file" ? await mkdtemp(join(values.dir, "ecs-batch-attach-")) : undefined;
  const storeOf = (): Partial<EcsBatchRunnerOptions> =>
    dir === undefined ? {} : { store: new FileJobStore(dir) };
  const s = (at: number): number => (at - EPOCH) / 1000;

  // The first host: runs the job until it has seen every task RUNNING, then dies.
  const first = mortalRunner(aws, clock, {
    ...storeOf(),
    owner: "host-a",
    random: seededRandom(WORKLOAD.seed + 1),
  });
  // Killed once it has seen every task RUNNING (the brief's case), or, for the checkpoint's
  // worst lag, as soon as the last slot's task was launched (RunTask answered).
  const seen = new Set<number>();
  const killPoint = new Promise<void>((resolve) => {
    const see = (taskIndex: number): void => {
      seen.add(taskIndex);
      if (seen.size === TASKS) resolve();
    };
    if (killAt === "launched") first.runner.on("taskStarted", (e) => see(e.taskIndex));
    else
      first.runner.on("taskStatusChanged", (e) => {
        if (e.lastStatus === "RUNNING") see(e.taskIndex);
      });
  });
  const handleA = first.runner.submit(job);
  await clock.runUntil(
    Promise.race([
      killPoint,
      handleA.result.then((r) => {
        throw new Error(`the first host's run ended (${r.status}) before every task ran`);
      }),
    ]),
  );
  first.kill();
  const killedAt = clock.now();
  await ioSettled();

  let checkpointLag: number | undefined;
  let attachAt = killedAt + LEASE_TTL_MS + 1;
  if (dir !== undefined) {
    const base = join(dir, JOB_ID, handleA.runId);
    // The checkpoint as an attach reads it: the last whole one and the changes after it.
    const text = await new FileJobStore(dir).load({ jobId: JOB_ID, runId: handleA.runId });
    const saved = parseCheckpoint(text ?? "", "of the killed run");
    checkpointLag = saved.slots.filter((x) => x.taskArn === undefined).length;
    const lease = JSON.parse(await readFile(`${base}.lease.json`, "utf8")) as {
      expiresAt: number;
    };
    attachAt = Math.max(attachAt, lease.expiresAt + 1);
  }
  // Nobody drives the run while the dead host's lease runs out; its tasks run on.
  await clock.advanceTo(attachAt);

  // A fresh process (a new store on the same directory) attaches.
  const second = mortalRunner(aws, clock, {
    ...storeOf(),
    owner: "host-b",
    random: seededRandom(WORKLOAD.seed + 3),
  });
  const callsBefore = aws.calls.length;
  const wallStart = performance.now();
  let wallMs = 0;
  const started = new Promise<number>((resolve) => {
    second.runner.on("jobStarted", () => {
      wallMs = performance.now() - wallStart;
      resolve(aws.calls.length);
    });
  });
  const handle = second.runner.attach(job);
  const callsAtStart = await clock.runUntil(
    Promise.race([started, handle.result.then(() => aws.calls.length)]),
  );
  const attachVirtualS = (clock.now() - attachAt) / 1000;
  const window = aws.calls.slice(callsBefore, callsAtStart);
  const calls: Record<string, number> = {};
  for (const c of window) calls[c.action] = (calls[c.action] ?? 0) + 1;

  // Nothing left over: the attached run is cancelled and every task stopped.
  handle.cancel("benchmark over");
  const result = await clock.runUntil(handle.result, { maxTimeMs: 48 * 3_600_000 });
  await ioSettled();
  const sim = summarizeSim(aws);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  return {
    store: kind,
    killAt,
    tasks: TASKS,
    runId: handle.runId,
    killedAtS: s(killedAt),
    attachAtS: s(attachAt),
    ...(checkpointLag === undefined ? {} : { checkpointLag }),
    calls,
    listTasks: calls.ListTasks ?? 0,
    describeTasks: calls.DescribeTasks ?? 0,
    throttled: window.filter((c) => c.error !== undefined && /Throttl/.test(c.error)).length,
    attachVirtualS,
    attachWallMs: wallMs,
    status: result.status,
    notStopped: sim.notStopped,
    orphans: sim.orphans,
    stopTasks: aws.count("StopTask"),
    finishedAtS: s(clock.now()),
    pendingTimers: clock.pendingTimers,
    duplicates: sim.duplicates,
  };
}

// ---------------------------------------------------------------------------------------------
// The orchestrator.

/** Forks one measurement and resolves with the result it sends. */
function measure<T>(script: string, args: readonly string[], label: string): Promise<T> {
  return forkMeasurement<T>(
    script,
    [...args, "--tasks", String(TASKS), "--dir", values.dir],
    label,
  );
}

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const f = (x: number, digits = 3): string => x.toFixed(digits);
const pad = (cells: readonly string[], widths: readonly number[]): string =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");

/** Checkpoint writes in the steady state, from the file-store run of a pair. */
function steadyState(run: CpuResult): {
  fromS: number;
  toS: number;
  intervals: number;
  saves: number;
  perInterval: number;
  maxInOneInterval: number;
  /** Saves before the window (the launch phase, the first one before any RunTask) and after. */
  before: number;
  after: number;
} {
  const from = run.launchesDoneS ?? 0;
  const to = run.lastStopS;
  const at = (run.checkpoints?.saveAtS ?? []).filter((t) => t > from && t < to);
  const intervalS = WORKLOAD.pollIntervalMs / 1000;
  const perGrid = new Map<number, number>();
  for (const t of at)
    perGrid.set(Math.floor(t / intervalS), (perGrid.get(Math.floor(t / intervalS)) ?? 0) + 1);
  const intervals = (to - from) / intervalS;
  return {
    fromS: from,
    toS: to,
    intervals,
    saves: at.length,
    perInterval: intervals === 0 ? 0 : at.length / intervals,
    maxInOneInterval: Math.max(0, ...perGrid.values()),
    before: (run.checkpoints?.saveAtS ?? []).filter((t) => t <= from).length,
    after: (run.checkpoints?.saveAtS ?? []).filter((t) => t >= to).length,
  };
}

async function orchestrate(): Promise<void> {
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1)
    throw new Error("--repeat must be a whole number ≥ 1");
  const only = values.only;
  if (only !== undefined && only !== "cpu" && only !== "attach")
    throw new Error("--only is cpu or attach");

  process.stderr.write("building the benchmark (tsup)...\n");
  const buildDir = new URL("./out/build-durable/", import.meta.url);
  const { build } = await import("tsup");
  await build({
    config: false,
    entry: { durable: "bench/durable.ts" },
    outDir: buildDir.pathname,
    format: ["esm"],
    platform: "node",
    target: "node20",
    splitting: false,
    clean: true,
    silent: true,
    external: ["tsup"],
  });
  const script = new URL("durable.js", buildDir).pathname;

  const pairs: { none: CpuResult; file: CpuResult }[] = [];
  if (only !== "attach") {
    process.stderr.write(`store cost: ${String(repeat)} pairs, one process at a time:\n`);
    for (let k = 0; k < repeat; k++) {
      const order: StoreKind[] = k % 2 === 0 ? ["none", "file"] : ["file", "none"];
      const got: Partial<Record<StoreKind, CpuResult>> = {};
      for (const kind of order) {
        got[kind] = await measure<CpuResult>(
          script,
          ["--child", "cpu", "--store", kind],
          `pair ${String(k + 1)}, ${kind === "none" ? "no store" : "file store"}`,
        );
      }
      pairs.push({ none: got.none as CpuResult, file: got.file as CpuResult });
    }
  }
  const attaches: AttachResult[] = [];
  if (only !== "cpu") {
    process.stderr.write("attach cost:\n");
    const cases: [StoreKind, KillAt][] = [
      ["file", "running"],
      ["none", "running"],
      ["file", "launched"],
    ];
    for (const [kind, killAt] of cases) {
      attaches.push(
        await measure<AttachResult>(
          script,
          ["--child", "attach", "--store", kind, "--kill-at", killAt],
          `attach, ${kind === "none" ? "no store" : "file store"}, killed when all ${killAt}`,
        ),
      );
    }
  }

  const out: Record<string, unknown> = {
    generatedAt: new Date().toISOString(),
    node: process.version,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown" },
    tasks: TASKS,
    storeDir: values.dir,
    pollIntervalS: WORKLOAD.pollIntervalMs / 1000,
  };
  const lines: string[] = [];
  if (pairs.length > 0) {
    const perTask = (r: CpuResult): number => r.cpu.runnerWithGcShareMs / r.tasks;
    const procPerTask = (r: CpuResult): number => r.process.cpuMs / r.tasks;
    const ratios = pairs.map((p) => perTask(p.file) / perTask(p.none));
    const extra = pairs.map((p) => procPerTask(p.file) - procPerTask(p.none));
    const runnerExtra = pairs.map((p) => perTask(p.file) - perTask(p.none));
    const medianPair = pairs[ratios.indexOf(median(ratios))] ?? pairs[0];
    lines.push(
      `store cost, 1x${String(TASKS)} in virtual time (${String(pairs.length)} pairs, fresh node process each)`,
    );
    const w = [4, 5, 8, 8, 9, 8, 8, 6, 6, 9];
    lines.push(
      pad(
        [
          "pair",
          "store",
          "runner",
          "+runner",
          "ratio",
          "process",
          "+process",
          "saves",
          "renew",
          "makespan",
        ],
        w,
      ),
    );
    lines.push(
      pad(["", "", "ms/task", "ms/task", "file/none", "ms/task", "ms/task", "", "", "s"], w),
    );
    pairs.forEach((p, i) => {
      for (const r of [p.none, p.file]) {
        lines.push(
          pad(
            [
              r.store === "none" ? String(i + 1) : "",
              r.store,
              f(perTask(r)),
              r.store === "file" ? f(runnerExtra[i] ?? 0) : "",
              r.store === "file" ? f(ratios[i] ?? 0, 2) : "",
              f(procPerTask(r)),
              r.store === "file" ? f(extra[i] ?? 0) : "",
              r.checkpoints === undefined ? "-" : String(r.checkpoints.saves),
              r.checkpoints === undefined ? "-" : String(r.checkpoints.renewals),
              f(r.makespanS, 1),
            ],
            w,
          ),
        );
      }
    });
    lines.push(
      `runner CPU ratio file/none: median ${f(median(ratios), 2)} (pairs ${ratios.map((r) => f(r, 2)).join(", ")}; target ≤ 1.05)`,
    );
    lines.push(
      `the store's runner CPU: median +${f(median(runnerExtra))} ms/task; its whole cost (process CPU, every thread): median +${f(median(extra))} ms/task`,
    );
    // Within each file-store run: the store's code (src/durable/**, the file operations it
    // awaits included) over the runner's. One process, so the machine's load moves both alike.
    const storeShares = pairs.map((p) => {
      const { runnerMs, runnerByFolderMs } = p.file.cpu;
      return runnerMs === 0 ? 0 : (runnerByFolderMs["src/durable"] ?? 0) / runnerMs;
    });
    lines.push(
      `within the file-store runs, the store's share of the runner's samples: median ${f(median(storeShares) * 100, 1)}% (pairs ${storeShares.map((x) => f(x * 100, 1)).join(", ")}%), i.e. file/none ${f(1 / (1 - median(storeShares)), 3)} for the same other work`,
    );
    const sims = pairs.flatMap((p) => [p.none.totalCalls, p.file.totalCalls]);
    if (new Set(sims).size > 1)
      lines.push(`note: the runs made different numbers of calls (${sims.join(", ")})`);
    const steady = medianPair === undefined ? undefined : steadyState(medianPair.file);
    const ck = medianPair?.file.checkpoints;
    if (steady !== undefined && ck !== undefined && medianPair !== undefined) {
      const intervals = medianPair.file.makespanS / (WORKLOAD.pollIntervalMs / 1000);
      lines.push(
        `checkpoints (median pair): ${String(ck.saves)} writes (${String(ck.full)} whole, the rest changes) in ${f(medianPair.file.makespanS, 0)} s (${f(intervals, 1)} poll intervals of ${String(WORKLOAD.pollIntervalMs / 1000)} s), ${String(ck.renewals)} lease renewals; checkpoint file ${f(ck.fileBytes / 1e6, 2)} MB, changes after it ${f(ck.changesBytes / 1e6, 2)} MB`,
      );
      lines.push(
        `steady state ${f(steady.fromS, 0)}-${f(steady.toS, 0)} s: ${String(steady.saves)} saves in ${f(steady.intervals, 1)} intervals = ${f(steady.perInterval, 2)} per interval, at most ${String(steady.maxInOneInterval)} in one (target ≤ 1); ${String(steady.before)} before it (launch phase), ${String(steady.after)} at the end`,
      );
      out.steadyState = steady;
    }
    out.cpu = {
      definition:
        "runner = profiled JS-thread time in src/** (simulator excluded) plus its share of GC, per task (bench/profile.ts); process = process.cpuUsage(), every thread",
      ratios,
      medianRatio: median(ratios),
      storeShares,
      runnerExtraMsPerTask: runnerExtra,
      processExtraMsPerTask: extra,
      pairs,
    };
  }
  if (attaches.length > 0) {
    if (lines.length > 0) lines.push("");
    const bound = 2 * Math.ceil(TASKS / 100);
    lines.push(
      `attach to a run of ${String(TASKS)} running tasks (calls between attach() and jobStarted; target with the store ≤ ${String(bound)})`,
    );
    const w = [10, 9, 9, 13, 6, 9, 9, 9, 14];
    lines.push(
      pad(
        [
          "store",
          "killed at",
          "ListTasks",
          "DescribeTasks",
          "total",
          "throttled",
          "ckpt lag",
          "virtual s",
          "after cancel",
        ],
        w,
      ),
    );
    for (const a of attaches) {
      lines.push(
        pad(
          [
            a.store,
            a.killAt === "running" ? "all run" : "last RT",
            String(a.listTasks),
            String(a.describeTasks),
            String(a.listTasks + a.describeTasks),
            String(a.throttled),
            a.checkpointLag === undefined ? "-" : String(a.checkpointLag),
            f(a.attachVirtualS, 1),
            `${String(a.orphans)} running`,
          ],
          w,
        ),
      );
    }
    lines.push(
      "killed at: every task seen RUNNING, or the last slot's RunTask just answered; ckpt lag: slots whose task the last checkpoint missed; after cancel: tasks left with desired status RUNNING once the attached run's cancel resolved",
    );
    out.attach = { bound, runs: attaches };
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  const outDir = new URL("./out/", import.meta.url);
  await mkdir(outDir, { recursive: true });
  await writeFile(new URL("durable.json", outDir), `${JSON.stringify(out, null, 2)}\n`);
  process.stderr.write(`written: ${new URL("durable.json", outDir).pathname}\n`);
}

if (values.child === undefined) {
  await orchestrate();
} else {
  const kind = values.store;
  if (kind !== "none" && kind !== "file") throw new Error("--store is none or file");
  const killAt = values["kill-at"];
  if (killAt !== "running" && killAt !== "launched")
    throw new Error("--kill-at is running or launched");
  const result = values.child === "attach" ? await attachRun(kind, killAt) : await cpuRun(kind);
  if (process.send !== undefined) process.send(result, () => process.exit(0));
  else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
