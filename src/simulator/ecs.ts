/**
 * Simulated ECS: clusters, task definitions and tasks with their real lifecycle
 * (PROVISIONING → PENDING → RUNNING → DEPROVISIONING → STOPPED), the validation RunTask does,
 * `clientToken` idempotency, `failures[]`, DescribeTasks' 100-ARN limit and `MISSING`, ListTasks
 * paging, StopTask, and stopped tasks forgotten after a retention period.
 *
 * State changes are events in a time-ordered queue, applied lazily whenever a call arrives, so
 * ten thousand tasks cost nothing while nobody looks. Tasks are driven by an executor: the
 * scripted one (outcomes decided by test scripts) or the local one (real child processes).
 */
import { createHash } from "node:crypto";
import type {
  Container,
  ContainerDefinition,
  KeyValuePair,
  RegisterTaskDefinitionCommandInput,
  Task,
  TaskDefinition,
  TaskOverride,
} from "@aws-sdk/client-ecs";
import { isValidFargateSize, parseCpu, parseMemory } from "../job/fargate.js";
import type { ActionHandler, CallControl, TokenBucketConfig } from "./control.js";
import { serviceError } from "./errors.js";
import { MinHeap } from "./heap.js";
import type { SimulatedLogs } from "./logs.js";

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

export const DEFAULT_TIMING: TaskTiming = {
  provisioningMs: 2000,
  pendingMs: 3000,
  runMs: 10_000,
  deprovisioningMs: 2000,
  stopGraceMs: 1000,
};

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

interface Cluster {
  readonly name: string;
  readonly arn: string;
  status: "ACTIVE" | "INACTIVE";
}

interface SimContainerState extends SimulatedContainer {
  readonly arn: string;
  lastStatus: string;
  exitCode?: number | null;
  reason?: string;
}

interface SimTask {
  readonly arn: string;
  readonly id: string;
  readonly cluster: Cluster;
  readonly definition: TaskDefinition;
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

interface QueuedEvent {
  at: number;
  seq: number;
  task?: SimTask;
  generation: number;
  apply: () => void;
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

const TOKEN_TTL_MS = 24 * 3_600_000;

/** The simulated ECS service. */
export class SimulatedEcs {
  readonly #opts: SimulatedEcsOptions;
  readonly #control: CallControl;
  readonly #logs: SimulatedLogs;
  readonly #clusters = new Map<string, Cluster>();
  readonly #families = new Map<string, TaskDefinition[]>();
  readonly #definitionTags = new Map<string, { key: string; value: string }[]>();
  readonly #tasks = new Map<string, SimTask>();
  readonly #tokens = new Map<
    string,
    { at: number; hash: string; taskArns: string[]; failures: unknown[] }
  >();
  readonly #queue = new MinHeap<QueuedEvent>((a, b) => a.at - b.at || a.seq - b.seq);
  readonly #scripts: { matcher: TaskMatcher; script: TaskScript; times: number; used: number }[] =
    [];
  #seq = 0;
  #runTaskCalls = 0;
  #taskSeq = 0;
  /** Every task ever started, including forgotten ones, for assertions. */
  readonly history: {
    taskArn: string;
    context: TaskContext;
    clientToken?: string;
    createdAt: number;
  }[] = [];

  constructor(options: SimulatedEcsOptions, control: CallControl, logs: SimulatedLogs) {
    this.#opts = options;
    this.#control = control;
    this.#logs = logs;
    for (const c of options.clusters) this.createCluster(c);
  }

  /** While a queued change is applied, "now" is the time it was due, so its effects carry that time. */
  #applyingAt: number | undefined;

  get #now(): number {
    return this.#applyingAt ?? this.#control.clock.now();
  }

  // ---- control API -------------------------------------------------------------------------

  /** Creates (or reactivates) a cluster. */
  createCluster(name: string): string {
    const arn = `arn:aws:ecs:${this.#opts.region}:${this.#opts.accountId}:cluster/${name}`;
    this.#clusters.set(name, { name, arn, status: "ACTIVE" });
    return arn;
  }

  /** Deletes a cluster (it becomes INACTIVE, as on ECS). */
  deleteCluster(name: string): void {
    const c = this.#clusters.get(name);
    if (c !== undefined) c.status = "INACTIVE";
  }

  /** Adds a script for tasks that match; later scripts win field by field. `times` limits how many tasks it applies to. */
  script(matcher: TaskMatcher, script: TaskScript, times = Number.POSITIVE_INFINITY): void {
    this.#scripts.push({ matcher, script, times, used: 0 });
  }

