/**
 * Building the RunTask input of one attempt of one task. Pure: everything it needs is in the
 * `LaunchPlan`, which preparation produces once per job.
 */
import type { AwsVpcConfiguration, RunTaskCommandInput, TaskOverride } from "@aws-sdk/client-ecs";
import type { ValidationIssue } from "../errors.js";
import {
  ECS_LIMITS,
  type BatchJob,
  type ContainerOverrideConfig,
  type PatchOperation,
} from "../job/schema.js";
import { applyCustomizations } from "./customizations.js";
import { clientToken, injectedEnvironment, taskName, taskTags } from "./naming.js";
import { buildContainerOverrides } from "./overrides.js";

/** Everything needed to build any task's RunTask input; plain data, so a job can be resumed. */
export interface LaunchPlan {
  readonly jobId: string;
  readonly cluster: string;
  readonly taskDefinitionArn: string;
  /** Containers of the definition, in its order; each gets the injected variables. */
  readonly containerNames: readonly string[];
  readonly taskCount: number;
  readonly taskNamePrefix: string;
  readonly containerOverrides: readonly ContainerOverrideConfig[];
  /** Task-level overrides: sizes and roles for `{ arn }` sources (templates carry them in the definition). */
  readonly taskOverrides: Readonly<
    Pick<TaskOverride, "cpu" | "memory" | "executionRoleArn" | "taskRoleArn">
  >;
  readonly launchType: BatchJob["launchType"];
  readonly platformVersion?: string;
  readonly network?: AwsVpcConfiguration;
  readonly tags: Readonly<Record<string, string>>;
  readonly taskCustomizations: readonly PatchOperation[];
}

/** The RunTask input for attempt `attempt` (1-based) of task `index` (0-based). */
export function buildRunTaskInput(
  plan: LaunchPlan,
  index: number,
  attempt: number,
): RunTaskCommandInput {
  const name = taskName(plan.taskNamePrefix, plan.jobId, index);
  const injected = injectedEnvironment({
    taskName: name,
    index,
    taskCount: plan.taskCount,
    attempt,
  });
  const overrides: TaskOverride = {
    containerOverrides: buildContainerOverrides(
      plan.containerNames,
      plan.containerOverrides,
      injected,
    ),
    ...plan.taskOverrides,
  };
  const input: RunTaskCommandInput = {
    cluster: plan.cluster,
    taskDefinition: plan.taskDefinitionArn,
    count: 1,
    startedBy: name,
    ...(plan.launchType === "FARGATE_SPOT"
      ? { capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT", weight: 1 }] }
      : { launchType: plan.launchType }),
    ...(plan.platformVersion === undefined ? {} : { platformVersion: plan.platformVersion }),
    ...(plan.network === undefined
      ? {}
      : { networkConfiguration: { awsvpcConfiguration: structuredClone(plan.network) } }),
    overrides,
    tags: taskTags(plan.tags, plan.jobId, index, attempt),
    clientToken: clientToken(plan.jobId, index, attempt),
  };
  return applyCustomizations(input, plan.taskCustomizations);
}

/**
 * Checks the 8 KiB limit ECS puts on RunTask overrides, for the largest request the job can
 * produce (last task, last possible attempt).
 */
export function checkOverridesSize(plan: LaunchPlan, maxAttempts: number): ValidationIssue[] {
  const input = buildRunTaskInput(plan, plan.taskCount - 1, maxAttempts);
  const size = JSON.stringify(input.overrides ?? {}).length;
  if (size <= ECS_LIMITS.overridesMaxLength) return [];
  return [
    {
      path: "containerOverrides",
      message: `RunTask overrides would be ${size} characters; ECS allows ${ECS_LIMITS.overridesMaxLength}. Move large values into the task definition template, an environment file or Secrets Manager`,
    },
  ];
}
