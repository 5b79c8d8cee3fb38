/**
 * The shapes of the simulated ECS: what tests script (`TaskScript`, `TaskMatcher`), what an
 * executor sees and may do (`TaskHandle`, `TaskScheduler`, `TaskExecutor`), and the internal
 * records of clusters and tasks the other modules share.
 */
import type { KeyValuePair, TaskDefinition, TaskOverride } from "@aws-sdk/client-ecs";
import type { TokenBucketConfig } from "../control.js";

/** How long each lifecycle phase takes for a scripted task, in clock milliseconds. */
export interface TaskTiming {
  /** PROVISIONING: ENI and capacity. */
  provisioningMs: number;
  /** PENDING: image pull and container start. */
  pendingMs: number;
  /** RUNNING: the containers' work. */
  runMs: number;
  /** DEPROVISIONING: ENI detach after the containers stopped. */
  deprovisioningMs: number;
  /** After StopTask, how long RUNNING containers take to exit on SIGTERM. */
  stopGraceMs: number;
}

/** A log line a scripted task writes. `atMs` counts from the moment it starts RUNNING. */
export type ScriptedLogLine = string | { message: string; atMs?: number; container?: string };

/** How a scripted task behaves. Every field is optional; the default is a clean success. */
export interface TaskScript {
  /** RunTask returns the task in `failures[]` with this reason (`AGENT`, `RESOURCE:MEMORY`, ...) and starts nothing. */
  launchFailure?: string | { reason: string; detail?: string };
  /** RunTask throws this error (a service error name, or an Error). */
  runTaskError?: string | Error;
  provisioningMs?: number;
  pendingMs?: number;
  runMs?: number;
  deprovisioningMs?: number;
  /** Exit code of every container (default 0). */
  exitCode?: number;
  /** Exit codes per container name; `null` means the container never exited. */
  exitCodes?: Readonly<Record<string, number | null>>;
  /** Container `reason` per container name (e.g. `OutOfMemoryError: Container killed due to memory usage`). */
  containerReasons?: Readonly<Record<string, string>>;
  /** The task never runs: it stops with `TaskFailedToStart` and this reason. */
  startFailure?: string | { stoppedReason: string; containerReason?: string };
  /** Fargate Spot reclaims the task `afterMs` into its run. */
  interrupted?: {
    afterMs?: number;
    stopCode?: "SpotInterruption" | "TerminationNotice";
    stoppedReason?: string;
  };
  /** Someone else stops the task `afterMs` into its run. */
  stoppedExternally?: {
    afterMs?: number;
    stopCode?: "UserInitiated" | "ServiceSchedulerInitiated";
    stoppedReason?: string;
  };
  /** ECS forgets the task `afterMs` after it was created: DescribeTasks reports it `MISSING`. */
  missingAfterMs?: number;
  /** Lines the task logs while RUNNING (to its awslogs streams). */
  logs?: readonly ScriptedLogLine[];
}

/** What a script matcher sees of a task. */
export interface TaskContext {
  /** From the `ecs-batch:task-index` tag or `TASK_NUM`; 0 when neither is set. */
  readonly taskIndex: number;
  /** From the `ecs-batch:attempt` tag or `TASK_ATTEMPT`; 1 when neither is set. */
  readonly attempt: number;
  readonly jobId?: string;
  readonly startedBy?: string;
  readonly family: string;
  readonly cluster: string;
  /** How many RunTask calls preceded this one. */
  readonly runTaskCall: number;
}

/** Which tasks a script applies to: fields that must all match, or a predicate. */
export type TaskMatcher =
  | { taskIndex?: number; attempt?: number; jobId?: string; family?: string; startedBy?: string }
  | ((context: TaskContext) => boolean);

/** A container of a simulated task, as an executor sees it. */
export interface SimulatedContainer {
  readonly name: string;
  readonly essential: boolean;
  readonly image: string;
  readonly entryPoint?: readonly string[];
  /** The command after overrides. */
  readonly command?: readonly string[];
  /** Environment after overrides (definition < override, by name). */
  readonly environment: readonly KeyValuePair[];
  /** `awslogs` destination, when the container logs there. */
  readonly log?: { group: string; stream: string; region?: string };
  /** Seconds between SIGTERM and SIGKILL on stop (definition `stopTimeout`, default 30). */
  readonly stopTimeoutSeconds: number;
}

