/** Turns measurements into comparisons, target checks and tables. */
import type { MeasurementResult, PairFigures, Strategy } from "./result.js";
import { isLongTaskScenario, scenarioByName } from "./workload.js";

/** Ours vs one naive strategy on one scenario (virtual-time runs). */
export interface Comparison {
  readonly scenario: string;
  readonly naive: Strategy;
  /** Jobs of ours that did not succeed. */
  readonly oursJobsFailed: number;
  /** Jobs of the naive strategy that did not succeed: it then did less work than ours. */
  readonly naiveJobsFailed: number;
  readonly naiveFailures: readonly string[];
  /**
   * Both strategies finished every job: only then are the ratios computed. A failed job stops
   * early and makes fewer calls, so a ratio against it would compare unlike work.
   */
  readonly finished: boolean;
  /** Each: ours, naive, ours / naive (the ratio null unless `finished`). */
  readonly runTask: Ratio;
  readonly describeTasks: Ratio;
  readonly taskCalls: Ratio;
  readonly totalCalls: Ratio;
  readonly throttled: Ratio;
  readonly makespanS: Ratio;
  readonly launchPhaseS: Ratio;
}

export interface Ratio {
  readonly ours: number | null;
  readonly naive: number | null;
  readonly ratio: number | null;
}

export interface TargetCheck {
  readonly target: string;
  readonly scenario: string;
  readonly mode: string;
  readonly measured: string;
  readonly met: boolean;
}

export interface Summary {
  readonly results: readonly MeasurementResult[];
  readonly comparisons: readonly Comparison[];
  readonly targets: readonly TargetCheck[];
}

function ratio(ours: number | null, naive: number | null, finished: boolean): Ratio {
  return {
    ours,
    naive,
    ratio: !finished || ours === null || naive === null || naive === 0 ? null : ours / naive,
  };
}

export function summarize(results: readonly MeasurementResult[]): Summary {
  const comparisons: Comparison[] = [];
  for (const ours of results.filter((r) => r.strategy === "ours" && r.mode === "virtual")) {
    for (const naive of results.filter(
      (r) => r.strategy !== "ours" && r.mode === "virtual" && r.scenario === ours.scenario,
    )) {
      const a = ours.algorithm;
      const b = naive.algorithm;
      const finished = a.jobsFailed === 0 && b.jobsFailed === 0;
      const r = (x: number | null, y: number | null): Ratio => ratio(x, y, finished);
      comparisons.push({
        scenario: ours.scenario,
        naive: naive.strategy,
        oursJobsFailed: a.jobsFailed,
        naiveJobsFailed: b.jobsFailed,
        naiveFailures: b.failures,
        finished,
        runTask: r(a.calls.RunTask ?? 0, b.calls.RunTask ?? 0),
        describeTasks: r(a.calls.DescribeTasks ?? 0, b.calls.DescribeTasks ?? 0),
        taskCalls: r(a.taskCalls, b.taskCalls),
        totalCalls: r(a.totalCalls, b.totalCalls),
        throttled: r(a.throttledTotal, b.throttledTotal),
        makespanS: r(a.makespanS, b.makespanS),
        launchPhaseS: r(a.launchPhaseS, b.launchPhaseS),
      });
    }
  }
  return { results, comparisons, targets: checkTargets(results) };
}

/** Why a comparison has no ratios: which strategy failed how many jobs. */
function notFinished(c: Comparison, results: readonly MeasurementResult[]): string {
  const jobs = (strategy: Strategy): number =>
    results.find(
      (r) => r.mode === "virtual" && r.scenario === c.scenario && r.strategy === strategy,
    )?.algorithm.jobs ?? 0;
  const parts: string[] = [];
  if (c.naiveJobsFailed > 0)
    parts.push(`${c.naive} failed ${String(c.naiveJobsFailed)}/${String(jobs(c.naive))} jobs`);
  if (c.oursJobsFailed > 0)
    parts.push(`ours failed ${String(c.oursJobsFailed)}/${String(jobs("ours"))} jobs`);
  return parts.join(", ");
}

