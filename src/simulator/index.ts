/**
 * `createSimulatedAws()`: a stateful ECS, CloudWatch Logs and EC2 behind `send(command)`, driven
 * by an injected clock. The same core serves tests (`ecs-batch-runner/testing`), the local
 * backend (`ecs-batch-runner/local`) and the benchmark.
 */
import type { Task, TaskDefinition, RegisterTaskDefinitionCommandInput } from "@aws-sdk/client-ecs";
import type { AwsClient, AwsClients } from "../aws.js";
import type { Clock } from "../clock.js";
import { ManualClock } from "./clock.js";
import {
  CallControl,
  seededRandom,
  type CallRecord,
  type FaultRule,
  type LatencyConfig,
  type TokenBucketConfig,
} from "./control.js";
import { defaultVpc, SimulatedEc2, type SimulatedVpc } from "./ec2.js";
import {
  DEFAULT_TIMING,
  SimulatedEcs,
  type TaskContext,
  type TaskExecutor,
  type TaskMatcher,
  type TaskScript,
  type TaskTiming,
} from "./ecs/index.js";
import { SimulatedLogs, type StoredLogEvent } from "./logs.js";

/** Options of `createSimulatedAws`. */
export interface SimulatedAwsOptions {
  /** The clock that drives task lifecycles, latency and rate limits. Default: a new `ManualClock`. */
  clock?: Clock;
  /** Default: `us-west-2`. */
  region?: string;
  /** Default: `123456789012`. */
  accountId?: string;
  /** Clusters that exist from the start. Default: `["default"]`. */
  clusters?: readonly string[];
  /** Lifecycle phase durations of scripted tasks. */
  timing?: Partial<TaskTiming>;
  /** How long stopped tasks stay describable. Default: one hour, as on ECS. */
  stoppedTaskRetentionMs?: number;
  /** Whether the account has a default VPC. Default: true. */
  defaultVpc?: boolean;
  /** Extra VPCs. */
  vpcs?: readonly SimulatedVpc[];
  /** Create awslogs log groups on first write. Default: true (ECS itself fails the task when the group is missing). */
  autoCreateLogGroups?: boolean;
  /** Seed of the random source used for fault probabilities. Default: 1. */
  seed?: number;
  /** `"aws"`: the published per-account rate limits (DESIGN 3.10); `"none"` (default): unlimited. */
  limits?: "aws" | "none";
  /** Latency per call. Default: 0. */
  latency?: LatencyConfig;
  /** Who runs tasks. Default: scripted outcomes. The local backend passes a process executor. */
  executor?: TaskExecutor;
}

/** The published limits (per account and Region) as token buckets. */
export function awsRateLimits(region: string): TokenBucketConfig[] {
  const slowLogs = ["us-west-2", "eu-west-1", "eu-central-1"].includes(region);
  return [
    {
      service: "ecs",
      actions: ["RunTask", "StartTask", "StopTask"],
      burst: 100,
      ratePerSecond: 40,
    },
    { service: "ecs", actions: ["DescribeTasks", "ListTasks"], burst: 100, ratePerSecond: 20 },
    { service: "ecs", actions: ["RegisterTaskDefinition"], burst: 20, ratePerSecond: 1 },
    { service: "ecs", actions: ["DescribeTaskDefinition"], burst: 50, ratePerSecond: 20 },
    { service: "ecs", actions: ["DescribeClusters", "ListClusters"], burst: 50, ratePerSecond: 20 },
    {
      service: "logs",
      actions: ["GetLogEvents"],
      burst: slowLogs ? 10 : 25,
      ratePerSecond: slowLogs ? 10 : 25,
    },
    {
      service: "logs",
      actions: ["FilterLogEvents"],
      burst: region === "us-east-1" ? 25 : 10,
      ratePerSecond: region === "us-east-1" ? 25 : 10,
    },
    {
      service: "ec2",
      actions: ["DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups"],
      burst: 100,
      ratePerSecond: 20,
    },
  ];
}

/**
 * Fargate also limits the RunTask calls that launch its tasks: 20 per second, burst and
 * sustained (each call may launch up to 10 tasks, so the 100-task burst needs batched calls).
 */
export const FARGATE_RUN_TASK_BUCKET: TokenBucketConfig = {
  service: "ecs",
  actions: [],
  burst: 20,
  ratePerSecond: 20,
};

/** Fargate On-Demand task launches: 100 burst, then 20 tasks per second. */
export const FARGATE_LAUNCH_BUCKET: TokenBucketConfig = {
  service: "ecs",
  actions: [],
  burst: 100,
  ratePerSecond: 20,
};