/** What an executor may do with a task it runs. */
export interface TaskHandle {
  readonly taskArn: string;
  readonly taskId: string;
  readonly context: TaskContext;
  readonly containers: readonly SimulatedContainer[];
  readonly lastStatus: string;
  /** Moves the task to PENDING or RUNNING. */
  setStatus(status: "PENDING" | "RUNNING"): void;
  /** Records a container's exit. */
  containerExited(name: string, exitCode: number | null, reason?: string): void;
  /** Writes a log line for a container (to its awslogs stream, if it has one). */
  log(container: string, message: string, timestamp?: number): void;
  /** Stops the task: DEPROVISIONING now, STOPPED after the deprovisioning time. */
  finish(stop: { stopCode: string; stoppedReason: string }): void;
}

/** Schedules state changes of one task on the simulator's clock. */
export interface TaskScheduler {
  readonly now: () => number;
  /** Runs `fn` at `time`; cancelled if the task is stopped before then. */
  readonly at: (time: number, fn: () => void) => void;
}

/** Runs simulated tasks. The default one follows scripts; the local backend runs processes. */
export interface TaskExecutor {
  start(task: TaskHandle, script: TaskScript, timing: TaskTiming, scheduler: TaskScheduler): void;
  /** StopTask arrived for a task that has not finished. */
  stop(task: TaskHandle, reason: string, timing: TaskTiming, scheduler: TaskScheduler): void;
}

/** Options of the ECS part of the simulator. */
export interface SimulatedEcsOptions {
  region: string;
  accountId: string;
  clusters: readonly string[];
  timing: TaskTiming;
  /** Stopped tasks are forgotten this long after STOPPED (ECS keeps them about an hour). */
  stoppedTaskRetentionMs: number;
  /** Create awslogs groups on first write (default true). When false, a missing group makes the task fail to start, as on ECS. */
  autoCreateLogGroups: boolean;
  /** The Fargate task-launch bucket (tasks, not calls). */
  fargateLaunchBucket?: TokenBucketConfig;
  /** Fargate's own bucket for RunTask calls that launch Fargate tasks (calls, not tasks). */
  fargateRunTaskBucket?: TokenBucketConfig;
  executor?: TaskExecutor;
}

/** A task ever started, kept for assertions after ECS has forgotten it. */
export interface TaskHistoryEntry {
  taskArn: string;
  context: TaskContext;
  clientToken?: string;
  createdAt: number;
}

// ---- internal records ----------------------------------------------------------------------

export interface Cluster {
  readonly name: string;
  readonly arn: string;
  status: "ACTIVE" | "INACTIVE";
}

export interface SimContainerState extends SimulatedContainer {
  readonly arn: string;
  lastStatus: string;
  exitCode?: number | null;
  reason?: string;
}

export interface SimTask {
  readonly arn: string;
  readonly id: string;
  readonly cluster: Cluster;
  readonly definition: TaskDefinition;
  /** The RunTask request, frozen, with the launch type and capacity provider it resolved to. */
  readonly input: Record<string, unknown>;
  readonly context: TaskContext;
  readonly script: TaskScript;
  readonly containers: SimContainerState[];
  readonly createdAt: number;
  readonly cpu?: string;
  readonly memory?: string;
  lastStatus: string;
  desiredStatus: string;
  startedAt?: number;
  pullStartedAt?: number;
  pullStoppedAt?: number;
  stoppingAt?: number;
  executionStoppedAt?: number;
  stoppedAt?: number;
  stopCode?: string;
  stoppedReason?: string;
  version: number;
  /** Bumped by StopTask so the script's remaining events no longer apply. */
  generation: number;
  finished: boolean;
}

/** A RunTask request that passed validation: where its tasks go and how they launch. */
export interface LaunchRequest {
  readonly cluster: Cluster;
  readonly definition: TaskDefinition;
  readonly input: Record<string, unknown>;
  /** `input`, serialised once: the idempotency hash and each task's own copy come from it. */
  readonly json: string;
  readonly overrides: TaskOverride;
  readonly launchType: string | undefined;
  readonly capacityProvider: string | undefined;
  /** Launched on Fargate (by launch type or capacity provider): Fargate's buckets apply. */
  readonly fargate: boolean;
  /** Task size after overrides. */
  readonly cpu: string | undefined;
  readonly memory: string | undefined;
}
