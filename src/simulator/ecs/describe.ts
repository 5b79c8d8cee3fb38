/**
 * Tasks as the API shows them: the `Task` shape every task action returns, DescribeTasks (at
 * most 100 per call, unknown and forgotten tasks as `MISSING`) and ListTasks (by desired status,
 * `startedBy` or family, paged).
 */
import type { Container, Task, TaskOverride } from "@aws-sdk/client-ecs";
import { serviceError } from "../errors.js";
import type { Clusters } from "./clusters.js";
import type { TaskLifecycle } from "./lifecycle.js";
import { paginate } from "./output.js";
import type { SimTask } from "./types.js";

const EMPTY_OVERRIDES: TaskOverride = Object.freeze({ containerOverrides: [] });

/** The read side of the task actions. */
export class TaskDescriptions {
  readonly #clusters: Clusters;
  readonly #lifecycle: TaskLifecycle;
  readonly #availabilityZone: string;

  constructor(clusters: Clusters, lifecycle: TaskLifecycle, region: string) {
    this.#clusters = clusters;
    this.#lifecycle = lifecycle;
    this.#availabilityZone = `${region}a`;
  }

  /** DescribeTasks. */
  describe(input: Record<string, unknown>): Record<string, unknown> {
    const cluster = this.#clusters.resolve(input.cluster);
    const refs = input.tasks as string[] | undefined;
    if (refs === undefined || refs.length === 0)
      throw serviceError("InvalidParameterException", "Tasks cannot be empty.");
    if (refs.length > 100)
      throw serviceError("InvalidParameterException", "Tasks cannot have more than 100 elements.");
    const withTags = (input.include as string[] | undefined)?.includes("TAGS") === true;
    const tasks: Task[] = [];
    const failures: unknown[] = [];
    for (const ref of refs) {
      const t = this.#lifecycle.find(ref, cluster);
      if (t === undefined || t.cluster !== cluster) failures.push({ arn: ref, reason: "MISSING" });
      else tasks.push(this.output(t, withTags));
    }
    return { tasks, failures };
  }

  /** ListTasks. `startedBy` must be the only filter when given, as on ECS. */
  list(input: Record<string, unknown>): Record<string, unknown> {
    const cluster = this.#clusters.resolve(input.cluster);
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
    const arns = [...this.#lifecycle.all()]
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
  output(t: SimTask, withTags: boolean): Task {
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
      availabilityZone: this.#availabilityZone,
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