  /** Applies every queued state change that is due. Called before each API call. */
  sync(): void {
    if (this.#applyingAt !== undefined) return;
    const now = this.#control.clock.now();
    for (;;) {
      const next = this.#queue.peek();
      if (next === undefined || next.at > now) break;
      this.#queue.pop();
      if (next.task !== undefined && next.generation !== next.task.generation) continue;
      this.#applyingAt = next.at;
      try {
        next.apply();
      } finally {
        this.#applyingAt = undefined;
      }
    }
  }

  /** Current tasks (not yet forgotten), as DescribeTasks would show them. */
  tasks(): Task[] {
    this.sync();
    return [...this.#tasks.values()].map((t) => this.#taskOutput(t, true));
  }

  /** When the next queued state change is due, if any (the local backend sleeps until then). */
  nextEventAt(): number | undefined {
    return this.#queue.peek()?.at;
  }

  // ---- API ---------------------------------------------------------------------------------

  handlers(): Record<string, ActionHandler> {
    return {
      DescribeClusters: (input) => this.#describeClusters(input),
      RegisterTaskDefinition: (input) => ({
        taskDefinition: this.registerTaskDefinition(
          input as unknown as RegisterTaskDefinitionCommandInput,
        ),
      }),
      DescribeTaskDefinition: (input) => this.#describeTaskDefinition(input),
      DeregisterTaskDefinition: (input) => {
        const def = this.#findDefinition(String(input.taskDefinition));
        if (def === undefined)
          throw serviceError("ClientException", "The specified task definition does not exist.");
        const inactive = deepFreeze({
          ...def,
          status: "INACTIVE" as const,
          deregisteredAt: new Date(this.#now),
        });
        const revisions = this.#families.get(def.family as string) ?? [];
        revisions[revisions.indexOf(def)] = inactive;
        return { taskDefinition: inactive };
      },
      ListTaskDefinitions: (input) => this.#listTaskDefinitions(input),
      RunTask: (input) => this.#runTask(input),
      DescribeTasks: (input) => this.#describeTasks(input),
      StopTask: (input) => this.#stopTask(input),
      ListTasks: (input) => this.#listTasks(input),
    };
  }

  #cluster(ref: unknown): Cluster {
    const name =
      typeof ref === "string" && ref !== ""
        ? ref.startsWith("arn:")
          ? (ref.split("/").pop() ?? ref)
          : ref
        : "default";
    const c = this.#clusters.get(name);
    if (c === undefined || c.status !== "ACTIVE")
      throw serviceError("ClusterNotFoundException", "Cluster not found.");
    return c;
  }

  #describeClusters(input: Record<string, unknown>): Record<string, unknown> {
    const refs = (input.clusters as string[] | undefined) ?? ["default"];
    const clusters: unknown[] = [];
    const failures: unknown[] = [];
    for (const ref of refs) {
      const name = ref.startsWith("arn:") ? (ref.split("/").pop() ?? ref) : ref;
      const c = this.#clusters.get(name);
      if (c === undefined) {
        failures.push({
          arn: `arn:aws:ecs:${this.#opts.region}:${this.#opts.accountId}:cluster/${name}`,
          reason: "MISSING",
        });
        continue;
      }
      const tasks = [...this.#tasks.values()].filter((t) => t.cluster === c);
      clusters.push({
        clusterArn: c.arn,
        clusterName: c.name,
        status: c.status,
        runningTasksCount: tasks.filter((t) => t.lastStatus === "RUNNING").length,
        pendingTasksCount: tasks.filter(
          (t) => t.lastStatus === "PENDING" || t.lastStatus === "PROVISIONING",
        ).length,
        activeServicesCount: 0,
        registeredContainerInstancesCount: 0,
        capacityProviders: ["FARGATE", "FARGATE_SPOT"],
      });
    }
    return { clusters, failures };
  }

  /** Registers a task definition revision; also used by tests to seed definitions. */
  registerTaskDefinition(input: RegisterTaskDefinitionCommandInput): TaskDefinition {
    const family = input.family;
    if (typeof family !== "string" || family === "") {
      throw serviceError("ClientException", "Family can not be blank.");
    }
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(family)) {
      throw serviceError("ClientException", "Family contains invalid characters.");
    }
    const containers = input.containerDefinitions ?? [];
    if (containers.length === 0)
      throw serviceError("ClientException", "Container list cannot be empty.");
    for (const c of containers) {
      if (c.name === undefined || c.image === undefined)
        throw serviceError(
          "ClientException",
          "Container.name and Container.image should not be null or empty.",
        );
    }
    const fargate = input.requiresCompatibilities?.includes("FARGATE") === true;
    if (fargate) {
      if (input.networkMode !== "awsvpc")
        throw serviceError("ClientException", "Fargate only supports network mode 'awsvpc'.");
      const cpu = input.cpu === undefined ? undefined : parseCpu(input.cpu);
      const memory = input.memory === undefined ? undefined : parseMemory(input.memory);
      if (cpu === undefined || memory === undefined) {
        throw serviceError(
          "ClientException",
          "Fargate requires that 'cpu' and 'memory' be defined at the task level.",
        );
      }
      if (!isValidFargateSize(cpu, memory)) {
        throw serviceError(
          "ClientException",
          `No Fargate configuration exists for given values: ${cpu} CPU, ${memory} memory. See the Amazon ECS documentation for the valid values.`,
        );
      }
    }
    const revisions = this.#families.get(family) ?? [];
    const revision = revisions.length + 1;
    const { tags, ...rest } = input;
    const def: TaskDefinition = {
      ...structuredClone(rest),
      taskDefinitionArn: `arn:aws:ecs:${this.#opts.region}:${this.#opts.accountId}:task-definition/${family}:${revision}`,
      revision,
      status: "ACTIVE",
      networkMode: input.networkMode ?? "bridge",
      volumes: input.volumes ?? [],
      placementConstraints: input.placementConstraints ?? [],
      compatibilities: ["EC2", ...(input.networkMode === "awsvpc" ? ["FARGATE" as const] : [])],
      requiresAttributes: [{ name: "com.amazonaws.ecs.capability.docker-remote-api.1.18" }],
      registeredAt: new Date(this.#now),
      registeredBy: `arn:aws:iam::${this.#opts.accountId}:user/simulator`,
      containerDefinitions: containers.map((c) => ({
        cpu: 0,
        portMappings: [],
        essential: true,
        environment: [],
        mountPoints: [],
        volumesFrom: [],
        ...structuredClone(c),
      })),
      // Untyped callers send numbers; ECS stores and returns strings.
      /* eslint-disable @typescript-eslint/no-unnecessary-type-conversion */
      ...(input.cpu === undefined ? {} : { cpu: String(input.cpu) }),
      ...(input.memory === undefined ? {} : { memory: String(input.memory) }),
      /* eslint-enable @typescript-eslint/no-unnecessary-type-conversion */
    };
    deepFreeze(def);
    revisions.push(def);
    this.#families.set(family, revisions);
    if (tags !== undefined)
      this.#definitionTags.set(
        def.taskDefinitionArn as string,
        tags.map((t) => ({ key: t.key ?? "", value: t.value ?? "" })),
      );
    return def;
  }

  /** An ARN, `family`, or `family:revision` to its definition (a family means its latest ACTIVE revision). */
  #findDefinition(ref: string): TaskDefinition | undefined {
    const m =
      /^(?:arn:aws[a-z-]*:ecs:[^:]+:\d+:task-definition\/)?([A-Za-z0-9_-]+)(?::(\d+))?$/.exec(ref);
    if (m === null) return undefined;
    const revisions = this.#families.get(m[1] as string);
    if (revisions === undefined) return undefined;
    if (m[2] !== undefined) return revisions[Number(m[2]) - 1];
    return [...revisions].reverse().find((d) => d.status === "ACTIVE");
  }

