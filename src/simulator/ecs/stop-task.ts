/** StopTask: the request's checks, then the lifecycle's stop. A repeated stop changes nothing. */
import { serviceError } from "../errors.js";
import type { Clusters } from "./clusters.js";
import type { TaskDescriptions } from "./describe.js";
import type { TaskLifecycle } from "./lifecycle.js";

/** What StopTask works with. */
export interface StopTaskDeps {
  readonly clusters: Clusters;
  readonly lifecycle: TaskLifecycle;
  readonly descriptions: TaskDescriptions;
}

const TASK_REF = /^(arn:aws[a-z-]*:ecs:[^:]+:\d+:task\/[A-Za-z0-9_-]+\/)?[A-Za-z0-9-]+$/;

/** StopTask: the task as it is after the stop was asked for. */
export function stopTask(
  deps: StopTaskDeps,
  input: Record<string, unknown>,
): Record<string, unknown> {
  const cluster = deps.clusters.resolve(input.cluster);
  const ref = typeof input.task === "string" ? input.task : "";
  const reason = typeof input.reason === "string" ? input.reason : undefined;
  if (reason !== undefined && reason.length > 255) {
    throw serviceError("InvalidParameterException", "Reason must be at most 255 characters.");
  }
  if (!TASK_REF.test(ref)) {
    throw serviceError("InvalidParameterException", "Task Identifier is invalid");
  }
  const task = deps.lifecycle.find(ref, cluster);
  if (task === undefined) {
    throw serviceError("InvalidParameterException", "The referenced task was not found");
  }
  deps.lifecycle.stop(task, reason);
  return { task: deps.descriptions.output(task, false) };
}
