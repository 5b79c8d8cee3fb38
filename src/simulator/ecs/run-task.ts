/**
 * RunTask, in the order ECS answers it: the request's own checks, `clientToken` idempotency
 * (the same request within 24 hours gets the tasks it already started; different parameters
 * under the same token are a conflict), the task definition, the checks against it, Fargate's
 * call bucket, then up to ten tasks placed one by one: a script may throw, fail a task into
 * `failures[]`, or let it start; Fargate's launch bucket may turn a task away.
 */
import { createHash } from "node:crypto";
import type { Task, TaskDefinition, TaskOverride } from "@aws-sdk/client-ecs";
import { isValidFargateSize, parseCpu, parseMemory } from "../../job/fargate.js";
import type { CallControl } from "../control.js";
import { serviceError } from "../errors.js";
import type { EcsArns } from "./arns.js";
import type { Clusters } from "./clusters.js";
import type { TaskDescriptions } from "./describe.js";
import type { TaskLifecycle } from "./lifecycle.js";
import { scriptedRunTaskError, taskContext, type TaskScripts } from "./scripts.js";
import type { TaskDefinitions } from "./task-definitions.js";
import type { Cluster, LaunchRequest, SimulatedEcsOptions, TaskScript } from "./types.js";

/** What RunTask works with. */
export interface RunTaskDeps {
  readonly options: SimulatedEcsOptions;
  readonly control: CallControl;
  readonly arns: EcsArns;
  readonly clusters: Clusters;
  readonly definitions: TaskDefinitions;
  readonly scripts: TaskScripts;
  readonly lifecycle: TaskLifecycle;
  readonly descriptions: TaskDescriptions;
}

/** How long ECS remembers a client token. */
const TOKEN_TTL_MS = 24 * 3_600_000;

/** A request remembered under its client token. */
interface TokenRecord {
  readonly at: number;
  /** Hash of the request, to tell a repeat from a conflict. */
  readonly hash: string;
  readonly taskArns: string[];
  readonly failures: unknown[];
}

/** A type, not an interface, so it is a `Record<string, unknown>` handlers may return. */
type RunTaskOutput = {
  tasks: Task[];
  failures: unknown[];
};

/** The RunTask action and the client tokens it has seen. */
export class RunTask {
  readonly #deps: RunTaskDeps;
  /** By `clusterArn|clientToken`. */
  readonly #tokens = new Map<string, TokenRecord>();
  #calls = 0;

  constructor(deps: RunTaskDeps) {
    this.#deps = deps;
  }

  /** RunTask. Its steps may throw: their order decides which error a faulty request gets. */
  run(input: Record<string, unknown>): Record<string, unknown> {
    const cluster = this.#deps.clusters.resolve(input.cluster);
    const count = taskCount(input);
    // Serialised once: the idempotency hash and each task's own copy of the request come from it.
    const json = JSON.stringify(input);
    const token = clientToken(input);
    const tokenKey = token === undefined ? undefined : `${cluster.arn}|${token}`;
    if (tokenKey !== undefined) {
      const earlier = this.#repeat(tokenKey, json);
      if (earlier !== undefined) return earlier;
    }
    const definition = this.#definition(input);
    const request = checkRequest(cluster, definition, input, json);
    this.#throttleCall(request);
    const output = this.#place(request, count);
    if (tokenKey !== undefined) this.#remember(tokenKey, json, output);
    return output;
  }

  // ---- idempotency -------------------------------------------------------------------------

  /** The answer to a request already made under this token, if it is still remembered. */
  #repeat(tokenKey: string, json: string): RunTaskOutput | undefined {
    const known = this.#tokens.get(tokenKey);
    if (known === undefined || this.#deps.lifecycle.now() - known.at >= TOKEN_TTL_MS)
      return undefined;
    if (known.hash !== hashJson(json)) {
      throw serviceError(
        "ConflictException",
        "The specified client token has already been used in a request with different parameters.",
        { resourceIds: known.taskArns },
      );
    }
    // The same request again: the tasks it already started, not new ones.
    const { lifecycle, descriptions } = this.#deps;
    return {
      tasks: known.taskArns.flatMap((arn) => {
        const t = lifecycle.get(arn);
        return t === undefined ? [] : [descriptions.output(t, true)];
      }),
      failures: known.failures,
    };
  }

