/**
 * Stopping a job's unfinished tasks (DESIGN 3.3, 3.4): StopTask for each, with a reason that
 * names the job and the cause. Reasons never list ARNs: they are read in the console next to the
 * task, where the ARN is already shown, and a list of them would not fit in 255 characters.
 */
import { ecsSdk } from "../aws/sdk.js";
import {
  awsErrorMessage,
  awsErrorName,
  classifyAwsError,
  sendFor,
  type AwsClient,
} from "../aws.js";
import type { Clock } from "../clock.js";
import { ECS_LIMITS } from "../aws/limits.js";
import { silentLogger, type Logger } from "../logger.js";
import { limitedCall, type AdaptiveRateLimiter } from "../aws/rate-limiter.js";

/**
 * The StopTask reason: `ecs-batch-runner: job <jobId> <cause>`, at most 255 characters, with
 * any ARN in the cause replaced by `[arn]`.
 */
export function stopReason(jobId: string, cause: string): string {
  const text =
    `ecs-batch-runner: job ${jobId} ${cause.replace(/arn:aws[a-z-]*:[^\s,;)]*/g, "[arn]")}`
      .replace(/\s+/g, " ")
      .trim();
  return text.length <= ECS_LIMITS.stopReasonMaxLength
    ? text
    : `${text.slice(0, ECS_LIMITS.stopReasonMaxLength - 1)}…`;
}

/**
 * The cause `stopJob` writes after the marker (then `: <reason>` when it is given one): read
 * back as the run's cancel, so neither its owner, if alive, nor a process that attaches later
 * carries on a run the janitor stopped.
 */
export const STOP_JOB_CAUSE = "stopped by stopJob";

/**
 * The cause a task's `stoppedReason` gives after the marker of job `jobId` (`stopReason`), or
 * `undefined` when the runner of that job did not write it.
 */
export function causeInReason(
  jobId: string,
  stoppedReason: string | undefined,
): string | undefined {
  const marker = `ecs-batch-runner: job ${jobId}`;
  if (stoppedReason === marker) return "";
  return stoppedReason?.startsWith(`${marker} `) === true
    ? stoppedReason.slice(marker.length + 1)
    : undefined;
}

/** Whether a task's `stoppedReason` says the runner of job `jobId` stopped it (`stopReason`). */
export function isStoppedByRunner(jobId: string, stoppedReason: string | undefined): boolean {
  return causeInReason(jobId, stoppedReason) !== undefined;
}

/** What the stopper needs from the runner. */
export interface StopperContext {
  readonly ecs: AwsClient;
  readonly clock: Clock;
  readonly limiter: AdaptiveRateLimiter;
  readonly logger?: Logger;
}

/** Sends StopTask, retrying throttling and transient errors until `signal` aborts. */
export class TaskStopper {
  readonly #ctx: StopperContext;
  /** StopTask calls made. */
  calls = 0;

  constructor(ctx: StopperContext) {
    this.#ctx = ctx;
  }

  /**
   * Asks ECS to stop a task. Resolves true once ECS accepted (or the task is already gone),
   * false if it gave up (a non-retryable error, or `signal` aborted). Never rejects.
   */
  async stop(
    cluster: string,
    taskArn: string,
    reason: string,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const log = this.#ctx.logger ?? silentLogger;
    const out = await limitedCall(
      this.#ctx.limiter,
      this.#ctx.clock,
      () => {
        this.calls++;
        // A StopTask cancelled mid-flight hides nothing: the signal may end it at once.
        return sendFor(
          this.#ctx.ecs,
          new (ecsSdk().StopTaskCommand)({ cluster, task: taskArn, reason }),
          signal === undefined ? undefined : { abortSignal: signal },
        );
      },
      {
        backoffMs: (attempt) => Math.min(10_000, 250 * 2 ** attempt),
        ...(signal === undefined ? {} : { signal }),
        onRetry: (error, _attempt, delayMs) =>
          log.warn("StopTask failed; trying again", {
            taskArn,
            error: awsErrorName(error),
            delayMs,
          }),
      },
    );
    if (out.ok) return true;
    if (out.aborted || signal?.aborted === true) return false;
    const name = awsErrorName(out.error);
    // "The referenced task was not found": ECS already forgot it, so it is not running.
    if (classifyAwsError(out.error) === "notFound") return true;
    log.error("StopTask failed", { taskArn, error: `${name}: ${awsErrorMessage(out.error)}` });
    return false;
  }
}
