/**
 * The benchmark's workload: the scenarios, the simulated account they run against (published
 * AWS limits, latency, exit and launch failures) and the jobs. Every random choice is a hash of
 * (job, task index, attempt), so each strategy meets exactly the same tasks, whatever order it
 * launches them in.
 */
import type { RegisterTaskDefinitionCommandInput } from "@aws-sdk/client-ecs";
import type { BatchJobInput } from "../src/index.js";
import type { Clock } from "../src/index.js";
import {
  createSimulatedAws,
  ManualClock,
  seededRandom,
  type SimulatedAws,
  type SimulatedAwsOptions,
} from "../src/testing/index.js";
import { defaultVpc } from "../src/simulator/ec2.js";
import type { Env } from "./env.js";

/** The simulator's seeded PRNG (mulberry32), for latency and jitter. */
export { seededRandom };

/** A task run time: uniform over 16 steps in [min, max] (simulated milliseconds). */
export interface RunTime {
  readonly min: number;
  readonly max: number;
}

/** One scenario: `jobs` concurrent jobs of `tasksPerJob` tasks each, on one runner. */
export interface Scenario {
  readonly name: string;
  readonly jobs: number;
  readonly tasksPerJob: number;
  /** How long each task's containers run. Default: `WORKLOAD.runMs` (1 to 4 minutes). */
  readonly runMs?: RunTime;
}

/** Long tasks: every task runs 30 minutes, so each is polled about 120 times. */
const THIRTY_MINUTES = 30 * 60_000;

export const SCENARIOS: readonly Scenario[] = [
  { name: "1x100", jobs: 1, tasksPerJob: 100 },
  { name: "1x1000", jobs: 1, tasksPerJob: 1000 },
  { name: "1x10000", jobs: 1, tasksPerJob: 10_000 },
  { name: "100x100", jobs: 100, tasksPerJob: 100 },
  {
    name: "1x2000-30min",
    jobs: 1,
    tasksPerJob: 2000,
    runMs: { min: THIRTY_MINUTES, max: THIRTY_MINUTES },
  },
];

/** Scenarios whose tasks run for half an hour: their headline is the cost per task per poll. */
export function isLongTaskScenario(scenario: Scenario): boolean {
  return scenario.runMs !== undefined && scenario.runMs.min >= THIRTY_MINUTES;
}

export function scenarioByName(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (s === undefined) throw new Error(`unknown scenario ${name}`);
  return s;
}

/** What every scenario shares. Times are simulated (virtual) milliseconds. */
export const WORKLOAD = {
  region: "us-west-2",
  /** Latency of every simulated call: uniform in [min, max]. */
  latencyMs: { min: 50, max: 150 },
  /** How long a task's containers run: uniform over 16 steps in [min, max] (`Scenario.runMs`). */
  runMs: { min: 60_000, max: 240_000 },
  /** Share of first attempts whose essential container exits 1 (retried: maxFailCount). */
  exitFailureRate: 0.03,
  /** Share of RunTask requests answered with `failures: [{ reason: "AGENT" }]`, every attempt. */
  agentFailureRate: 0.02,
  pollIntervalMs: 15_000,
  maxFailCount: 2,
  timeout: "6h",
  /** The Fargate sustained launch rate the simulator enforces, tasks per second. */
  fargateRatePerSecond: 20,
  /** Tasks Fargate launches at once before the sustained rate applies. */
  fargateBurst: 100,
  /**
   * RunTask calls launching Fargate tasks: 20 per second, burst and sustained. Each of our
   * RunTask calls launches one task (every task has its own overrides), so this caps the burst.
   */
  fargateRunTaskBurst: 20,
  /**
   * The runner's default RunTask limiter (`rateLimits.runTask` in `src/runner.ts`): 20 calls per
   * second, burst 20, Fargate's quota on RunTask calls. Both naive strategies pace their
   * launches with this bucket too (shared by all their jobs), so every strategy finishes its
   * jobs and the ratios compare like with like.
   */
  launchPacing: { ratePerSecond: 20, burst: 20 },
  seed: 20_260_101,
} as const;

/** The job ids of a scenario: `job-0`, `job-1`, ... */
export function jobIds(scenario: Scenario): string[] {
  return Array.from({ length: scenario.jobs }, (_, j) => `job-${j}`);
}