/** The simulated account: clients to hand to a runner, and the controls to script it. */
export interface SimulatedAws {
  readonly ecs: AwsClient;
  readonly logs: AwsClient;
  readonly ec2: AwsClient;
  /** The three clients, ready for `new EcsBatchRunner({ clients })`. */
  readonly clients: AwsClients;
  readonly clock: Clock;
  readonly region: string;
  readonly accountId: string;
  /** Every call received, in order, failed ones included. */
  readonly calls: readonly CallRecord[];
  /**
   * Task ARNs some ECS answer that reached its caller named (RunTask, DescribeTasks, ListTasks):
   * a task outside it, and no longer known to ECS, is one no caller could have learned of.
   */
  readonly answeredTaskArns: ReadonlySet<string>;
  /**
   * Those of `answeredTaskArns` that a RunTask or DescribeTasks answer showed with the task's
   * details (its tags among them): a task that only ListTasks named, and that ECS forgot before
   * any description, cannot be told apart from another run's task under the same name.
   */
  readonly describedTaskArns: ReadonlySet<string>;
  /** Calls of one action so far. */
  count(action: string): number;
  /** The recorded calls of one action. */
  callsTo(action: string): CallRecord[];
  /** The inputs of one action's calls, typed by the caller: `inputs<RunTaskCommandInput>("RunTask")`. */
  inputs<T = Readonly<Record<string, unknown>>>(action: string): T[];

  /** Scripts the tasks that match (later scripts win field by field); `times` limits how many tasks. */
  script(matcher: TaskMatcher, script: TaskScript, options?: { times?: number }): SimulatedAws;
  /** Makes matching tasks fail to launch: RunTask returns them in `failures[]` with `reason`. */
  failLaunch(matcher: TaskMatcher, reason?: string, options?: { times?: number }): SimulatedAws;
  /** Injects an error into matching calls; returns a function that removes the rule. */
  inject(fault: FaultRule): () => void;
  /** Rate-limits actions with a token bucket (`"aws"`: the published limits). */
  throttle(bucket: TokenBucketConfig | "aws"): SimulatedAws;
  /** Sets per-call latency. */
  setLatency(latency: LatencyConfig): SimulatedAws;

  createCluster(name: string): string;
  deleteCluster(name: string): void;
  registerTaskDefinition(input: RegisterTaskDefinitionCommandInput): TaskDefinition;
  /** Tasks ECS still knows, as DescribeTasks shows them (tags included). */
  tasks(): Task[];
  /** Every task ever started, with the context its script saw. */
  readonly taskHistory: readonly {
    taskArn: string;
    context: TaskContext;
    clientToken?: string;
    createdAt: number;
  }[];
  /** Log events of one stream. */
  logEvents(group: string, stream: string): readonly StoredLogEvent[];
  /** Writes log events, as a container would. */
  putLogEvents(
    group: string,
    stream: string,
    events: readonly { timestamp: number; message: string }[],
  ): void;
  /** Applies state changes that are due (every call does this first). */
  sync(): void;
  /** When the next task state change is due. */
  nextEventAt(): number | undefined;

  /** Assertions that throw with a readable message. */
  readonly assert: SimulatorAssertions;
}

/** Checks a test can make on the simulated account. */
export interface SimulatorAssertions {
  /** No task is left running or pending (nothing orphaned). */
  noUnfinishedTasks(): void;
  /** No two tasks share a `startedBy` and attempt (no duplicates from retried requests). */
  noDuplicateTasks(): void;
  /** Every DescribeTasks asked for at most 100 tasks. */
  describeTasksWithinLimit(): void;
}

/**
 * Creates a simulated AWS account.
 *
 * @example
 * const aws = createSimulatedAws();
 * aws.script({ taskIndex: 1, attempt: 1 }, { exitCode: 1 });
 * const runner = new EcsBatchRunner({ clients: aws.clients, clock: aws.clock });
 * const result = await (aws.clock as ManualClock).runUntil(runner.run(job));
 */
