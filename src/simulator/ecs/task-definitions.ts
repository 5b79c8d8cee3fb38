/**
 * Task definitions: families of numbered revisions, registered with the validation and defaults
 * ECS applies, described and listed, deregistered to INACTIVE. Revisions are frozen once
 * registered, so every output shares them without copying.
 */
import type { RegisterTaskDefinitionCommandInput, TaskDefinition } from "@aws-sdk/client-ecs";
import { isValidFargateSize, parseCpu, parseMemory } from "../../job/fargate.js";
import { serviceError } from "../errors.js";
import type { EcsArns } from "./arns.js";
import { deepFreeze, paginate } from "./output.js";

/** The account's task definitions, by family. */
export class TaskDefinitions {
  readonly #arns: EcsArns;
  readonly #now: () => number;
  /** Revision n of a family is at index n - 1. */
  readonly #families = new Map<string, TaskDefinition[]>();
  readonly #tags = new Map<string, { key: string; value: string }[]>();

  constructor(arns: EcsArns, now: () => number) {
    this.#arns = arns;
    this.#now = now;
  }

  /** RegisterTaskDefinition: the next revision of the family. */
  register(input: RegisterTaskDefinitionCommandInput): TaskDefinition {
    const family = validFamily(input.family);
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
    if (input.requiresCompatibilities?.includes("FARGATE") === true) checkFargate(input);
    const revisions = this.#families.get(family) ?? [];
    const revision = revisions.length + 1;
    const { tags, ...rest } = input;
    const def: TaskDefinition = {
      ...structuredClone(rest),
      taskDefinitionArn: this.#arns.taskDefinition(family, revision),
      revision,
      status: "ACTIVE",
      networkMode: input.networkMode ?? "bridge",
      volumes: input.volumes ?? [],
      placementConstraints: input.placementConstraints ?? [],
      compatibilities: ["EC2", ...(input.networkMode === "awsvpc" ? ["FARGATE" as const] : [])],
      requiresAttributes: [{ name: "com.amazonaws.ecs.capability.docker-remote-api.1.18" }],
      registeredAt: new Date(this.#now()),
      registeredBy: this.#arns.registeredBy,
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
      this.#tags.set(
        def.taskDefinitionArn as string,
        tags.map((t) => ({ key: t.key ?? "", value: t.value ?? "" })),
      );
    return def;
  }

  /** An ARN, `family`, or `family:revision` to its definition (a family means its latest ACTIVE revision). */
  find(ref: string): TaskDefinition | undefined {
    const m =
      /^(?:arn:aws[a-z-]*:ecs:[^:]+:\d+:task-definition\/)?([A-Za-z0-9_-]+)(?::(\d+))?$/.exec(ref);
    if (m === null) return undefined;
    const revisions = this.#families.get(m[1] as string);
    if (revisions === undefined) return undefined;
    if (m[2] !== undefined) return revisions[Number(m[2]) - 1];
    return [...revisions].reverse().find((d) => d.status === "ACTIVE");
  }

  /** DescribeTaskDefinition, with the definition's tags when `include` asks for them. */
  describe(input: Record<string, unknown>): Record<string, unknown> {
    const def = this.find(String(input.taskDefinition));
    if (def === undefined)
      throw serviceError("ClientException", "Unable to describe task definition.");
    const include = input.include as string[] | undefined;
    return {
      taskDefinition: def,
      ...(include?.includes("TAGS") === true
        ? { tags: this.#tags.get(def.taskDefinitionArn as string) ?? [] }
        : {}),
    };
  }

  /** DeregisterTaskDefinition: the revision keeps its number and becomes INACTIVE. */
  deregister(input: Record<string, unknown>): Record<string, unknown> {
    const def = this.find(String(input.taskDefinition));
    if (def === undefined)
      throw serviceError("ClientException", "The specified task definition does not exist.");
    const inactive = deepFreeze({
      ...def,
      status: "INACTIVE" as const,
      deregisteredAt: new Date(this.#now()),
    });
    const revisions = this.#families.get(def.family as string) ?? [];
    revisions[revisions.indexOf(def)] = inactive;
    return { taskDefinition: inactive };
  }

  /** ListTaskDefinitions: by exact family (`familyPrefix`), status and sort order, paged. */
  list(input: Record<string, unknown>): Record<string, unknown> {
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
}

function validFamily(family: string | undefined): string {
  if (typeof family !== "string" || family === "") {
    throw serviceError("ClientException", "Family can not be blank.");
  }
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(family)) {
    throw serviceError("ClientException", "Family contains invalid characters.");
  }
  return family;
}

/** A Fargate definition needs `awsvpc` and a task size Fargate offers. */
function checkFargate(input: RegisterTaskDefinitionCommandInput): void {
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