  #describeTaskDefinition(input: Record<string, unknown>): Record<string, unknown> {
    const def = this.#findDefinition(String(input.taskDefinition));
    if (def === undefined)
      throw serviceError("ClientException", "Unable to describe task definition.");
    const include = input.include as string[] | undefined;
    return {
      taskDefinition: def,
      ...(include?.includes("TAGS") === true
        ? { tags: this.#definitionTags.get(def.taskDefinitionArn as string) ?? [] }
        : {}),
    };
  }

  #listTaskDefinitions(input: Record<string, unknown>): Record<string, unknown> {
    const prefix = typeof input.familyPrefix === "string" ? input.familyPrefix : undefined;
    const status = typeof input.status === "string" ? input.status : "ACTIVE";
    let arns = [...this.#families.entries()]
      .filter(([f]) => prefix === undefined || f === prefix)
      .flatMap(([, revs]) =>
        revs
          .filter((d) => status === "ALL" || d.status === status)
          .map((d) => d.taskDefinitionArn as string),
      );
    if (input.sort === "DESC") arns = arns.reverse();
    return paginate(arns, input, "taskDefinitionArns");
  }

  // ---- tasks -------------------------------------------------------------------------------

  #runTask(input: Record<string, unknown>): Record<string, unknown> {
    const cluster = this.#cluster(input.cluster);
    const count = input.count === undefined ? 1 : Number(input.count);
    if (!Number.isInteger(count) || count < 1 || count > 10) {
      throw serviceError("InvalidParameterException", "count must be between 1 and 10.");
    }
    // Serialised once: the idempotency hash and the task's private copy both come from it.
    const json = JSON.stringify(input);
    const token = typeof input.clientToken === "string" ? input.clientToken : undefined;
    if (token !== undefined) {
      if (token.length > 64)
        throw serviceError(
          "InvalidParameterException",
          "clientToken must be at most 64 characters.",
        );
      const known = this.#tokens.get(`${cluster.arn}|${token}`);
      if (known !== undefined && this.#now - known.at < TOKEN_TTL_MS) {
        if (known.hash !== hashJson(json)) {
          throw serviceError(
            "ConflictException",
            "The specified client token has already been used in a request with different parameters.",
            { resourceIds: known.taskArns },
          );
        }
        // The same request again: the tasks it already started, not new ones.
        return {
          tasks: known.taskArns.flatMap((arn) => {
            const t = this.#tasks.get(arn);
            return t === undefined ? [] : [this.#taskOutput(t, true)];
          }),
          failures: known.failures,
        };
      }
    }
    const def = this.#findDefinition(String(input.taskDefinition));
    if (def === undefined) throw serviceError("ClientException", "TaskDefinition not found.");
    if (def.status !== "ACTIVE")
      throw serviceError("ClientException", "TaskDefinition is inactive");
    const startedBy = typeof input.startedBy === "string" ? input.startedBy : undefined;
    if (
      startedBy !== undefined &&
      (startedBy.length > 128 || !/^[A-Za-z0-9_/-]+$/.test(startedBy))
    ) {
      throw serviceError(
        "InvalidParameterException",
        "startedBy must be up to 128 letters, numbers, hyphens, forward slashes and underscores.",
      );
    }
    const capacity = input.capacityProviderStrategy as { capacityProvider?: string }[] | undefined;
    if (input.launchType !== undefined && capacity !== undefined) {
      throw serviceError(
        "InvalidParameterException",
        "Specifying both a launch type and capacity provider strategy is not supported.",
      );
    }
    const launchType =
      (input.launchType as string | undefined) ?? (capacity === undefined ? "EC2" : undefined);
    const capacityProvider = capacity?.[0]?.capacityProvider;
    const fargate = launchType === "FARGATE" || capacityProvider?.startsWith("FARGATE") === true;
    if (def.networkMode === "awsvpc") {
      const subnets = (
        input.networkConfiguration as { awsvpcConfiguration?: { subnets?: string[] } } | undefined
      )?.awsvpcConfiguration?.subnets;
      if (subnets === undefined || subnets.length === 0) {
        throw serviceError(
          "InvalidParameterException",
          "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        );
      }
    }
    const overrides = (input.overrides ?? {}) as TaskOverride;
    if (JSON.stringify(overrides).length > 8192) {
      throw serviceError(
        "InvalidParameterException",
        "Container Overrides length must be at most 8192",
      );
    }
    const containerDefs = def.containerDefinitions ?? [];
    for (const o of overrides.containerOverrides ?? []) {
      if (!containerDefs.some((c) => c.name === o.name)) {
        throw serviceError(
          "InvalidParameterException",
          `Override for container named ${String(o.name)} is not a container in the TaskDefinition.`,
        );
      }
    }
    const cpu = overrides.cpu ?? def.cpu;
    const memory = overrides.memory ?? def.memory;
    if (fargate) {
      if (def.compatibilities?.includes("FARGATE") !== true) {
        throw serviceError(
          "InvalidParameterException",
          "Task definition does not support launch_type FARGATE.",
        );
      }
      const c = cpu === undefined ? undefined : parseCpu(cpu);
      const m = memory === undefined ? undefined : parseMemory(memory);
      if (c === undefined || m === undefined || !isValidFargateSize(c, m)) {
        throw serviceError(
          "ClientException",
          `No Fargate configuration exists for given values: ${String(cpu)} CPU, ${String(memory)} memory.`,
        );
      }
    }
    const tags = (input.tags ?? []) as { key?: string; value?: string }[];
    if (tags.length > 50)
      throw serviceError("InvalidParameterException", "Too many tags: a task can have at most 50.");

    if (
      fargate &&
      this.#opts.fargateRunTaskBucket !== undefined &&
      !this.#control.takeTokens(this.#opts.fargateRunTaskBucket, 1)
    ) {
      throw serviceError("ThrottlingException", "Rate exceeded");
    }
    const callIndex = this.#runTaskCalls++;
    const tasks: Task[] = [];
    const failures: unknown[] = [];
    for (let i = 0; i < count; i++) {
      const context = taskContext(input, def, cluster.name, callIndex);
      const script = this.#scriptFor(context);
      if (script.runTaskError !== undefined) {
        throw typeof script.runTaskError === "string"
          ? serviceError(script.runTaskError, defaultErrorMessage(script.runTaskError))
          : script.runTaskError;
      }
      if (script.launchFailure !== undefined) {
        const f =
          typeof script.launchFailure === "string"
            ? { reason: script.launchFailure }
            : script.launchFailure;
        failures.push({
          arn: `arn:aws:ecs:${this.#opts.region}:${this.#opts.accountId}:container-instance/${cluster.name}/${hex(++this.#taskSeq, 32)}`,
          reason: f.reason,
          ...(f.detail === undefined ? {} : { detail: f.detail }),
        });
        continue;
      }
      if (
        fargate &&
        this.#opts.fargateLaunchBucket !== undefined &&
        !this.#control.takeTokens(this.#opts.fargateLaunchBucket, 1)
      ) {
        if (tasks.length === 0) throw serviceError("ThrottlingException", "Rate exceeded");
        failures.push({ reason: "Rate exceeded" });
        continue;
      }
      const task = this.#createTask({
        cluster,
        def,
        input,
        json,
        overrides,
        context,
        script,
        launchType,
        capacityProvider,
        cpu,
        memory,
      });
      tasks.push(this.#taskOutput(task, true));
    }
    if (token !== undefined) {
      this.#tokens.set(`${cluster.arn}|${token}`, {
        at: this.#now,
        hash: hashJson(json),
        taskArns: tasks.map((t) => t.taskArn as string),
        failures,
      });
    }
    return { tasks, failures };
  }

  #scriptFor(context: TaskContext): TaskScript {
    let script: TaskScript = {};
    for (const entry of this.#scripts) {
      if (entry.used >= entry.times || !matches(entry.matcher, context)) continue;
      entry.used++;
      script = { ...script, ...entry.script };
    }
    return script;
  }

  #createTask({
    cluster,
    def,
    input,
    json,
    overrides,
    context,
    script,
    launchType,
    capacityProvider,
    cpu,
    memory,
  }: {
    cluster: Cluster;
    def: TaskDefinition;
    input: Record<string, unknown>;
    /** `input`, serialised. */
    json: string;
    overrides: TaskOverride;
    context: TaskContext;
    script: TaskScript;
    launchType: string | undefined;
    capacityProvider: string | undefined;
    cpu: string | undefined;
    memory: string | undefined;
  }): SimTask {
    const id = hex(++this.#taskSeq, 32);
    const arn = `arn:aws:ecs:${this.#opts.region}:${this.#opts.accountId}:task/${cluster.name}/${id}`;
    const task: SimTask = {
      arn,
      id,
      cluster,
      definition: def,
      input: deepFreeze({
        ...(JSON.parse(json) as Record<string, unknown>),
        launchType,
        capacityProviderName: capacityProvider,
      }),
      context,
      script,
      createdAt: this.#now,
      ...(cpu === undefined ? {} : { cpu }),
      ...(memory === undefined ? {} : { memory }),
      containers: (def.containerDefinitions ?? []).map((c) =>
        this.#container(c, overrides, id, cluster.name),
      ),
      lastStatus: "PROVISIONING",
      desiredStatus: "RUNNING",
      version: 1,
      generation: 0,
      finished: false,
    };
    this.#tasks.set(arn, task);
    this.history.push({
      taskArn: arn,
      context,
      createdAt: this.#now,
      ...(typeof input.clientToken === "string" ? { clientToken: input.clientToken } : {}),
    });
    const handle = this.#handle(task);
    const scheduler = this.#scheduler(task);
    const missing = script.missingAfterMs;
    if (missing !== undefined) {
      this.#queue.push({
        at: this.#now + missing,
        seq: this.#seq++,
        generation: 0,
        apply: () => this.#tasks.delete(arn),
      });
    }
    if (!this.#opts.autoCreateLogGroups) {
      const lacking = task.containers.find(
        (c) => c.log !== undefined && !this.#logs.hasGroup(c.log.group),
      );
      if (lacking?.log !== undefined) {
        const reason = `ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1`;
        scriptedExecutor.start(
          handle,
          { ...script, startFailure: { stoppedReason: reason } },
          this.#timing(script),
          scheduler,
        );
        return task;
      }
    }
    (this.#opts.executor ?? scriptedExecutor).start(
      handle,
      script,
      this.#timing(script),
      scheduler,
    );
    return task;
  }

  #timing(script: TaskScript): TaskTiming {
    const t = this.#opts.timing;
    return {
      provisioningMs: script.provisioningMs ?? t.provisioningMs,
      pendingMs: script.pendingMs ?? t.pendingMs,
      runMs: script.runMs ?? t.runMs,
      deprovisioningMs: script.deprovisioningMs ?? t.deprovisioningMs,
      stopGraceMs: t.stopGraceMs,
    };
  }

  #container(
    c: ContainerDefinition,
    overrides: TaskOverride,
    taskId: string,
    clusterName: string,
  ): SimContainerState {
    const o = overrides.containerOverrides?.find((x) => x.name === c.name);
    const env = new Map<string, string>();
    for (const e of c.environment ?? []) if (e.name !== undefined) env.set(e.name, e.value ?? "");
    for (const e of o?.environment ?? []) if (e.name !== undefined) env.set(e.name, e.value ?? "");
    const opts =
      c.logConfiguration?.logDriver === "awslogs" ? c.logConfiguration.options : undefined;
    const group = opts?.["awslogs-group"];
    const prefix = opts?.["awslogs-stream-prefix"];
    const region = opts?.["awslogs-region"];
    const name = c.name as string;
    const command = o?.command ?? c.command;
    return {
      name,
      arn: `arn:aws:ecs:${this.#opts.region}:${this.#opts.accountId}:container/${clusterName}/${taskId}/${hex(++this.#taskSeq, 36)}`,
      essential: c.essential !== false,
      image: c.image as string,
      ...(c.entryPoint === undefined ? {} : { entryPoint: [...c.entryPoint] }),
      ...(command === undefined ? {} : { command: [...command] }),
      environment: [...env].map(([n, value]) => ({ name: n, value })),
      ...(group === undefined
        ? {}
        : {
            log: {
              group,
              stream: prefix === undefined ? `${name}/${taskId}` : `${prefix}/${name}/${taskId}`,
              ...(region === undefined ? {} : { region }),
            },
          }),
      stopTimeoutSeconds: c.stopTimeout ?? 30,
      lastStatus: "PENDING",
    };
  }

  /** A scheduler whose events are dropped once the task is stopped (its generation moves on). */
  #scheduler(task: SimTask): TaskScheduler {
    return {
      now: () => this.#now,
      at: (time, apply) => {
        this.#queue.push({
          at: Math.max(time, this.#now),
          seq: this.#seq++,
          task,
          generation: task.generation,
          apply,
        });
      },
    };
  }

  #handle(task: SimTask): TaskHandle {
    const now = (): number => this.#now;
    const touch = (): void => {
      task.version++;
    };
    return {
      taskArn: task.arn,
      taskId: task.id,
      context: task.context,
      containers: task.containers,
      get lastStatus() {
        return task.lastStatus;
      },
      setStatus: (status) => {
        if (task.finished) return;
        task.lastStatus = status;
        if (status === "PENDING") task.pullStartedAt = now();
        if (status === "RUNNING") {
          task.pullStoppedAt = now();
          task.startedAt = now();
          for (const c of task.containers) c.lastStatus = "RUNNING";
        }
        touch();
      },
      containerExited: (name, exitCode, reason) => {
        const c = task.containers.find((x) => x.name === name);
        if (c === undefined) return;
        c.lastStatus = "STOPPED";
        c.exitCode = exitCode;
        if (reason !== undefined) c.reason = reason;
        touch();
      },
      log: (container, message, timestamp) => {
        const c = task.containers.find((x) => x.name === container);
        if (c?.log === undefined) return;
        this.#logs.append(
          c.log.group,
          c.log.stream,
          [{ timestamp: timestamp ?? now(), message }],
          this.#opts.autoCreateLogGroups,
        );
      },
      finish: ({ stopCode, stoppedReason }) => {
        if (task.finished) return;
        task.finished = true;
        task.stopCode ??= stopCode;
        task.stoppedReason ??= stoppedReason;
        task.desiredStatus = "STOPPED";
        task.stoppingAt ??= now();
        task.executionStoppedAt = now();
        for (const c of task.containers) if (c.lastStatus !== "STOPPED") c.lastStatus = "STOPPED";
        task.lastStatus = "DEPROVISIONING";
        touch();
        const stoppedAt = now() + this.#timing(task.script).deprovisioningMs;
        // Not tied to a generation: once deprovisioning starts, the task reaches STOPPED.
        this.#queue.push({
          at: stoppedAt,
          seq: this.#seq++,
          generation: 0,
          apply: () => {
            task.lastStatus = "STOPPED";
            task.stoppedAt = this.#now;
            touch();
            this.#queue.push({
              at: this.#now + this.#opts.stoppedTaskRetentionMs,
              seq: this.#seq++,
              generation: 0,
              apply: () => this.#tasks.delete(task.arn),
            });
          },
        });
      },
    };
  }

  #findTask(ref: string, cluster: Cluster): SimTask | undefined {
    if (ref.startsWith("arn:")) return this.#tasks.get(ref);
    return this.#tasks.get(
      `arn:aws:ecs:${this.#opts.region}:${this.#opts.accountId}:task/${cluster.name}/${ref}`,
    );
  }

  #describeTasks(input: Record<string, unknown>): Record<string, unknown> {
    const cluster = this.#cluster(input.cluster);
    const refs = input.tasks as string[] | undefined;
    if (refs === undefined || refs.length === 0)
      throw serviceError("InvalidParameterException", "Tasks cannot be empty.");
    if (refs.length > 100)
      throw serviceError("InvalidParameterException", "Tasks cannot have more than 100 elements.");
    const withTags = (input.include as string[] | undefined)?.includes("TAGS") === true;
    const tasks: Task[] = [];
    const failures: unknown[] = [];
    for (const ref of refs) {
      const t = this.#findTask(ref, cluster);
      if (t === undefined || t.cluster !== cluster) failures.push({ arn: ref, reason: "MISSING" });
      else tasks.push(this.#taskOutput(t, withTags));
    }
    return { tasks, failures };
  }

  #stopTask(input: Record<string, unknown>): Record<string, unknown> {
    const cluster = this.#cluster(input.cluster);
    const ref = typeof input.task === "string" ? input.task : "";
    const reason = typeof input.reason === "string" ? input.reason : undefined;
    if (reason !== undefined && reason.length > 255) {
      throw serviceError("InvalidParameterException", "Reason must be at most 255 characters.");
    }
    if (!/^(arn:aws[a-z-]*:ecs:[^:]+:\d+:task\/[A-Za-z0-9_-]+\/)?[A-Za-z0-9-]+$/.test(ref)) {
      throw serviceError("InvalidParameterException", "Task Identifier is invalid");
    }
    const task = this.#findTask(ref, cluster);
    if (task === undefined) {
      throw serviceError("InvalidParameterException", "The referenced task was not found");
    }
    if (!task.finished && task.desiredStatus !== "STOPPED") {
      task.desiredStatus = "STOPPED";
      task.stoppingAt = this.#now;
      task.stopCode = "UserInitiated";
      task.stoppedReason = reason ?? "Task stopped by user";
      task.version++;
      task.generation++;
      (this.#opts.executor ?? scriptedExecutor).stop(
        this.#handle(task),
        task.stoppedReason,
        this.#timing(task.script),
        this.#scheduler(task),
      );
    }
    return { task: this.#taskOutput(task, false) };
  }

  #listTasks(input: Record<string, unknown>): Record<string, unknown> {
    const cluster = this.#cluster(input.cluster);
    const desired = typeof input.desiredStatus === "string" ? input.desiredStatus : "RUNNING";
    const startedBy = typeof input.startedBy === "string" ? input.startedBy : undefined;
    const family = typeof input.family === "string" ? input.family : undefined;
    const otherFilter = family ?? input.serviceName ?? input.containerInstance;
    if (startedBy !== undefined && otherFilter !== undefined) {
      throw serviceError(
        "InvalidParameterException",
        "startedBy must be the only filter when it is given.",
      );
    }
    // No task ever has a desired status of PENDING, so that filter matches nothing.
    if (desired === "PENDING") return { taskArns: [] };
    const arns = [...this.#tasks.values()]
      .filter(
        (t) =>
          t.cluster === cluster &&
          (desired === "STOPPED" ? t.desiredStatus === "STOPPED" : t.desiredStatus === "RUNNING") &&
          (startedBy === undefined || t.input.startedBy === startedBy) &&
          (family === undefined || t.definition.family === family),
      )
      .map((t) => t.arn);
    return paginate(arns, input, "taskArns");
  }

  /** The task as the API shows it. Built by assignment: at 10,000 tasks, spreads cost real time. */
  #taskOutput(t: SimTask, withTags: boolean): Task {
    const containers: Container[] = t.containers.map((c) => {
      const out: Container = {
        containerArn: c.arn,
        taskArn: t.arn,
        name: c.name,
        image: c.image,
        lastStatus: c.lastStatus,
        cpu: "0",
      };
      if (c.exitCode !== undefined && c.exitCode !== null) out.exitCode = c.exitCode;
      if (c.reason !== undefined) out.reason = c.reason;
      return out;
    });
    const input = t.input;
    const task: Task = {
      taskArn: t.arn,
      clusterArn: t.cluster.arn,
      taskDefinitionArn: t.definition.taskDefinitionArn,
      lastStatus: t.lastStatus,
      desiredStatus: t.desiredStatus,
      group:
        typeof input.group === "string" ? input.group : `family:${String(t.definition.family)}`,
      platformVersion: "1.4.0",
      platformFamily: "Linux",
      availabilityZone: `${this.#opts.region}a`,
      containers,
      overrides: input.overrides ?? EMPTY_OVERRIDES,
      version: t.version,
      createdAt: new Date(t.createdAt),
      enableExecuteCommand: false,
    };
    if (typeof input.startedBy === "string") task.startedBy = input.startedBy;
    if (typeof input.launchType === "string")
      task.launchType = input.launchType as Task["launchType"];
    if (typeof input.capacityProviderName === "string")
      task.capacityProviderName = input.capacityProviderName;
    if (t.cpu !== undefined) task.cpu = t.cpu;
    if (t.memory !== undefined) task.memory = t.memory;
    if (t.pullStartedAt !== undefined) task.pullStartedAt = new Date(t.pullStartedAt);
    if (t.pullStoppedAt !== undefined) task.pullStoppedAt = new Date(t.pullStoppedAt);
    if (t.startedAt !== undefined) task.startedAt = new Date(t.startedAt);
    if (t.stoppingAt !== undefined) task.stoppingAt = new Date(t.stoppingAt);
    if (t.executionStoppedAt !== undefined)
      task.executionStoppedAt = new Date(t.executionStoppedAt);
    if (t.stoppedAt !== undefined) task.stoppedAt = new Date(t.stoppedAt);
    if (t.stopCode !== undefined) task.stopCode = t.stopCode as Task["stopCode"];
    if (t.stoppedReason !== undefined) task.stoppedReason = t.stoppedReason;
    if (withTags) task.tags = (input.tags ?? []) as Task["tags"];
    return task;
  }
}

