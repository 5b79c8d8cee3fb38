/**
 * A task's containers as ECS composes them from the definition and the RunTask overrides: the
 * command after overrides, the environment merged by name (override wins), and the awslogs
 * stream `prefix/container/taskId` that ECS names and the runner reads.
 */
import type { ContainerDefinition, TaskOverride } from "@aws-sdk/client-ecs";
import type { EcsArns } from "./arns.js";
import type { SimContainerState } from "./types.js";

/** One container of a new task, PENDING. Takes an id for its ARN. */
export function newContainer(
  c: ContainerDefinition,
  overrides: TaskOverride,
  taskId: string,
  clusterName: string,
  arns: EcsArns,
): SimContainerState {
  const o = overrides.containerOverrides?.find((x) => x.name === c.name);
  const env = new Map<string, string>();
  for (const e of c.environment ?? []) if (e.name !== undefined) env.set(e.name, e.value ?? "");
  for (const e of o?.environment ?? []) if (e.name !== undefined) env.set(e.name, e.value ?? "");
  const opts = c.logConfiguration?.logDriver === "awslogs" ? c.logConfiguration.options : undefined;
  const group = opts?.["awslogs-group"];
  const prefix = opts?.["awslogs-stream-prefix"];
  const region = opts?.["awslogs-region"];
  const name = c.name as string;
  const command = o?.command ?? c.command;
  return {
    name,
    arn: arns.newContainer(clusterName, taskId),
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