  #remember(tokenKey: string, json: string, output: RunTaskOutput): void {
    this.#tokens.set(tokenKey, {
      at: this.#deps.lifecycle.now(),
      hash: hashJson(json),
      taskArns: output.tasks.map((t) => t.taskArn as string),
      failures: output.failures,
    });
  }

  // ---- the definition and the buckets ------------------------------------------------------

  #definition(input: Record<string, unknown>): TaskDefinition {
    const def = this.#deps.definitions.find(String(input.taskDefinition));
    if (def === undefined) throw serviceError("ClientException", "TaskDefinition not found.");
    if (def.status !== "ACTIVE")
      throw serviceError("ClientException", "TaskDefinition is inactive");
    return def;
  }

  /** Fargate's RunTask bucket counts calls: a throttled call starts nothing. */
  #throttleCall(request: LaunchRequest): void {
    const bucket = this.#deps.options.fargateRunTaskBucket;
    if (request.fargate && bucket !== undefined && !this.#deps.control.takeTokens(bucket, 1))
      throw serviceError("ThrottlingException", "Rate exceeded");
  }

  /** Fargate's launch bucket counts tasks: says whether one more may launch now. */
  #mayLaunch(request: LaunchRequest): boolean {
    const bucket = this.#deps.options.fargateLaunchBucket;
    return !request.fargate || bucket === undefined || this.#deps.control.takeTokens(bucket, 1);
  }

  // ---- placement ---------------------------------------------------------------------------

  /**
   * Places `count` tasks. A script's `runTaskError` throws (tasks placed before it stay), a
   * `launchFailure` goes to `failures[]`; out of launch tokens, the call is throttled if it has
   * placed nothing yet, else the rest go to `failures[]`.
   */
  #place(request: LaunchRequest, count: number): RunTaskOutput {
    const { lifecycle, descriptions, scripts } = this.#deps;
    const callIndex = this.#calls++;
    const tasks: Task[] = [];
    const failures: unknown[] = [];
    for (let i = 0; i < count; i++) {
      const context = taskContext(
        request.input,
        request.definition,
        request.cluster.name,
        callIndex,
      );
      const script = scripts.for(context);
      if (script.runTaskError !== undefined) throw scriptedRunTaskError(script.runTaskError);
      if (script.launchFailure !== undefined) {
        failures.push(this.#launchFailure(request.cluster, script.launchFailure));
        continue;
      }
      if (!this.#mayLaunch(request)) {
        if (tasks.length === 0) throw serviceError("ThrottlingException", "Rate exceeded");
        failures.push({ reason: "Rate exceeded" });
        continue;
      }
      const task = lifecycle.launch(request, context, script);
      tasks.push(descriptions.output(task, true));
    }
    return { tasks, failures };
  }

  /** A `failures[]` entry naming the container instance the task could not launch on. */
  #launchFailure(
    cluster: Cluster,
    failure: NonNullable<TaskScript["launchFailure"]>,
  ): Record<string, unknown> {
    const f = typeof failure === "string" ? { reason: failure } : failure;
    return {
      arn: this.#deps.arns.newContainerInstance(cluster.name),
      reason: f.reason,
      ...(f.detail === undefined ? {} : { detail: f.detail }),
    };
  }
}

// ---- the request's checks ------------------------------------------------------------------

function taskCount(input: Record<string, unknown>): number {
  const count = input.count === undefined ? 1 : Number(input.count);
  if (!Number.isInteger(count) || count < 1 || count > 10) {
    throw serviceError("InvalidParameterException", "count must be between 1 and 10.");
  }
  return count;
}

function clientToken(input: Record<string, unknown>): string | undefined {
  const token = typeof input.clientToken === "string" ? input.clientToken : undefined;
  if (token !== undefined && token.length > 64)
    throw serviceError("InvalidParameterException", "clientToken must be at most 64 characters.");
  return token;
}

/** The checks that need the definition, in ECS's order; their result is how the tasks launch. */
function checkRequest(
  cluster: Cluster,
  definition: TaskDefinition,
  input: Record<string, unknown>,
  json: string,
): LaunchRequest {
  checkStartedBy(input);
  const { launchType, capacityProvider, fargate } = launchTarget(input);
  checkNetwork(input, definition);
  const overrides = checkOverrides(input, definition);
  const cpu = overrides.cpu ?? definition.cpu;
  const memory = overrides.memory ?? definition.memory;
  if (fargate) checkFargate(definition, cpu, memory);
  checkTags(input);
  return {
    cluster,
    definition,
    input,
    json,
    overrides,
    launchType,
    capacityProvider,
    fargate,
    cpu,
    memory,
  };
}

function checkStartedBy(input: Record<string, unknown>): void {
  const startedBy = typeof input.startedBy === "string" ? input.startedBy : undefined;
  if (startedBy !== undefined && (startedBy.length > 128 || !/^[A-Za-z0-9_/-]+$/.test(startedBy))) {
    throw serviceError(
      "InvalidParameterException",
      "startedBy must be up to 128 letters, numbers, hyphens, forward slashes and underscores.",
    );
  }
}

/** A launch type or a capacity provider strategy, never both; neither means EC2. */
function launchTarget(input: Record<string, unknown>): {
  launchType: string | undefined;
  capacityProvider: string | undefined;
  fargate: boolean;
} {
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
  return { launchType, capacityProvider, fargate };
}

/** An `awsvpc` definition needs subnets. */
function checkNetwork(input: Record<string, unknown>, definition: TaskDefinition): void {
  if (definition.networkMode !== "awsvpc") return;
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

/** Overrides fit in 8 KiB and name only the definition's containers. */
function checkOverrides(input: Record<string, unknown>, definition: TaskDefinition): TaskOverride {
  const overrides = (input.overrides ?? {}) as TaskOverride;
  if (JSON.stringify(overrides).length > 8192) {
    throw serviceError(
      "InvalidParameterException",
      "Container Overrides length must be at most 8192",
    );
  }
  const containerDefs = definition.containerDefinitions ?? [];
  for (const o of overrides.containerOverrides ?? []) {
    if (!containerDefs.some((c) => c.name === o.name)) {
      throw serviceError(
        "InvalidParameterException",
        `Override for container named ${String(o.name)} is not a container in the TaskDefinition.`,
      );
    }
  }
  return overrides;
}

/** A Fargate launch needs a Fargate-compatible definition and a size Fargate offers. */
function checkFargate(
  definition: TaskDefinition,
  cpu: string | undefined,
  memory: string | undefined,
): void {
  if (definition.compatibilities?.includes("FARGATE") !== true) {
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

function checkTags(input: Record<string, unknown>): void {
  const tags = (input.tags ?? []) as { key?: string; value?: string }[];
  if (tags.length > 50)
    throw serviceError("InvalidParameterException", "Too many tags: a task can have at most 50.");
}

function hashJson(json: string): string {
  return createHash("sha1").update(json).digest("hex");
}