const EMPTY_OVERRIDES: TaskOverride = Object.freeze({ containerOverrides: [] });

/** The default executor: follows the task's script through the lifecycle. */
export const scriptedExecutor: TaskExecutor = {
  start(task, script, timing, { now, at }) {
    const pendingAt = now() + timing.provisioningMs;
    at(pendingAt, () => task.setStatus("PENDING"));
    const startAt = pendingAt + timing.pendingMs;
    if (script.startFailure !== undefined) {
      const f =
        typeof script.startFailure === "string"
          ? { stoppedReason: script.startFailure }
          : script.startFailure;
      at(startAt, () => {
        for (const c of task.containers)
          if (c.essential) task.containerExited(c.name, null, f.containerReason ?? f.stoppedReason);
        task.finish({ stopCode: "TaskFailedToStart", stoppedReason: f.stoppedReason });
      });
      return;
    }
    at(startAt, () => task.setStatus("RUNNING"));
    const endAt = startAt + timing.runMs;
    const firstContainer =
      task.containers.find((c) => c.essential)?.name ?? task.containers[0]?.name ?? "";
    (script.logs ?? []).forEach((line, i) => {
      const l = typeof line === "string" ? { message: line } : line;
      // Lines without a time are a millisecond apart, in order, within the run.
      const offset = Math.min(l.atMs ?? i, Math.max(0, timing.runMs - 1));
      at(startAt + offset, () =>
        task.log(l.container ?? firstContainer, l.message, startAt + offset),
      );
    });
    const interruption = script.interrupted ?? script.stoppedExternally;
    if (interruption !== undefined) {
      const spot = script.interrupted !== undefined;
      const stopCode = interruption.stopCode ?? (spot ? "SpotInterruption" : "UserInitiated");
      const stoppedReason =
        interruption.stoppedReason ??
        (spot ? "Your Spot Task was interrupted." : "Task stopped by user");
      at(Math.min(startAt + (interruption.afterMs ?? 0), endAt), () => {
        // SIGTERM: 143 unless the script says how the container reacted.
        for (const c of task.containers) {
          const code = script.exitCodes?.[c.name];
          task.containerExited(
            c.name,
            code === undefined ? 143 : code,
            script.containerReasons?.[c.name],
          );
        }
        task.finish({ stopCode, stoppedReason });
      });
      return;
    }
    at(endAt, () => {
      for (const c of task.containers) {
        const code = script.exitCodes?.[c.name];
        task.containerExited(
          c.name,
          code === undefined ? (script.exitCode ?? 0) : code,
          script.containerReasons?.[c.name],
        );
      }
      task.finish({
        stopCode: "EssentialContainerExited",
        stoppedReason: "Essential container in task exited",
      });
    });
  },
  stop(task, reason, timing, { now, at }) {
    if (task.lastStatus === "RUNNING") {
      at(now() + timing.stopGraceMs, () => {
        for (const c of task.containers) task.containerExited(c.name, 143);
        task.finish({ stopCode: "UserInitiated", stoppedReason: reason });
      });
    } else {
      at(now(), () => task.finish({ stopCode: "UserInitiated", stoppedReason: reason }));
    }
  },
};

