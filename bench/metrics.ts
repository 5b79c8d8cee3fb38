/**
 * What a run is measured by: the simulator's view (calls, throttling, launches, duplicates,
 * orphans), the runner's view (when it learned each task started and stopped), the figures
 * derived from both, and the process figures (CPU, RSS, event-loop delay).
 */
import { readFileSync } from "node:fs";
import {
  constants,
  monitorEventLoopDelay,
  PerformanceObserver,
  type PerformanceEntry,
} from "node:perf_hooks";
import type { SimulatedAws } from "../src/testing/index.js";
import { WORKLOAD } from "./workload.js";

/** Errors the simulator answers a call with when a token bucket is empty. */
const THROTTLING = new Set(["ThrottlingException", "RequestLimitExceeded"]);

/** The simulated account's view of a run. Plain data: it crosses process boundaries. */
export interface SimSummary {
  /** Calls received per action, failed ones included. */
  readonly calls: Record<string, number>;
  /** Calls answered with a throttling error, per action. */
  readonly throttled: Record<string, number>;
  /** Calls that failed otherwise, per `action: error`. */
  readonly otherErrors: Record<string, number>;
  /** Clock time of the first RunTask call. */
  readonly firstRunTaskAt?: number;
  /** Tasks ECS started (Fargate launches). */
  readonly launches: number;
  /** When the last task slot got its first running task (the end of the launch backlog). */
  readonly initialLaunchesDoneAt?: number;
  /** Launches up to and including `initialLaunchesDoneAt`. */
  readonly launchesInWindow: number;
  /** Tasks sharing a `startedBy` and attempt with an earlier one. */
  readonly duplicates: number;
  readonly duplicateExample?: string;
  /** Tasks not STOPPED when the last job ended. */
  readonly notStopped: number;
  /** Of those, tasks nobody asked to stop (desired status still RUNNING): left behind. */
  readonly orphans: number;
}