/**
 * A run's cost per task poll (one running task at one tick of the poll grid): DescribeTasks
 * calls per 100 task polls (1 is the fewest: 100 tasks per call) and the runner's CPU in
 * microseconds per task poll: in virtual time its profiled code plus its GC share (runs of
 * ours), in real time its process minus the transport replay.
 */
export function perTaskPoll(r: MeasurementResult): {
  describeTasksPer100: number | null;
  runnerUs?: number;
} {
  const a = r.algorithm;
  if (a.taskPolls === 0) return { describeTasksPer100: null };
  const runnerMs = r.mode === "realtime" ? runnerCpu(r)?.runnerMs : r.cpu?.runnerWithGcShareMs;
  return {
    describeTasksPer100: ((a.calls.DescribeTasks ?? 0) * 100) / a.taskPolls,
    ...(runnerMs === undefined ? {} : { runnerUs: (runnerMs * 1000) / a.taskPolls }),
  };
}

const f2 = (n: number | null): string => (n === null ? "n/a" : n.toFixed(2));
const f1 = (n: number | null): string => (n === null ? "n/a" : n.toFixed(1));
const f3 = (n: number | null): string => (n === null ? "n/a" : n.toFixed(3));

function checkTargets(results: readonly MeasurementResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const add = (r: MeasurementResult, target: string, measured: string, met: boolean): void => {
    const mode =
      r.mode === "realtime" ? `realtime, replay ${PAIRING[r.pairing ?? "none"]}` : r.mode;
    checks.push({ target, scenario: r.scenario, mode, measured, met });
  };
  for (const r of results.filter((x) => x.strategy === "ours")) {
    const a = r.algorithm;
    if (a.describeTasksRatio !== null)
      add(
        r,
        "DescribeTasks / lower bound ≤ 1.05",
        f3(a.describeTasksRatio),
        a.describeTasksRatio <= 1.05,
      );
    const runTask = a.calls.RunTask ?? 0;
    const resends = a.throttled.RunTask ?? 0;
    add(
      r,
      "RunTask / launches needed = 1.00 (plus resends of throttled calls only)",
      `${f3(a.runTaskRatio)} (${String(runTask)} calls, ${String(a.launchesNeeded)} needed, ${String(resends)} throttled)`,
      runTask - resends === a.launchesNeeded,
    );
    if (a.launchRateRatio !== null)
      add(
        r,
        "launch rate after the burst ≥ 90% of 20 tasks/s",
        `${(a.launchRateRatio * 100).toFixed(1)}%`,
        a.launchRateRatio >= 0.9,
      );
    if (a.tasks === 10_000)
      add(
        r,
        "10,000 tasks launched in ≤ 550 s (simulated)",
        `${f1(a.launchPhaseS)} s`,
        a.launchPhaseS !== null && a.launchPhaseS <= 550,
      );
    add(
      r,
      "zero jobs failed by throttling (and every job succeeded)",
      `${String(a.jobsFailedByThrottling)} by throttling, ${String(a.jobsSucceeded)}/${String(a.jobs)} succeeded`,
      a.jobsFailedByThrottling === 0 && a.jobsSucceeded === a.jobs,
    );
    add(r, "zero duplicate tasks", String(a.duplicates), a.duplicates === 0);
    add(
      r,
      "zero orphaned tasks (none left running by the runner, all STOPPED at the end)",
      `${String(a.abandoned)} left running, ${String(a.notStopped)} not STOPPED`,
      a.abandoned === 0 && a.notStopped === 0,
    );
    if (isLongTaskScenario(scenarioByName(r.scenario))) {
      const cost = perTaskPoll(r);
      if (cost.describeTasksPer100 !== null)
        add(
          r,
          "DescribeTasks ≤ 1.05 calls per 100 task polls (long tasks)",
          `${f3(cost.describeTasksPer100)} (${count(a.calls.DescribeTasks)} calls, ${String(a.taskPolls)} task polls)`,
          cost.describeTasksPer100 <= 1.05,
        );
      if (r.cpu !== undefined && cost.runnerUs !== undefined)
        add(
          r,
          `runner CPU ≤ ${String(PER_TASK_POLL_TARGET_US)} µs per task per poll (long tasks; runner code + its GC share, profiled)`,
          `${f2(cost.runnerUs)} µs (${r.cpu.runnerWithGcShareMs.toFixed(0)} ms over ${String(a.taskPolls)} task polls)`,
          cost.runnerUs <= PER_TASK_POLL_TARGET_US,
        );
    }
    if (r.scenario !== "1x10000") continue;
    if (r.cpu !== undefined) {
      const perTask = r.cpu.runnerWithGcShareMs / a.tasks;
      add(
        r,
        "runner CPU ≤ 0.2 ms per task (runner code + its GC share, profiled)",
        `${f3(perTask)} ms (${r.cpu.runnerMs.toFixed(0)} ms code + GC share, of ${r.process.cpuMs.toFixed(0)} ms process)`,
        perTask <= 0.2,
      );
    }
    if (r.mode === "realtime") {
      const p = r.process;
      const rss = overPairs(r, p.sampledPeakRssMb, (x) => x.peakRssMb, "highest", f1);
      add(
        r,
        "peak RSS ≤ 200 MB",
        `${rss.text} MB (${f1(p.baselineRssMb)} MB before the job)`,
        rss.value <= 200,
      );
      const delay = overPairs(
        r,
        p.eventLoopDelayP99Ms,
        (x) => x.eventLoopDelayP99Ms,
        "highest",
        f1,
      );
      add(r, "event-loop delay p99 ≤ 50 ms", `${delay.text} ms`, delay.value <= 50);
      const runner = runnerCpu(r);
      if (runner !== undefined) {
        const cpu = overPairs(r, runner.perTaskMs, (x) => x.runnerCpuMsPerTask, "median", f3);
        add(
          r,
          `runner CPU ≤ 0.2 ms per task (runner's process minus the transport replayed without it, ${r.pairing === "side-by-side" ? "beside it" : "after it"})`,
          `${cpu.text} ms (${p.cpuMs.toFixed(0)} ms process - ${runner.transportMs.toFixed(0)} ms transport; whole process ${f3(p.cpuMsPerTask)} ms per task)`,
          cpu.value <= 0.2,
        );
      }
    }
  }
  return checks;
}