/** The task definition every job runs: one essential container logging to CloudWatch Logs. */
export function taskDefinition(): RegisterTaskDefinitionCommandInput {
  return {
    family: "bench-job",
    requiresCompatibilities: ["FARGATE"],
    networkMode: "awsvpc",
    cpu: "256",
    memory: "512",
    containerDefinitions: [
      {
        name: "main",
        image: "alpine:3.20",
        essential: true,
        command: ["sh", "-c", "work"],
        logConfiguration: {
          logDriver: "awslogs",
          options: {
            "awslogs-group": "/ecs/bench",
            "awslogs-region": WORKLOAD.region,
            "awslogs-stream-prefix": "ecs",
          },
        },
      },
    ],
  };
}

/**
 * How a job gets its network: `infer` (the default VPC, through three EC2 calls, so the runner
 * loads `@aws-sdk/client-ec2`) or `named` (the same subnets, security group and public IP given
 * in the job, as a production job names its own: no EC2 call, no EC2 module).
 */
export type NetworkChoice = "infer" | "named";

/** The job our runner is given: a template to register-or-reuse, the default VPC's network. */
export function jobInput(
  jobId: string,
  scenario: Scenario,
  network: NetworkChoice = "infer",
): BatchJobInput {
  return {
    jobId,
    taskDefinition: { definition: taskDefinition() },
    taskCount: scenario.tasksPerJob,
    pollInterval: WORKLOAD.pollIntervalMs,
    maxFailCount: WORKLOAD.maxFailCount,
    timeout: WORKLOAD.timeout,
    ...(network === "named" ? { network: defaultVpcNetwork() } : {}),
  };
}

/** What inference finds in the simulated account's default VPC, written out. */
function defaultVpcNetwork(): NonNullable<BatchJobInput["network"]> {
  const vpc = defaultVpc(WORKLOAD.region);
  return {
    subnets: vpc.subnets.map((s) => s.subnetId),
    securityGroups: vpc.securityGroups.map((g) => g.groupId),
    assignPublicIp: "ENABLED",
  };
}

/** A uniform number in [0, 1) from a string: FNV-1a, then a murmur3 finaliser. */
export function hashUnit(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

const RUN_STEPS = 16;

interface TaskKey {
  readonly jobId?: string;
  readonly taskIndex: number;
  readonly attempt: number;
}

const key = (t: TaskKey, what: string): string =>
  `${String(WORKLOAD.seed)}|${t.jobId ?? "?"}|${String(t.taskIndex)}|${String(t.attempt)}|${what}`;

/** The simulator options of every run: the published limits and per-call latency. */
export function simulatorOptions(): SimulatedAwsOptions {
  const random = seededRandom(WORKLOAD.seed);
  const { min, max } = WORKLOAD.latencyMs;
  return {
    region: WORKLOAD.region,
    limits: "aws",
    seed: WORKLOAD.seed,
    latency: () => min + random() * (max - min),
  };
}

/** Scripts the simulated account: run times, exit failures and AGENT launch failures. */
export function scriptWorkload(aws: SimulatedAws, scenario: Scenario): void {
  aws.script({}, { logs: ["starting", "working", "done"] });
  const { min, max } = scenario.runMs ?? WORKLOAD.runMs;
  for (let step = 0; step < RUN_STEPS; step++) {
    const runMs = min + Math.round(((max - min) * step) / (RUN_STEPS - 1));
    aws.script((ctx) => Math.floor(hashUnit(key(ctx, "run")) * RUN_STEPS) === step, { runMs });
  }
  aws.script((ctx) => ctx.attempt === 1 && hashUnit(key(ctx, "exit")) < WORKLOAD.exitFailureRate, {
    exitCode: 1,
    logs: ["starting", "error: input file is corrupt"],
  });
  aws.failLaunch((ctx) => hashUnit(key(ctx, "agent")) < WORKLOAD.agentFailureRate, "AGENT");
}

/**
 * The benchmark's simulated account on `clock`: the published limits, latency and the scripts
 * of `scenario` (its tasks' run time).
 */
export function simulatedAccount(clock: Clock, scenario: Scenario): SimulatedAws {
  const aws = createSimulatedAws({ ...simulatorOptions(), clock });
  scriptWorkload(aws, scenario);
  return aws;
}

/**
 * A run in virtual time: the simulated account on a `ManualClock` that starts at `start`, and
 * the `Env` that skips through every wait (up to two simulated days).
 */
export function virtualAccount(
  scenario: Scenario,
  start: number,
): { clock: ManualClock; aws: SimulatedAws; env: Env } {
  const clock = new ManualClock({ start });
  const aws = simulatedAccount(clock, scenario);
  const env: Env = {
    clients: aws.clients,
    clock,
    drive: (promise) => clock.runUntil(promise, { maxTimeMs: 48 * 3_600_000 }),
  };
  return { clock, aws, env };
}
