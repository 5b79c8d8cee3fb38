/**
 * Which task's logs go into the result (DESIGN 3.6): on success the task that stopped last
 * (ties: the higher index), on failure the last attempt of the task that exhausted its retries,
 * on timeout or cancel the unfinished task with the lowest index. Success goes to stdout,
 * everything else to stderr.
 */
import type { JobStatus } from "../result.js";

/** What the choice reads of a task slot (a job's `SlotState` fits). */
export interface RepresentativeCandidate {
  readonly index: number;
  /** `succeeded` and `failed` are final verdicts; anything else is unfinished or stopped. */
  readonly phase: string;
  /** The slot's last attempt that reached ECS. */
  readonly taskArn?: string;
  /** When that task stopped (ms since epoch). */
  readonly stoppedAt?: number;
  /** When the slot last failed (ms since epoch). */
  readonly failedAt?: number;
  readonly lastFailure?: { readonly reason: string };
}

/** What the choice reads of a job (a `JobState` fits): its slots and why it stopped. */
export interface RepresentativeJob<S extends RepresentativeCandidate> {
  readonly slots: readonly S[];
  readonly stopCause?: { readonly kind: string; readonly taskIndex?: number };
}

/** The representative task, or why there is none. */
export type Representative<S extends RepresentativeCandidate = RepresentativeCandidate> =
  | { readonly slot: S; readonly taskArn: string; readonly stream: "stdout" | "stderr" }
  | { readonly error: string };

/** Picks the task whose logs represent the job. Pure. */
export function representativeTask<S extends RepresentativeCandidate>(
  state: RepresentativeJob<S>,
  status: JobStatus,
): Representative<S> {
  const slots = state.slots;
  if (status === "succeeded") {
    let best: S | undefined;
    for (const s of slots) {
      if (s.taskArn === undefined) continue;
      if (best === undefined || (s.stoppedAt ?? 0) >= (best.stoppedAt ?? 0)) best = s;
    }
    return best === undefined
      ? { error: "no task ran" }
      : { slot: best, taskArn: best.taskArn as string, stream: "stdout" };
  }
  const cause = state.stopCause;
  if (status === "failed") {
    const slot =
      cause?.kind === "exhausted" && cause.taskIndex !== undefined
        ? slots[cause.taskIndex]
        : // A non-retryable error: the task that failed most recently, else the first that ran.
          (mostRecentFailure(slots) ?? slots.find((s) => s.taskArn !== undefined));
    if (slot?.taskArn === undefined) {
      return {
        error:
          slot === undefined
            ? "no task ran"
            : `task ${slot.index} never started (${slot.lastFailure?.reason ?? "it was not launched"}), so it has no logs`,
      };
    }
    return { slot, taskArn: slot.taskArn, stream: "stderr" };
  }
  const unfinished = slots.find(
    (s) => s.phase !== "succeeded" && s.phase !== "failed" && s.taskArn !== undefined,
  );
  const slot = unfinished ?? slots.find((s) => s.taskArn !== undefined);
  return slot?.taskArn === undefined
    ? { error: "no task ran" }
    : { slot, taskArn: slot.taskArn, stream: "stderr" };
}

function mostRecentFailure<S extends RepresentativeCandidate>(slots: readonly S[]): S | undefined {
  let best: S | undefined;
  for (const s of slots) {
    if (s.failedAt === undefined || s.taskArn === undefined) continue;
    if (best === undefined || s.failedAt >= (best.failedAt ?? 0)) best = s;
  }
  return best;
}
