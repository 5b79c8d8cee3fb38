/**
 * Building the RunTask input of one attempt of one task. Pure: everything it needs is in the
 * `LaunchPlan`, which preparation produces once per job.
 */
import type { AwsVpcConfiguration, RunTaskCommandInput, TaskOverride } from "@aws-sdk/client-ecs";
import type { ValidationIssue } from "../errors.js";
import { ECS_LIMITS } from "../aws/limits.js";
import type { BatchJob, ContainerOverrideConfig, PatchOperation } from "../job/schema.js";
import { applyCustomizations, checkRunnerFields } from "./customizations.js";
import { attemptTags, clientToken, injectedEnvironment, jobTags, taskName } from "./naming.js";
import { buildContainerOverrides } from "./overrides.js";

/** Everything needed to build any task's RunTask input; plain data, so a job can be resumed. */
export interface LaunchPlan {
  readonly jobId: string;
  /**
   * The run this plan launches for (DESIGN 3.1): in every task's `ecs-batch:run-id` tag and
   * client tokens. Absent only in plans built by hand for earlier versions.
   */
  readonly runId?: string;
  /** The run's deadline (ms since epoch), in every task's `ecs-batch:deadline` tag. */
  readonly deadline?: number;
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
  const input: RunTaskCommandInput = {
    cluster: plan.cluster,
    taskDefinition: plan.taskDefinitionArn,
    count: 1,
    startedBy: name,
  };
  if (plan.launchType === "FARGATE_SPOT") {
    input.capacityProviderStrategy = [{ capacityProvider: "FARGATE_SPOT", weight: 1 }];
  } else {
    input.launchType = plan.launchType;
  }
  if (plan.platformVersion !== undefined) input.platformVersion = plan.platformVersion;
  if (plan.network !== undefined) {
    input.networkConfiguration = { awsvpcConfiguration: copyNetwork(plan.network) };
  }
  input.overrides = {
    containerOverrides: buildContainerOverrides(
      plan.containerNames,
      plan.containerOverrides,
      injected,
    ),
    ...plan.taskOverrides,
  };
  input.tags = jobTags(plan.tags, plan.jobId, plan.runId, plan.deadline);
  input.tags.push(...attemptTags(index, attempt));
  input.clientToken = clientToken(plan.jobId, index, attempt, plan.runId);
  if (plan.taskCustomizations.length === 0) return input;
  const customized = applyCustomizations(input, plan.taskCustomizations);
  // Preparation checks the customizations against a job's first and last requests; this keeps
  // a request that slipped through (or a plan built by hand) from launching a task the runner
  // could not track, stop or tell apart.
  const broken = checkRunnerFields(input, customized);
  if (broken !== undefined) {
    throw new Error(
      `taskCustomizations cannot apply to task ${index}, attempt ${attempt}: ${broken}`,
    );
  }
  return customized;
}

/** A request's own copy of the plan's network settings (strings and lists of strings). */
function copyNetwork(network: AwsVpcConfiguration): AwsVpcConfiguration {
  const copy = { ...network };
  if (network.subnets !== undefined) copy.subnets = [...network.subnets];
  if (network.securityGroups !== undefined) copy.securityGroups = [...network.securityGroups];
  return copy;
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
