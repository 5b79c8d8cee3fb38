/**
 * The vocabulary of a job's execution: failures, per-task results and the job result.
 * These are plain data so a host can serialise them (and so a job can later be resumed).
 */

/**
 * Why an attempt failed (DESIGN 3.2):
 * - `launch`: RunTask returned it in `failures[]` (`AGENT`, `RESOURCE:*`, capacity) or threw a retryable error;
 * - `start`: it never ran (`TaskFailedToStart`, an image that cannot be pulled, ...);
 * - `exit`: an essential container exited non-zero;
 * - `interrupted`: Fargate Spot reclaimed it;
 * - `stopped`: someone other than this runner stopped it;
 * - `missing`: ECS no longer knows the task.
 */
export type FailureKind = "launch" | "start" | "exit" | "interrupted" | "stopped" | "missing";

/** A failed attempt, as classified from what ECS reported. */
export interface TaskFailure {
  readonly kind: FailureKind;
  /** One line a human can act on. */
  readonly reason: string;
  /** Exit code of the container that decided the failure; `null` when it never exited. */
  readonly exitCode?: number | null;
  readonly stopCode?: string;
  readonly stoppedReason?: string;
  /** The container that decided the failure. */
  readonly container?: string;
  /** The last lines of that container's log (formatted like `JobResult.logs`), when it logs to awslogs. */
  readonly logTail?: string;
}

/** Final state of a job. */
export type JobStatus = "succeeded" | "failed" | "timedOut" | "cancelled";

/** Final state of one task slot. `stopped` means this runner stopped it (timeout, give-up, cancel). */
export type TaskResultStatus = "succeeded" | "failed" | "stopped";

/** One task slot of a finished job. */
export interface TaskResult {
  readonly index: number;
  readonly taskName: string;
  readonly status: TaskResultStatus;
  /** Attempts made, launch failures included. 0 when the slot never launched. */
  readonly attempts: number;
  /** ARN of the last attempt that reached ECS. */
  readonly taskArn?: string;
  /** ARNs of this slot's failed attempts, oldest first. */
  readonly failedTaskArns: readonly string[];
  readonly exitCode?: number | null;
  readonly stopCode?: string;
  readonly stoppedReason?: string;
  /** The last failure of this slot, if any. */
  readonly lastFailure?: TaskFailure;
}

/** The logs of the representative task (DESIGN 3.6). */
export type JobLogs =
  | {
      readonly taskIndex: number;
      readonly taskArn: string;
      /** Where a CLI should print `text`: `stdout` on success, `stderr` otherwise. */
      readonly stream: "stdout" | "stderr";
      readonly text: string;
    }
  | { readonly error: string };

/** Logs of one task, for `logs.fetch: "all"`. */
export interface TaskLogs {
  readonly taskIndex: number;
  readonly taskArn: string;
  readonly text: string;
  readonly error?: string;
}

/** The complete outcome of a job (DESIGN 2.3). */
export interface JobResult {
  readonly jobId: string;
  /** This run of the job (DESIGN 3.1): generated, or given in the run options. */
  readonly runId: string;
  readonly status: JobStatus;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly taskDefinitionArn: string;
  readonly tasks: readonly TaskResult[];
  /** Every failed attempt of every task, in the order they failed. */
  readonly failedTaskArns: readonly string[];
  readonly logs?: JobLogs;
  /** Every task's final attempt, when `logs.fetch` is `"all"`. */
  readonly taskLogs?: readonly TaskLogs[];
  /** Why the job could not proceed (a non-retryable AWS error, an exhausted task, ...). */
  readonly error?: { readonly code: string; readonly message: string };
}