function matches(matcher: TaskMatcher, ctx: TaskContext): boolean {
  if (typeof matcher === "function") return matcher(ctx);
  return (
    (matcher.taskIndex === undefined || matcher.taskIndex === ctx.taskIndex) &&
    (matcher.attempt === undefined || matcher.attempt === ctx.attempt) &&
    (matcher.jobId === undefined || matcher.jobId === ctx.jobId) &&
    (matcher.family === undefined || matcher.family === ctx.family) &&
    (matcher.startedBy === undefined || matcher.startedBy === ctx.startedBy)
  );
}

function taskContext(
  input: Record<string, unknown>,
  def: TaskDefinition,
  cluster: string,
  runTaskCall: number,
): TaskContext {
  const tags = (input.tags ?? []) as { key?: string; value?: string }[];
  const tag = (k: string): string | undefined => tags.find((t) => t.key === k)?.value;
  const env = ((input.overrides as TaskOverride | undefined)?.containerOverrides ?? []).flatMap(
    (o) => o.environment ?? [],
  );
  const envVar = (k: string): string | undefined => env.find((e) => e.name === k)?.value;
  const index = tag("ecs-batch:task-index") ?? envVar("TASK_NUM");
  const attempt = tag("ecs-batch:attempt") ?? envVar("TASK_ATTEMPT");
  const jobId = tag("ecs-batch:job-id");
  return {
    taskIndex: index === undefined ? 0 : Number(index),
    attempt: attempt === undefined ? 1 : Number(attempt),
    ...(jobId === undefined ? {} : { jobId }),
    ...(typeof input.startedBy === "string" ? { startedBy: input.startedBy } : {}),
    family: String(def.family),
    cluster,
    runTaskCall,
  };
}