const PAIRING = { none: "none", sequential: "after", "side-by-side": "beside" } as const;

/**
 * The long-task scenario's CPU target, per task per poll: at 5 µs, watching 10,000 running tasks
 * on a 15 s poll costs a host 50 ms of CPU per poll, a third of a percent of one core.
 */
const PER_TASK_POLL_TARGET_US = 5;

/** "run/replay", or the run's figure alone when there was no replay. */
function withReplay(run: string, replay: string | undefined): string {
  return replay === undefined ? run : `${run}/${replay}`;
}

/**
 * One target figure of a real-time result: the result's own, or over repeated pairs the median
 * (`runner CPU`; the result is the median pair, so its own figure) or the highest (`peak RSS`, `event-loop delay`: a limit must hold in every run),
 * with every pair's figure listed.
 */
function overPairs(
  r: MeasurementResult,
  own: number,
  pick: (p: PairFigures) => number,
  how: "median" | "highest",
  format: (n: number) => string,
): { value: number; text: string } {
  const all = (r.repeats ?? []).map(pick).sort((a, b) => a - b);
  if (all.length < 2) return { value: own, text: format(own) };
  const value = how === "median" ? own : Math.max(...all);
  return {
    value,
    text: `${format(value)}, ${how} of ${String(all.length)} pairs: ${all.map(format).join(", ")}`,
  };
}

