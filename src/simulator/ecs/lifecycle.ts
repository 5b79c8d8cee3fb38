/**
 * The task lifecycle: PROVISIONING → PENDING → RUNNING → DEPROVISIONING → STOPPED, then
 * forgotten after the retention period (or earlier, when a script makes the task go missing).
 *
 * State changes are events in a time-ordered queue, applied lazily whenever a call arrives, so
 * ten thousand tasks cost nothing while nobody looks. An executor drives each task through its
 * handle: the scripted one (outcomes decided by test scripts) or the local one (real child
 * processes). StopTask moves the task to a new generation, which drops the events its executor
 * had queued; the executor's `stop` then decides how it ends.
 */
import type { Clock } from "../../clock.js";
import { MinHeap } from "../heap.js";
import type { SimulatedLogs } from "../logs.js";
import type { EcsArns } from "./arns.js";
import { newContainer } from "./containers.js";
import { deepFreeze } from "./output.js";
import { scriptedExecutor } from "./scripts.js";
import type {
  Cluster,
  LaunchRequest,
  SimTask,
  SimulatedEcsOptions,
  TaskContext,
  TaskExecutor,
  TaskHandle,
  TaskHistoryEntry,
  TaskScheduler,
  TaskScript,
  TaskTiming,
} from "./types.js";

/** Phase durations of a task whose script and simulator options give none. */
export const DEFAULT_TIMING: TaskTiming = {
  provisioningMs: 2000,
  pendingMs: 3000,
  runMs: 10_000,
  deprovisioningMs: 2000,
  stopGraceMs: 1000,
};

interface QueuedEvent {
  at: number;
  seq: number;
  /** Set when the event belongs to the task's executor: it is dropped once the task is stopped. */
  task?: SimTask;
  generation: number;
  apply: () => void;
}

/** Why a task fails to start when its awslogs group is missing and groups are not auto-created. */
const MISSING_LOG_GROUP_REASON = `ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1`;

/** The tasks ECS knows and the queue of their coming state changes. */
export class TaskLifecycle {
  /** Every task ever started, including forgotten ones, for assertions. */
  readonly history: TaskHistoryEntry[] = [];
  readonly #opts: SimulatedEcsOptions;
  readonly #clock: Clock;
  readonly #logs: SimulatedLogs;
  readonly #arns: EcsArns;
  readonly #tasks = new Map<string, SimTask>();
  readonly #queue = new MinHeap<QueuedEvent>((a, b) => a.at - b.at || a.seq - b.seq);
  #seq = 0;
  /** While a queued change is applied, "now" is the time it was due, so its effects carry that time. */
  #applyingAt: number | undefined;

  constructor(options: SimulatedEcsOptions, clock: Clock, logs: SimulatedLogs, arns: EcsArns) {
    this.#opts = options;
    this.#clock = clock;
    this.#logs = logs;
    this.#arns = arns;
  }

  now(): number {
    return this.#applyingAt ?? this.#clock.now();
  }

  // ---- the queue ---------------------------------------------------------------------------

