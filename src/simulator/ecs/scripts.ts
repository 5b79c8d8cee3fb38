/**
 * Scripts: what a test says a task does. Each task gets the merge of every script whose matcher
 * fits its context (later scripts win field by field, `times` limits how many tasks a script
 * applies to), and the scripted executor plays the merged script through the lifecycle.
 */
import type { TaskDefinition, TaskOverride } from "@aws-sdk/client-ecs";
import { serviceError } from "../errors.js";
import type { TaskContext, TaskExecutor, TaskMatcher, TaskScript } from "./types.js";

/** The scripts added so far, in order. */
export class TaskScripts {
  readonly #entries: { matcher: TaskMatcher; script: TaskScript; times: number; used: number }[] =
    [];

  add(matcher: TaskMatcher, script: TaskScript, times: number): void {
    this.#entries.push({ matcher, script, times, used: 0 });
  }

  /** The merged script of a new task; each script that applies counts one use. */
  for(context: TaskContext): TaskScript {
    let script: TaskScript = {};
    for (const entry of this.#entries) {
      if (entry.used >= entry.times || !matches(entry.matcher, context)) continue;
      entry.used++;
      script = { ...script, ...entry.script };
    }
    return script;
  }
}

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

/** What matchers see of a task, read from the RunTask request's tags and environment. */
export function taskContext(
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

/** The error a script's `runTaskError` makes RunTask throw. */
export function scriptedRunTaskError(error: string | Error): Error {
  return typeof error === "string" ? serviceError(error, defaultErrorMessage(error)) : error;
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