function bump(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

/** Reads the simulator's records once the run is over. */
export function summarizeSim(aws: SimulatedAws): SimSummary {
  const calls: Record<string, number> = {};
  const throttled: Record<string, number> = {};
  const otherErrors: Record<string, number> = {};
  let firstRunTaskAt: number | undefined;
  for (const c of aws.calls) {
    bump(calls, c.action);
    if (c.action === "RunTask") firstRunTaskAt ??= c.at;
    if (c.error === undefined) continue;
    if (THROTTLING.has(c.error)) bump(throttled, c.action);
    else bump(otherErrors, `${c.action}: ${c.error}`);
  }
  const firstLaunch = new Map<string, number>();
  const seen = new Set<string>();
  let duplicates = 0;
  let duplicateExample: string | undefined;
  for (const h of aws.taskHistory) {
    const slot = h.context.startedBy ?? h.taskArn;
    const prev = firstLaunch.get(slot);
    if (prev === undefined || h.createdAt < prev) firstLaunch.set(slot, h.createdAt);
    const k = `${slot}#${String(h.context.attempt)}`;
    if (seen.has(k)) {
      duplicates++;
      duplicateExample ??= k;
    }
    seen.add(k);
  }
  let initialLaunchesDoneAt: number | undefined;
  for (const at of firstLaunch.values())
    initialLaunchesDoneAt = Math.max(initialLaunchesDoneAt ?? at, at);
  const launchesInWindow =
    initialLaunchesDoneAt === undefined
      ? 0
      : aws.taskHistory.filter((h) => h.createdAt <= initialLaunchesDoneAt).length;
  const open = aws.tasks().filter((t) => t.lastStatus !== "STOPPED");
  return {
    calls,
    throttled,
    otherErrors,
    ...(firstRunTaskAt === undefined ? {} : { firstRunTaskAt }),
    launches: aws.taskHistory.length,
    ...(initialLaunchesDoneAt === undefined ? {} : { initialLaunchesDoneAt }),
    launchesInWindow,
    duplicates,
    ...(duplicateExample === undefined ? {} : { duplicateExample }),
    notStopped: open.length,
    orphans: open.filter((t) => t.desiredStatus !== "STOPPED").length,
  };
}

/** How one job ended, as its runner reported it. */
export interface JobOutcome {
  readonly jobId: string;
  /** `succeeded`, `failed`, `timedOut`, `cancelled`, or `rejected` (setup failed). */
  readonly status: string;
  /** Attempts over all task slots (launch failures included): tasks + retries. */
  readonly attempts: number;
  readonly error?: string;
}

/** The runner's view of a run. */
export interface RunRecord {
  /** Task slots over all jobs. */
  readonly tasks: number;
  /** Clock time the jobs were submitted. */
  readonly startedAt: number;
  /** Clock time the last job resolved. */
  readonly finishedAt: number;
  readonly jobs: readonly JobOutcome[];
  /** When the runner learned each task started (RunTask answered) and first saw it STOPPED. */
  readonly times: TaskTimes;
  /**
   * Tasks the runner walked away from when their job ended: neither seen STOPPED nor stopped
   * by a StopTask that went through.
   */
  readonly abandoned: number;
}

/**
 * Records task starts and stops as a runner reports them. Only unfinished tasks are kept by ARN;
 * a finished one is two numbers, so recording 10,000 tasks weighs little in the runner's process.
 */
export class TaskTimes {
  readonly #open = new Map<string, number>();
  /** Start and stop times of finished tasks, in pairs. */
  readonly #closed: number[] = [];

  started(taskArn: string, at: number): void {
    if (!this.#open.has(taskArn)) this.#open.set(taskArn, at);
  }

  stopped(taskArn: string, at: number): void {
    const start = this.#open.get(taskArn);
    if (start === undefined) return;
    this.#open.delete(taskArn);
    this.#closed.push(start, at);
  }

  /** Tasks started. */
  get count(): number {
    return this.#open.size + this.#closed.length / 2;
  }

  /** Tasks started and never seen STOPPED. */
  get unfinished(): number {
    return this.#open.size;
  }

  /** Every task as [start, stop]; `stop` is undefined for a task never seen STOPPED. */
  *intervals(): Generator<[number, number | undefined]> {
    for (let i = 0; i < this.#closed.length; i += 2)
      yield [this.#closed[i] as number, this.#closed[i + 1]];
    for (const start of this.#open.values()) yield [start, undefined];
  }
}

/**
 * The fewest DescribeTasks calls any poller could have made for the tasks of this run, on the
 * runner's poll grid: Σ over grid times T (multiples of the poll interval) of
 * ⌈unfinished(T) / 100⌉, where a task is unfinished at T when the runner learned it started
 * before T and had not seen it STOPPED before T.
 */
export function describeTasksLowerBound(
  times: TaskTimes,
  intervalMs: number,
  endAt: number,
): { lowerBound: number; polls: number; maxUnfinished: number; taskPolls: number } {
  const ranges: [number, number][] = [];
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const [start, stop] of times.intervals()) {
    const first = Math.floor(start / intervalMs) + 1;
    const last = Math.floor((stop ?? endAt) / intervalMs);
    if (last < first) continue;
    ranges.push([first, last]);
    lo = Math.min(lo, first);
    hi = Math.max(hi, last);
  }
  if (ranges.length === 0) return { lowerBound: 0, polls: 0, maxUnfinished: 0, taskPolls: 0 };
  const diff = new Int32Array(hi - lo + 2);
  for (const [first, last] of ranges) {
    diff[first - lo] = (diff[first - lo] ?? 0) + 1;
    diff[last - lo + 1] = (diff[last - lo + 1] ?? 0) - 1;
  }
  let unfinished = 0;
  let lowerBound = 0;
  let polls = 0;
  let maxUnfinished = 0;
  let taskPolls = 0;
  for (let i = 0; i <= hi - lo; i++) {
    unfinished += diff[i] ?? 0;
    if (unfinished === 0) continue;
    polls++;
    taskPolls += unfinished;
    lowerBound += Math.ceil(unfinished / 100);
    maxUnfinished = Math.max(maxUnfinished, unfinished);
  }
  return { lowerBound, polls, maxUnfinished, taskPolls };
}

/** The algorithm's figures for one run. */
export interface AlgorithmMetrics {
  readonly tasks: number;
  readonly jobs: number;
  readonly jobsSucceeded: number;
  readonly jobsFailed: number;
  readonly jobsFailedByThrottling: number;
  readonly failures: readonly string[];
  /** From submitting the jobs to the last result, simulated seconds. */
  readonly makespanS: number;
  readonly calls: Record<string, number>;
  /** RunTask + DescribeTasks + StopTask: the calls that scale with tasks. */
  readonly taskCalls: number;
  readonly totalCalls: number;
  readonly throttled: Record<string, number>;
  readonly throttledTotal: number;
  readonly otherErrors: Record<string, number>;
  readonly describeTasksLowerBound: number;
  readonly describePolls: number;
  readonly maxUnfinished: number;
  /**
   * Task polls: Σ unfinished(T) over the grid, each task counted at every tick it was running
   * (the descriptions a poller on the grid must get). Per-task-per-poll figures divide by this.
   */
  readonly taskPolls: number;
  /** Σ unfinished(T) over the grid / tasks started: how often each task must be described. */
  readonly descriptionsPerTask: number | null;
  /** DescribeTasks calls / lower bound. */
  readonly describeTasksRatio: number | null;
  /** Tasks + launch retries + application retries (the attempts the runners report). */
  readonly launchesNeeded: number;
  /** RunTask calls / launches needed. */
  readonly runTaskRatio: number | null;
  readonly launches: number;
  readonly duplicates: number;
  readonly notStopped: number;
  readonly orphans: number;
  /** Tasks left running by the runner when their job ended (its own account). */
  readonly abandoned: number;
  /** From the first RunTask to the last slot's first running task, simulated seconds. */
  readonly launchPhaseS: number | null;
  /** Launches per second after the burst, in the launch phase; null when the burst covers it. */
  readonly launchRatePerS: number | null;
  /** `launchRatePerS` / the simulated sustained Fargate rate (20 tasks/s). */
  readonly launchRateRatio: number | null;
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** Combines the runner's and the simulator's view into the algorithm's figures. */
export function algorithmMetrics(run: RunRecord, sim: SimSummary): AlgorithmMetrics {
  const bound = describeTasksLowerBound(run.times, WORKLOAD.pollIntervalMs, run.finishedAt);
  const failed = run.jobs.filter((j) => j.status !== "succeeded");
  const launchesNeeded = run.jobs.reduce((a, j) => a + j.attempts, 0);
  const describe = sim.calls.DescribeTasks ?? 0;
  const runTask = sim.calls.RunTask ?? 0;
  let launchPhaseS: number | null = null;
  let launchRatePerS: number | null = null;
  if (sim.firstRunTaskAt !== undefined && sim.initialLaunchesDoneAt !== undefined) {
    launchPhaseS = (sim.initialLaunchesDoneAt - sim.firstRunTaskAt) / 1000;
    // One task per RunTask call, so the burst is the smaller of the two Fargate buckets'.
    const burst = Math.min(WORKLOAD.fargateBurst, WORKLOAD.fargateRunTaskBurst);
    const afterBurst = sim.launchesInWindow - burst;
    // Only meaningful when the launches after the burst took a while (several seconds).
    if (afterBurst >= 5 * WORKLOAD.fargateRatePerSecond && launchPhaseS > 0)
      launchRatePerS = afterBurst / launchPhaseS;
  }
  return {
    tasks: run.tasks,
    jobs: run.jobs.length,
    jobsSucceeded: run.jobs.length - failed.length,
    jobsFailed: failed.length,
    jobsFailedByThrottling: failed.filter((j) => /throttl|rate exceeded/i.test(j.error ?? ""))
      .length,
    failures: [...new Set(failed.map((j) => `${j.status}: ${j.error ?? "?"}`))].slice(0, 5),
    makespanS: (run.finishedAt - run.startedAt) / 1000,
    calls: sim.calls,
    taskCalls: runTask + describe + (sim.calls.StopTask ?? 0),
    totalCalls: sum(sim.calls),
    throttled: sim.throttled,
    throttledTotal: sum(sim.throttled),
    otherErrors: sim.otherErrors,
    describeTasksLowerBound: bound.lowerBound,
    describePolls: bound.polls,
    maxUnfinished: bound.maxUnfinished,
    taskPolls: bound.taskPolls,
    descriptionsPerTask: run.times.count === 0 ? null : bound.taskPolls / run.times.count,
    describeTasksRatio: bound.lowerBound === 0 ? null : describe / bound.lowerBound,
    launchesNeeded,
    runTaskRatio: launchesNeeded === 0 ? null : runTask / launchesNeeded,
    launches: sim.launches,
    duplicates: sim.duplicates,
    notStopped: sim.notStopped,
    orphans: sim.orphans,
    abandoned: run.abandoned,
    launchPhaseS,
    launchRatePerS,
    launchRateRatio:
      launchRatePerS === null ? null : launchRatePerS / WORKLOAD.fargateRatePerSecond,
  };
}

/** The host process's figures while a run drives it. */
export interface ProcessMetrics {
  readonly wallMs: number;
  /** User + system CPU of this process during the run (every thread: JS, GC helpers, libuv). */
  readonly cpuMs: number;
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  readonly cpuMsPerTask: number;
  /**
   * Of `cpuMs`: the JS thread's share (Linux only, 10 ms resolution); the rest is other
   * threads, mostly V8's GC helpers (concurrent marking, parallel scavenges).
   */
  readonly cpuMainThreadMs?: number;
  /** RSS just before the run, after a full GC (modules loaded, nothing running). */
  readonly baselineRssMb: number;
  /** Of `baselineRssMb`: file-backed pages (the `node` binary, shared libraries; Linux only). */
  readonly baselineRssFileMb?: number;
  /** Highest RSS sampled every 50 ms during the run: the peak RSS. */
  readonly sampledPeakRssMb: number;
  /**
   * The kernel's high-water mark of RSS over the whole process life (`resourceUsage().maxRSS`),
   * loading the modules included (importing the AWS SDK peaks above the settled baseline).
   */
  readonly maxRssMb: number;
  /** V8 heap in use (garbage included) at the sampled peak. */
  readonly heapAtPeakMb: number;
  /** V8 heap reserved at the sampled peak (in use + free space kept for allocation). */
  readonly heapTotalAtPeakMb: number;
  /** Memory outside the V8 heap held by JS objects (Buffers, ArrayBuffers) at the sampled peak. */
  readonly externalAtPeakMb: number;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayP50Ms: number;
  readonly eventLoopDelayMaxMs: number;
  /** Major (mark-compact) collections during the run; each walks the whole live heap. */
  readonly gcMajor: number;
  /** Minor collections (scavenges) during the run. */
  readonly gcMinor: number;
  /** The collections' time on the JS thread (their helper threads' time is not in it). */
  readonly gcPauseMs: number;
}

const MB = 1024 * 1024;

/** `RssFile` of `/proc/self/status`, in bytes; undefined off Linux. */
function rssFileBytes(): number | undefined {
  try {
    const m = /^RssFile:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * CPU of the process's JS thread (the main thread) in ms, user + system, from
 * `/proc/self/task/<pid>/stat` (clock ticks, 10 ms); undefined off Linux. The rest of
 * `process.cpuUsage()` is the other threads: V8's GC helpers and the libuv pool.
 */
function mainThreadCpuMs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${String(process.pid)}/stat`, "utf8");
    // Fields after the command name (which may hold spaces), from field 3 on.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/** How often RSS is sampled. Each wake-up costs CPU, which the run's figures include. */
const SAMPLE_MS = 50;
/** Event-loop delay: a timer every 10 ms records how late it fires. */
const DELAY_RESOLUTION_MS = 10;

/** Samples CPU, RSS and event-loop delay between `start()` and `stop()`. */
export class ProcessMonitor {
  #cpu: NodeJS.CpuUsage | undefined;
  #mainCpu: number | undefined;
  #wall = 0;
  #baseline = 0;
  #peak = 0;
  #atPeak: NodeJS.MemoryUsage | undefined;
  #baselineFile: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  readonly #gc = { major: 0, minor: 0, pauseMs: 0 };
  readonly #gcObserver = new PerformanceObserver((list) => {
    this.#countGc(list.getEntries());
  });

  #countGc(entries: readonly PerformanceEntry[]): void {
    for (const entry of entries) {
      // A "gc" entry's `detail` ({ kind, flags }) is missing from this version of Node's types.
      const kind = (entry as { readonly detail?: { readonly kind?: number } | null }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.#gc.major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) this.#gc.minor++;
      this.#gc.pauseMs += entry.duration;
    }
  }

  start(): void {
    (globalThis as { gc?: () => void }).gc?.();
    this.#baseline = process.memoryUsage.rss();
    this.#baselineFile = rssFileBytes();
    this.#peak = this.#baseline;
    this.#atPeak = process.memoryUsage();
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS);
    this.#timer.unref();
    this.#delay.enable();
    this.#gcObserver.observe({ entryTypes: ["gc"] });
    this.#wall = performance.now();
    this.#mainCpu = mainThreadCpuMs();
    this.#cpu = process.cpuUsage();
  }

  #sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.#peak) {
      this.#peak = rss;
      this.#atPeak = process.memoryUsage();
    }
  }

  stop(tasks: number): ProcessMetrics {
    const cpu = process.cpuUsage(this.#cpu);
    const mainEnd = mainThreadCpuMs();
    const wallMs = performance.now() - this.#wall;
    this.#delay.disable();
    this.#countGc(this.#gcObserver.takeRecords());
    this.#gcObserver.disconnect();
    clearInterval(this.#timer);
    this.#sample();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    // The histogram holds the intervals between the timer's runs: the resolution plus the delay.
    const delayMs = (ns: number): number => Math.max(0, ns / 1e6 - DELAY_RESOLUTION_MS);
    return {
      wallMs,
      cpuMs,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      cpuMsPerTask: tasks === 0 ? 0 : cpuMs / tasks,
      ...(mainEnd === undefined || this.#mainCpu === undefined
        ? {}
        : { cpuMainThreadMs: mainEnd - this.#mainCpu }),
      baselineRssMb: this.#baseline / MB,
      ...(this.#baselineFile === undefined ? {} : { baselineRssFileMb: this.#baselineFile / MB }),
      sampledPeakRssMb: this.#peak / MB,
      maxRssMb: (process.resourceUsage().maxRSS * 1024) / MB,
      heapAtPeakMb: (this.#atPeak?.heapUsed ?? 0) / MB,
      heapTotalAtPeakMb: (this.#atPeak?.heapTotal ?? 0) / MB,
      externalAtPeakMb: (this.#atPeak?.external ?? 0) / MB,
      eventLoopDelayP99Ms: delayMs(this.#delay.percentile(99)),
      eventLoopDelayP50Ms: delayMs(this.#delay.percentile(50)),
      eventLoopDelayMaxMs: delayMs(this.#delay.max),
      gcMajor: this.#gc.major,
      gcMinor: this.#gc.minor,
      gcPauseMs: this.#gc.pauseMs,
    };
  }
}