  /** Applies every queued state change that is due. Called before each API call. */
  sync(): void {
    if (this.#applyingAt !== undefined) return;
    const now = this.#clock.now();
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

  /** When the next queued state change is due, if any. */
  nextEventAt(): number | undefined {
    return this.#queue.peek()?.at;
  }

  /** Queues a change that happens whatever the task's generation. */
  #at(at: number, apply: () => void): void {
    this.#queue.push({ at, seq: this.#seq++, generation: 0, apply });
  }

  // ---- the tasks ECS knows -----------------------------------------------------------------

  /** The tasks not yet forgotten, in creation order. */
  all(): IterableIterator<SimTask> {
    return this.#tasks.values();
  }

  get(arn: string): SimTask | undefined {
    return this.#tasks.get(arn);
  }

  /** A task by ARN, or by id within `cluster`. */
  find(ref: string, cluster: Cluster): SimTask | undefined {
    if (ref.startsWith("arn:")) return this.#tasks.get(ref);
    return this.#tasks.get(this.#arns.task(cluster.name, ref));
  }

  // ---- start -------------------------------------------------------------------------------

  /** Creates one task of a RunTask request, PROVISIONING, and hands it to its executor. */
  launch(request: LaunchRequest, context: TaskContext, script: TaskScript): SimTask {
    const { cluster, definition, overrides } = request;
    const id = this.#arns.nextId(32);
    const arn = this.#arns.task(cluster.name, id);
    const task: SimTask = {
      arn,
      id,
      cluster,
      definition,
      input: deepFreeze({
        ...(JSON.parse(request.json) as Record<string, unknown>),
        launchType: request.launchType,
        capacityProviderName: request.capacityProvider,
      }),
      context,
      script,
      createdAt: this.now(),
      ...(request.cpu === undefined ? {} : { cpu: request.cpu }),
      ...(request.memory === undefined ? {} : { memory: request.memory }),
      containers: (definition.containerDefinitions ?? []).map((c) =>
        newContainer(c, overrides, id, cluster.name, this.#arns),
      ),
      lastStatus: "PROVISIONING",
      desiredStatus: "RUNNING",
      version: 1,
      generation: 0,
      finished: false,
    };
    this.#tasks.set(arn, task);
    const clientToken = request.input.clientToken;
    this.history.push({
      taskArn: arn,
      context,
      createdAt: this.now(),
      ...(typeof clientToken === "string" ? { clientToken } : {}),
    });
    const handle = this.#handle(task);
    const scheduler = this.#scheduler(task);
    if (script.missingAfterMs !== undefined)
      this.#at(this.now() + script.missingAfterMs, () => this.#tasks.delete(arn));
    if (this.#lacksLogGroup(task)) {
      scriptedExecutor.start(
        handle,
        { ...script, startFailure: { stoppedReason: MISSING_LOG_GROUP_REASON } },
        this.#timing(script),
        scheduler,
      );
      return task;
    }
    this.#executor.start(handle, script, this.#timing(script), scheduler);
    return task;
  }

  get #executor(): TaskExecutor {
    return this.#opts.executor ?? scriptedExecutor;
  }

  /** ECS fails a task whose awslogs group does not exist, unless groups are created on write. */
  #lacksLogGroup(task: SimTask): boolean {
    if (this.#opts.autoCreateLogGroups) return false;
    return task.containers.some((c) => c.log !== undefined && !this.#logs.hasGroup(c.log.group));
  }

  /** The phase durations of a task: its script's, else the simulator's. */
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

  // ---- the executor's view -----------------------------------------------------------------

  /** A scheduler whose events are dropped once the task is stopped (its generation moves on). */
  #scheduler(task: SimTask): TaskScheduler {
    return {
      now: () => this.now(),
      at: (time, apply) => {
        this.#queue.push({
          at: Math.max(time, this.now()),
          seq: this.#seq++,
          task,
          generation: task.generation,
          apply,
        });
      },
    };
  }

  /** The handle an executor moves the task with; every visible change bumps `version`. */
  #handle(task: SimTask): TaskHandle {
    const now = (): number => this.now();
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
        task.version++;
      },
      containerExited: (name, exitCode, reason) => {
        const c = task.containers.find((x) => x.name === name);
        if (c === undefined) return;
        c.lastStatus = "STOPPED";
        c.exitCode = exitCode;
        if (reason !== undefined) c.reason = reason;
        task.version++;
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
      finish: (stop) => this.#deprovision(task, stop),
    };
  }

  // ---- stop --------------------------------------------------------------------------------

  /** StopTask: desired STOPPED now; the executor decides when the containers are gone. */
  stop(task: SimTask, reason: string | undefined): void {
    if (task.finished || task.desiredStatus === "STOPPED") return;
    task.desiredStatus = "STOPPED";
    task.stoppingAt = this.now();
    task.stopCode = "UserInitiated";
    task.stoppedReason = reason ?? "Task stopped by user";
    task.version++;
    task.generation++;
    this.#executor.stop(
      this.#handle(task),
      task.stoppedReason,
      this.#timing(task.script),
      this.#scheduler(task),
    );
  }

  /**
   * The containers have stopped: DEPROVISIONING now, STOPPED after the deprovisioning time,
   * forgotten after the retention. A stop code or reason set earlier (by StopTask) is kept.
   */
  #deprovision(task: SimTask, stop: { stopCode: string; stoppedReason: string }): void {
    if (task.finished) return;
    task.finished = true;
    task.stopCode ??= stop.stopCode;
    task.stoppedReason ??= stop.stoppedReason;
    task.desiredStatus = "STOPPED";
    task.stoppingAt ??= this.now();
    task.executionStoppedAt = this.now();
    for (const c of task.containers) if (c.lastStatus !== "STOPPED") c.lastStatus = "STOPPED";
    task.lastStatus = "DEPROVISIONING";
    task.version++;
    // Not tied to a generation: once deprovisioning starts, the task reaches STOPPED.
    this.#at(this.now() + this.#timing(task.script).deprovisioningMs, () => {
      task.lastStatus = "STOPPED";
      task.stoppedAt = this.now();
      task.version++;
      this.#at(this.now() + this.#opts.stoppedTaskRetentionMs, () => this.#tasks.delete(task.arn));
    });
  }
}
