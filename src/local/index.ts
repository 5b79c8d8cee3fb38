/**
 * `ecs-batch-runner/local`: run jobs on this machine, with no AWS account. The simulated ECS,
 * CloudWatch Logs and EC2 of `ecs-batch-runner/testing`, where each task's containers run as
 * local processes. Images are not pulled: a container runs its `entryPoint` + `command` from the
 * task definition (after overrides) with the host's programs. See docs/local-mode.md.
 */
import type { AwsClients } from "../aws.js";
import { systemClock, type Clock } from "../clock.js";
import { EcsBatchRunner, type EcsBatchRunnerOptions } from "../runner.js";
import { seededRandom } from "../simulator/control.js";
import { createSimulatedAws, type SimulatedAws } from "../simulator/index.js";
import { ProcessExecutor } from "./executor.js";

/** Options of `createLocalAws`. */
export interface LocalAwsOptions {
  /** Default: `us-west-2`. */
  readonly region?: string;
  /** Clusters that exist. Default: `["default"]`. */
  readonly clusters?: readonly string[];
  /** Tasks whose containers run at once; more wait in PENDING. Default 4. */
  readonly maxConcurrentTasks?: number;
  /** Working directory of the container processes. Default: the current directory. */
  readonly cwd?: string;
  /**
   * Make some launches fail the way ECS sometimes does (RunTask `failures[]`), to try out
   * retries: each first attempt fails with `reason` (default `AGENT`) with this probability.
   */
  readonly launchFailures?: {
    readonly probability: number;
    readonly reason?: string;
    readonly seed?: number;
  };
  /** Time before a task reaches PENDING and after it stops, ms. Default 200. */
  readonly phaseMs?: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/** A local backend: clients for a runner, the simulated account behind them, and `close()`. */
export interface LocalAws extends AwsClients {
  readonly clients: AwsClients;
  /** The simulated account: scripts, fault injection, call log and assertions work as in tests. */
  readonly aws: SimulatedAws;
  /** Container processes alive right now. */
  readonly liveProcesses: number;
  /**
   * Kills every task's processes (SIGKILL to each process group) and closes the backend: tasks
   * not running yet, and any launched later, fail to start with "the local backend was closed".
   */
  close(): void;
}

/** Creates a local backend whose tasks run as child processes. */
export function createLocalAws(options: LocalAwsOptions = {}): LocalAws {
  const clock = options.clock ?? systemClock;
  const executor = new ProcessExecutor({
    clock,
    ...(options.maxConcurrentTasks === undefined
      ? {}
      : { maxConcurrentTasks: options.maxConcurrentTasks }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  const phaseMs = options.phaseMs ?? 200;
  const aws = createSimulatedAws({
    clock,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.clusters === undefined ? {} : { clusters: options.clusters }),
    executor,
    timing: { provisioningMs: phaseMs, pendingMs: 0, deprovisioningMs: phaseMs },
  });
  const failures = options.launchFailures;
  if (failures !== undefined && failures.probability > 0) {
    const random = seededRandom(failures.seed ?? Date.now());
    aws.failLaunch(
      (ctx) => ctx.attempt === 1 && random() < failures.probability,
      failures.reason ?? "AGENT",
    );
  }
  return {
    ecs: aws.ecs,
    logs: aws.logs,
    ec2: aws.ec2,
    clients: aws.clients,
    aws,
    get liveProcesses() {
      return executor.liveProcesses;
    },
    close: () => executor.killAll(),
  };
}

/** A runner on a local backend. Close the backend (`runner.local.close()`) when done. */
export function createLocalRunner(
  options: LocalAwsOptions & { runner?: Omit<EcsBatchRunnerOptions, "clients" | "clock"> } = {},
): EcsBatchRunner & { readonly local: LocalAws } {
  const local = createLocalAws(options);
  const runner = new EcsBatchRunner({
    ...options.runner,
    clients: local.clients,
    clock: options.clock ?? systemClock,
  });
  return Object.assign(runner, { local });
}

export { ProcessExecutor, type ProcessExecutorOptions } from "./executor.js";
