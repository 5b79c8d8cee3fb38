/**
 * What a STOPPED task means (DESIGN 3.2), as a pure function of what DescribeTasks reported and
 * which containers are essential. A task succeeds only when every essential container exited
 * 0: a task that never started (no exit code) is a failure, never a success.
 */
import type { Task } from "@aws-sdk/client-ecs";
import type { FailureKind, TaskFailure } from "../result.js";

/** How each `stopCode` is read. `EssentialContainerExited` (and none) defer to the containers. */
export const STOP_CODE_KINDS: Readonly<Record<string, FailureKind | "containers">> = {
  TaskFailedToStart: "start",
  EssentialContainerExited: "containers",
  SpotInterruption: "interrupted",
  TerminationNotice: "interrupted",
  // AWS stopped the task because the infrastructure under it was unhealthy: not the job's fault.
  InfrastructureHealth: "interrupted",
  UserInitiated: "stopped",
  ServiceSchedulerInitiated: "stopped",
};

/** What a stopped task amounts to. */
export type TaskOutcome =
  | { readonly status: "succeeded"; readonly exitCode: number }
  | { readonly status: "failed"; readonly failure: TaskFailure }
  /** This runner stopped it (timeout, give-up, cancel): not a failure. */
  | { readonly status: "stopped" };

/** Essential flags by container name; a container missing here counts as essential (the ECS default). */
export type EssentialContainers = ReadonlyMap<string, boolean>;

/** Reads `essential` from a task definition's containers. */
export function essentialContainers(definition: {
  containerDefinitions?: { name?: string; essential?: boolean }[];
}): EssentialContainers {
  return new Map(
    (definition.containerDefinitions ?? []).flatMap((c) =>
      c.name === undefined ? [] : [[c.name, c.essential !== false] as const],
    ),
  );
}

/**
 * Classifies a STOPPED task. `stoppedByRunner` says this runner asked ECS to stop it; a task
 * that finished on its own before the stop took effect is classified by its containers.
 */
export function classifyStoppedTask(
  task: Task,
  essential: EssentialContainers,
  stoppedByRunner = false,
): TaskOutcome {
  const stopCode = task.stopCode;
  const stoppedReason = task.stoppedReason;
  if (stoppedByRunner && stopCode === "UserInitiated") return { status: "stopped" };
  const kind = stopCode === undefined ? "containers" : (STOP_CODE_KINDS[stopCode] ?? "containers");
  const containers = (task.containers ?? []).filter((c) => essential.get(c.name ?? "") !== false);

  if (kind === "start") {
    const culprit = containers.find((c) => given(c.reason) !== undefined);
    return {
      status: "failed",
      failure: {
        kind: "start",
        reason: `task failed to start: ${given(culprit?.reason) ?? given(stoppedReason) ?? "no reason given"}`,
        exitCode: null,
        ...stopDetails(task),
        ...(culprit?.name === undefined ? {} : { container: culprit.name }),
      },
    };
  }
  if (kind === "interrupted") {
    return {
      status: "failed",
      failure: {
        kind: "interrupted",
        reason: `${stopCode === "InfrastructureHealth" ? "AWS replaced the task's infrastructure" : "Fargate Spot reclaimed the task"} (${String(stopCode)}${given(stoppedReason) === undefined ? "" : `: ${stoppedReason}`})`,
        ...stopDetails(task),
      },
    };
  }
  if (kind === "stopped") {
    return {
      status: "failed",
      failure: {
        kind: "stopped",
        reason: `stopped outside this runner (${String(stopCode)}${given(stoppedReason) === undefined ? "" : `: ${stoppedReason}`})`,
        ...stopDetails(task),
      },
    };
  }
  // The containers decide: any essential one without an exit code never ran.
  const neverRan = containers.find((c) => c.exitCode === undefined);
  if (neverRan !== undefined || containers.length === 0) {
    return {
      status: "failed",
      failure: {
        kind: "start",
        reason: `task stopped before ${neverRan === undefined ? "any essential container ran" : `container "${String(neverRan.name)}" ran`}: ${given(neverRan?.reason) ?? given(stoppedReason) ?? "no reason given"}`,
        exitCode: null,
        ...stopDetails(task),
        ...(neverRan?.name === undefined ? {} : { container: neverRan.name }),
      },
    };
  }
  const failed = containers.find((c) => c.exitCode !== 0);
  if (failed !== undefined) {
    const why = given(failed.reason);
    return {
      status: "failed",
      failure: {
        kind: "exit",
        reason: `container "${String(failed.name)}" exited with code ${String(failed.exitCode)}${why === undefined ? "" : ` (${why})`}`,
        exitCode: failed.exitCode ?? null,
        ...stopDetails(task),
        ...(failed.name === undefined ? {} : { container: failed.name }),
      },
    };
  }
  return { status: "succeeded", exitCode: 0 };
}

/** A reason ECS actually gave: it sends `""` (or blanks) for none, which must not print as `()`. */
function given(reason: string | undefined): string | undefined {
  return reason === undefined || reason.trim() === "" ? undefined : reason;
}

/** The stop code and reason a failure carries, those ECS gave. */
function stopDetails(task: Task): { stopCode?: string; stoppedReason?: string } {
  return {
    ...(task.stopCode === undefined ? {} : { stopCode: task.stopCode }),
    ...(task.stoppedReason === undefined ? {} : { stoppedReason: task.stoppedReason }),
  };
}

/** The failure of a task ECS no longer knows (`MISSING`, or absent, on consecutive polls). */
export function missingFailure(polls: number): TaskFailure {
  return {
    kind: "missing",
    reason: `ECS no longer knows the task (missing on ${polls} consecutive polls)`,
  };
}

/** The failure of an attempt RunTask returned in `failures[]`. */
export function launchFailure(failure: {
  reason?: string;
  detail?: string;
  arn?: string;
}): TaskFailure {
  const reason = failure.reason ?? "unknown";
  return {
    kind: "launch",
    reason: `RunTask could not start the task: ${reason}${failure.detail === undefined ? "" : ` (${failure.detail})`}`,
  };
}