/**
 * The runner's own CPU in a real-time run: the runner's process minus the same calls and
 * answers replayed without the runner (`replay.ts`), less the replay's reading of its records.
 */
export function runnerCpu(
  r: MeasurementResult,
): { transportMs: number; runnerMs: number; perTaskMs: number } | undefined {
  if (r.transport === undefined) return undefined;
  const transportMs = r.transport.process.cpuMs - r.transport.readingMs;
  const runnerMs = r.process.cpuMs - transportMs;
  return { transportMs, runnerMs, perTaskMs: runnerMs / r.algorithm.tasks };
}

/**
 * The pair with the median runner CPU of repeated real-time runs (the lower middle one of an
 * even count), carrying every pair's figure: one pair varies by ±0.05 ms per task at 10,000
 * tasks, and the median is not moved by one pair that the machine disturbed.
 */
export function medianPair(pairs: readonly MeasurementResult[]): MeasurementResult {
  const ranked = pairs
    .map((pair) => ({ pair, perTaskMs: runnerCpu(pair)?.perTaskMs }))
    .filter((p): p is { pair: MeasurementResult; perTaskMs: number } => p.perTaskMs !== undefined)
    .sort((a, b) => a.perTaskMs - b.perTaskMs);
  const median = ranked[Math.floor((ranked.length - 1) / 2)];
  if (median === undefined || ranked.length < 2) {
    const only = pairs[0];
    if (only === undefined) throw new Error("no real-time run to report");
    return only;
  }
  return {
    ...median.pair,
    repeats: pairs.map((pair) => ({
      runnerCpuMsPerTask: runnerCpu(pair)?.perTaskMs ?? Number.NaN,
      peakRssMb: pair.process.sampledPeakRssMb,
      eventLoopDelayP99Ms: pair.process.eventLoopDelayP99Ms,
    })),
  };
}