function hashJson(json: string): string {
  return createHash("sha1").update(json).digest("hex");
}

/** A deterministic, random-looking hex id of `length` characters from a counter (splitmix32). */
function hex(n: number, length: number): string {
  let out = "";
  let x = n >>> 0;
  while (out.length < length) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    out += z.toString(16).padStart(8, "0");
  }
  return out.slice(0, length);
}

/** Freezes a value and everything in it, so outputs can share it without copying. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function defaultErrorMessage(name: string): string {
  switch (name) {
    case "ClusterNotFoundException":
      return "Cluster not found.";
    case "AccessDeniedException":
      return "User is not authorized to perform: ecs:RunTask";
    case "ServerException":
      return "Service unavailable. Try again later.";
    case "ThrottlingException":
      return "Rate exceeded";
    default:
      return name;
  }
}

function paginate(
  items: string[],
  input: Record<string, unknown>,
  key: string,
): Record<string, unknown> {
  const max = input.maxResults === undefined ? 100 : Number(input.maxResults);
  if (!Number.isInteger(max) || max < 1 || max > 100)
    throw serviceError("InvalidParameterException", "maxResults must be between 1 and 100.");
  const start =
    typeof input.nextToken === "string"
      ? Number(Buffer.from(input.nextToken, "base64").toString())
      : 0;
  const page = items.slice(start, start + max);
  return {
    [key]: page,
    ...(start + max < items.length
      ? { nextToken: Buffer.from(String(start + max)).toString("base64") }
      : {}),
  };
}