export function createSimulatedAws(options: SimulatedAwsOptions = {}): SimulatedAws {
  const clock = options.clock ?? new ManualClock();
  const region = options.region ?? "us-west-2";
  const accountId = options.accountId ?? "123456789012";
  const control = new CallControl(clock, seededRandom(options.seed ?? 1));
  if (options.latency !== undefined) control.setLatency(options.latency);
  const logs = new SimulatedLogs(() => clock.now());
  const limits = options.limits === "aws";
  const ecs = new SimulatedEcs(
    {
      region,
      accountId,
      clusters: options.clusters ?? ["default"],
      timing: { ...DEFAULT_TIMING, ...options.timing },
      stoppedTaskRetentionMs: options.stoppedTaskRetentionMs ?? 3_600_000,
      autoCreateLogGroups: options.autoCreateLogGroups ?? true,
      ...(limits
        ? {
            fargateLaunchBucket: FARGATE_LAUNCH_BUCKET,
            fargateRunTaskBucket: FARGATE_RUN_TASK_BUCKET,
          }
        : {}),
      ...(options.executor === undefined ? {} : { executor: options.executor }),
    },
    control,
    logs,
  );
  const ec2 = new SimulatedEc2([
    ...(options.defaultVpc === false ? [] : [defaultVpc(region)]),
    ...(options.vpcs ?? []),
  ]);
  if (limits) {
    for (const b of awsRateLimits(region)) control.addTokenBucket(b);
    control.addTokenBucket(FARGATE_LAUNCH_BUCKET);
    control.addTokenBucket(FARGATE_RUN_TASK_BUCKET);
  }
  const sync = (): void => ecs.sync();
  const clients: AwsClients = {
    ecs: control.client("ecs", ecs.handlers(), sync),
    logs: control.client("logs", logs.handlers(), sync),
    ec2: control.client("ec2", ec2.handlers(), sync),
  };
  const sim: SimulatedAws = {
    ...clients,
    clients,
    clock,
    region,
    accountId,
    calls: control.calls,
    answeredTaskArns: control.answeredTaskArns,
    describedTaskArns: control.describedTaskArns,
    count: (action) => control.count(action),
    callsTo: (action) => control.calls.filter((c) => c.action === action),
    inputs: <T>(action: string) =>
      control.calls.filter((c) => c.action === action).map((c) => c.input as T),
    script(matcher, script, opts) {
      ecs.script(matcher, script, opts?.times);
      return sim;
    },
    failLaunch(matcher, reason = "AGENT", opts) {
      ecs.script(matcher, { launchFailure: reason }, opts?.times);
      return sim;
    },
    inject: (fault) => control.addFault(fault),
    throttle(bucket) {
      if (bucket === "aws") {
        for (const b of awsRateLimits(region)) control.addTokenBucket(b);
      } else control.addTokenBucket(bucket);
      return sim;
    },
    setLatency(latency) {
      control.setLatency(latency);
      return sim;
    },
    createCluster: (name) => ecs.createCluster(name),
    deleteCluster: (name) => ecs.deleteCluster(name),
    registerTaskDefinition: (input) => ecs.registerTaskDefinition(input),
    tasks: () => ecs.tasks(),
    taskHistory: ecs.history,
    logEvents: (group, stream) => {
      sync();
      return logs.events(group, stream);
    },
    putLogEvents: (group, stream, events) => logs.append(group, stream, events),
    sync,
    nextEventAt: () => ecs.nextEventAt(),
    assert: {
      noUnfinishedTasks() {
        const open = ecs.tasks().filter((t) => t.lastStatus !== "STOPPED");
        if (open.length > 0) {
          throw new Error(
            `${open.length} task(s) not STOPPED: ${open
              .slice(0, 5)
              .map((t) => `${String(t.startedBy)} (${String(t.lastStatus)})`)
              .join(", ")}`,
          );
        }
      },
      noDuplicateTasks() {
        const seen = new Map<string, string>();
        for (const h of ecs.history) {
          const key = `${h.context.startedBy ?? h.taskArn}#${h.context.attempt}`;
          const prev = seen.get(key);
          if (prev !== undefined)
            throw new Error(`duplicate task for ${key}: ${prev} and ${h.taskArn}`);
          seen.set(key, h.taskArn);
        }
      },
      describeTasksWithinLimit() {
        const over = control.calls.find(
          (c) =>
            c.action === "DescribeTasks" &&
            ((c.input.tasks as unknown[] | undefined)?.length ?? 0) > 100,
        );
        if (over !== undefined)
          throw new Error(
            `DescribeTasks asked for ${(over.input.tasks as unknown[]).length} tasks`,
          );
      },
    },
  };
  return sim;
}

export {
  ManualClock,
  ClockStalledError,
  flushMicrotasks,
  type ManualClockOptions,
} from "./clock.js";
export { SimulatedServiceError, serviceError } from "./errors.js";
export { seededRandom } from "./control.js";
export type {
  CallRecord,
  FaultRule,
  LatencyConfig,
  TokenBucketConfig,
  ServiceName,
} from "./control.js";
export type { SimulatedVpc } from "./ec2.js";
export {
  DEFAULT_TIMING,
  scriptedExecutor,
  type ScriptedLogLine,
  type SimulatedContainer,
  type TaskContext,
  type TaskExecutor,
  type TaskHandle,
  type TaskMatcher,
  type TaskScheduler,
  type TaskScript,
  type TaskTiming,
} from "./ecs/index.js";
export type { StoredLogEvent } from "./logs.js";