/** A plain-text table, columns padded; numbers right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) =>
    rows.every((r) => /^[-\d.,x%/ ]*$|^n\/a$/.test(r[i] ?? "")),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] === true ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const ACTIONS: readonly [string, string][] = [
  ["RunTask", "RunTask"],
  ["DescribeTasks", "DescrTasks"],
  ["StopTask", "StopTask"],
  ["GetLogEvents", "GetLogEv"],
  ["RegisterTaskDefinition", "RegTaskDef"],
  ["DescribeTaskDefinition", "DescrTaskDef"],
  ["DescribeClusters", "DescrClust"],
  ["DescribeVpcs", "DescrVpcs"],
  ["DescribeSubnets", "DescrSubn"],
  ["DescribeSecurityGroups", "DescrSG"],
];

const count = (n: number | undefined): string => String(n ?? 0);

export function printReport(summary: Summary): void {
  const out: string[] = [];
  const virtual = summary.results.filter((r) => r.mode === "virtual");
  const realtime = summary.results.filter((r) => r.mode === "realtime");

  out.push(
    "",
    "ALGORITHM (virtual time: ManualClock, simulator with the published AWS limits, latency 50-150 ms,",
    "3% exit failures on first attempts, 2% AGENT launch failures; times are simulated seconds)",
    "",
    table(
      [
        "scenario",
        "strategy",
        "jobs ok",
        "makespan s",
        "launch phase s",
        "DT/bound",
        "RT/needed",
        "rate/20",
        "throttled",
        "dup",
        "left running",
        "not STOPPED",
      ],
      virtual.map((r) => {
        const a = r.algorithm;
        return [
          r.scenario,
          r.strategy,
          `${String(a.jobsSucceeded)}/${String(a.jobs)}`,
          f1(a.makespanS),
          f1(a.launchPhaseS),
          f3(a.describeTasksRatio),
          f3(a.runTaskRatio),
          a.launchRateRatio === null ? "n/a" : `${(a.launchRateRatio * 100).toFixed(1)}%`,
          String(a.throttledTotal),
          String(a.duplicates),
          String(a.abandoned),
          String(a.notStopped),
        ];
      }),
    ),
  );

  out.push(
    "",
    "API CALLS PER ACTION (virtual time; failed and throttled calls included)",
    "",
    table(
      ["scenario", "strategy", ...ACTIONS.map(([, short]) => short), "bound DT", "needed RT"],
      virtual.map((r) => [
        r.scenario,
        r.strategy,
        ...ACTIONS.map(([action]) => count(r.algorithm.calls[action])),
        String(r.algorithm.describeTasksLowerBound),
        String(r.algorithm.launchesNeeded),
      ]),
    ),
  );

  const throttledRows = virtual
    .filter((r) => r.algorithm.throttledTotal > 0)
    .map((r) => [
      r.scenario,
      r.strategy,
      Object.entries(r.algorithm.throttled)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(", "),
    ]);
  if (throttledRows.length > 0)
    out.push(
      "",
      "THROTTLING ERRORS SEEN",
      "",
      table(["scenario", "strategy", "throttled calls"], throttledRows),
    );

  const failedRows = virtual
    .filter((r) => r.algorithm.jobsFailed > 0)
    .map((r) => [r.scenario, r.strategy, r.algorithm.failures.join(" | ")]);
  if (failedRows.length > 0)
    out.push("", "FAILED JOBS", "", table(["scenario", "strategy", "why"], failedRows));

  if (summary.comparisons.length > 0) {
    const unfinished = summary.comparisons.filter((c) => !c.finished);
    out.push(
      "",
      "OURS / NAIVE (virtual time; < 1 means ours uses fewer calls or less time; finished jobs only:",
      "no ratio where either strategy failed a job, since a failed job stops early and does less work)",
      "",
      table(
        [
          "scenario",
          "vs",
          "RunTask",
          "DescribeTasks",
          "task calls",
          "all calls",
          "makespan",
          "launch phase",
          "compared",
        ],
        summary.comparisons.map((c) => [
          c.scenario,
          c.naive,
          f3(c.runTask.ratio),
          f3(c.describeTasks.ratio),
          f3(c.taskCalls.ratio),
          f3(c.totalCalls.ratio),
          f2(c.makespanS.ratio),
          f2(c.launchPhaseS.ratio),
          c.finished ? "yes: all jobs finished" : `no: ${notFinished(c, summary.results)}`,
        ]),
      ),
    );
    if (unfinished.length > 0)
      out.push(
        "",
        `Not compared (${String(unfinished.length)}): a strategy failed jobs (see FAILED JOBS); its figures are in the tables above.`,
      );
  }

  const perPoll = summary.results.filter((r) => r.algorithm.taskPolls > 0);
  if (perPoll.length > 0)
    out.push(
      "",
      "PER TASK PER POLL (a task poll is one running task at one tick of the 15 s poll grid, which any",
      "poller must describe; a 30-minute task is polled ~120 times, so for long tasks this is the cost;",
      "runner µs: virtual time, our runner's code + its GC share under the sampling profiler; real time,",
      "the runner's process minus its transport replay)",
      "",
      table(
        [
          "scenario",
          "strategy",
          "mode",
          "task polls",
          "polls per task",
          "DescribeTasks",
          "DT per 100 task polls",
          "runner µs per task poll",
        ],
        perPoll.map((r) => {
          const a = r.algorithm;
          const cost = perTaskPoll(r);
          return [
            r.scenario,
            r.strategy,
            r.mode,
            String(a.taskPolls),
            f1(a.descriptionsPerTask),
            count(a.calls.DescribeTasks),
            f3(cost.describeTasksPer100),
            cost.runnerUs === undefined ? "n/a" : f2(cost.runnerUs),
          ];
        }),
      ),
    );

  if (realtime.length > 0)
    out.push(
      "",
      "PROCESS (real time: our runner alone in its process, the simulator in another, clock sped up",
      `${String(realtime[0]?.speed ?? "?")}x; CPU and RSS of the runner's process, event-loop delay sampled every 10 ms;`,
      "transport: the same calls and answers replayed without the runner, less its reading of them;",
      "runner = CPU - transport; GCs: the runner's process / its replay, pause on the JS thread;",
      "sim launches: tasks the simulator launched beside the run / beside the replay (same work, or the",
      "previous run's); replay: beside the run (the previous run's transcript, started with it), after it, none)",
      "",
      table(
        [
          "scenario",
          "replay",
          "wall s",
          "CPU ms",
          "JS thread ms",
          "CPU ms/task",
          "transport ms",
          "runner ms/task",
          "major GCs run/replay",
          "GC pause ms run/replay",
          "sim launches run/replay",
          "RSS base MB",
          "RSS peak MB",
          "maxRSS life MB",
          "heap@peak MB",
          "ELD p50 ms",
          "ELD p99 ms",
          "ELD max ms",
          "DT/bound",
          "RT/needed",
          "throttled",
          "dup",
          "left running",
          "not STOPPED",
        ],
        realtime.map((r) => {
          const p = r.process;
          const a = r.algorithm;
          return [
            r.scenario,
            PAIRING[r.pairing ?? "none"],
            f1(p.wallMs / 1000),
            p.cpuMs.toFixed(0),
            p.cpuMainThreadMs?.toFixed(0) ?? "n/a",
            f3(p.cpuMsPerTask),
            runnerCpu(r)?.transportMs.toFixed(0) ?? "n/a",
            f3(runnerCpu(r)?.perTaskMs ?? null),
            withReplay(String(p.gcMajor), r.transport?.process.gcMajor.toFixed(0)),
            withReplay(p.gcPauseMs.toFixed(0), r.transport?.process.gcPauseMs.toFixed(0)),
            withReplay(String(a.launches), r.transport?.neighbourLaunches.toFixed(0)),
            f1(p.baselineRssMb),
            f1(p.sampledPeakRssMb),
            f1(p.maxRssMb),
            f1(p.heapAtPeakMb),
            f1(p.eventLoopDelayP50Ms),
            f1(p.eventLoopDelayP99Ms),
            f1(p.eventLoopDelayMaxMs),
            f3(a.describeTasksRatio),
            f3(a.runTaskRatio),
            String(a.throttledTotal),
            String(a.duplicates),
            String(a.abandoned),
            String(a.notStopped),
          ];
        }),
      ),
    );

  const profiled = virtual.filter((r) => r.cpu !== undefined);
  if (profiled.length > 0)
    out.push(
      "",
      "RUNNER CPU BY OWNER (virtual-time runs of our runner under V8's sampling profiler, 100 µs;",
      "each sample charged to the innermost frame of our code on its stack; JS thread only)",
      "",
      table(
        [
          "scenario",
          "runner ms",
          "+GC share ms",
          "per task ms",
          "simulator+clock ms",
          "harness ms",
          "GC ms",
          "node other ms",
          "process CPU ms",
        ],
        profiled.map((r) => {
          const c = r.cpu as NonNullable<typeof r.cpu>;
          return [
            r.scenario,
            c.runnerMs.toFixed(0),
            c.runnerWithGcShareMs.toFixed(0),
            f3(c.runnerWithGcShareMs / r.algorithm.tasks),
            c.simulatorMs.toFixed(0),
            c.harnessMs.toFixed(0),
            c.gcMs.toFixed(0),
            c.otherMs.toFixed(0),
            r.process.cpuMs.toFixed(0),
          ];
        }),
      ),
    );

  out.push(
    "",
    "TARGETS",
    "",
    table(
      ["", "target", "scenario", "mode", "measured"],
      summary.targets.map((t) => [
        t.met ? "met" : "MISSED",
        t.target,
        t.scenario,
        t.mode,
        t.measured,
      ]),
    ),
    "",
  );
  process.stdout.write(out.join("\n"));
}
