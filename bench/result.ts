/** What one measurement produces; the orchestrator collects these from the worker processes. */
import type { AlgorithmMetrics, ProcessMetrics } from "./metrics.js";
import type { CpuAttribution } from "./profile.js";

export const STRATEGIES = ["ours", "naive-per-task-poll", "naive-sequential"] as const;
export type Strategy = (typeof STRATEGIES)[number];

/**
 * `virtual`: runner and simulator in one process on a `ManualClock` (measures the algorithm);
 * `realtime`: the runner alone in its process on a `ScaledClock`, the simulator in another
 * (measures the process).
 */
export type Mode = "virtual" | "realtime";

export interface MeasurementResult {
  readonly scenario: string;
  readonly strategy: Strategy;
  readonly mode: Mode;
  /** Simulated milliseconds per real millisecond (real-time runs). */
  readonly speed?: number;
  readonly algorithm: AlgorithmMetrics;
  readonly process: ProcessMetrics;
  /** Profiled runs: the JS thread's CPU by owner (runner, simulator, harness, GC). */
  readonly cpu?: CpuAttribution;
  /**
   * Real-time runs: how the transport replay was taken. `none`: no replay (the first run of a
   * scenario, which records the transcript the next run's replay sends, or `--no-replay`);
   * `sequential`: the run's own transcript replayed after it, alone; `side-by-side`: the
   * previous run's transcript replayed beside this run, both started at the same moment.
   */
  readonly pairing?: "none" | "sequential" | "side-by-side";
  /** Real-time runs: the same calls and answers replayed without the runner (`replay.ts`). */
  readonly transport?: ReplayResult;
  /**
   * Real-time runs repeated (`--repeat`): the figures of every run + replay pair, in run order.
   * This result is the pair with the median runner CPU.
   */
  readonly repeats?: readonly PairFigures[];
}

/** One real-time run + replay pair's target figures. */
export interface PairFigures {
  readonly runnerCpuMsPerTask: number;
  readonly peakRssMb: number;
  readonly eventLoopDelayP99Ms: number;
}

/** A transport replay of a real-time run: its process figures. */
export interface ReplayResult {
  readonly scenario: string;
  readonly calls: number;
  /** Calls answered with an error (as recorded: throttling and the like). */
  readonly errors: number;
  /** Time the replay spent reading its records back, its own work: taken off its CPU. */
  readonly readingMs: number;
  /** Tasks the replay's neighbour, the run's simulator run again, launched (the run's: `launches`). */
  readonly neighbourLaunches: number;
  readonly process: ProcessMetrics;
}
