/**
 * Checkpointing a run into a `JobStore` while it runs (DESIGN 3.11): the first checkpoint
 * before the first RunTask, then at most one write per poll interval while something changed,
 * the lease renewed on the same beat, and the last one when the run ends. Writes are
 * coalesced because every request of a run is deterministic (its client token derives from
 * the run, the slot and the attempt): what happened between two writes is found again in ECS
 * by the process that attaches, without launching anything twice.
 */
import type { AwsVpcConfiguration } from "@aws-sdk/client-ecs";
import { awsErrorMessage, awsErrorName } from "../aws.js";
import { sleepUnlessAborted, type Clock } from "../clock.js";
import type { JobCheckpoints, JobState, StopCause } from "../execution/job.js";
import type { SlotState } from "../execution/slot.js";
import { textOf, type Logger } from "../logger.js";
import type { JobResult, TaskFailure } from "../result.js";
import {
  CHECKPOINT_VERSION,
  storedFailure,
  type Checkpoint,
  type CheckpointSlot,
  type CheckpointStopCause,
} from "./checkpoint.js";
import { EcsBatchLeaseError, type JobStore, type Lease } from "./store.js";

/** The checkpoint text written per beat at most, on average: larger ones are written less often. */
const BYTES_PER_BEAT = 1_000_000;

/** What a run's checkpoints say besides its state. */
export interface RunRecord {
  readonly jobId: string;
  readonly runId: string;
  readonly cluster: string;
  readonly taskDefinitionArn: string;
  readonly network?: AwsVpcConfiguration;
  readonly fingerprint: Readonly<Record<string, string>>;
  readonly startedAt: number;
  readonly deadline: number;
  /** The number of the last write of the run (by any process): this one's writes follow it. */
  readonly seq?: number;
}

/** What `StoreCheckpoints` needs. */
export interface StoreCheckpointsContext {
  readonly store: JobStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The run's lease, already acquired. */
  readonly lease: Lease;
  /** How long a lease lasts unless renewed. */
  readonly leaseTtlMs: number;
  /** The beat of writes and renewals: the job's poll interval, at most a third of the TTL. */
  readonly intervalMs: number;
}

/** A job's checkpoints in a store, under its lease. */
export class StoreCheckpoints implements JobCheckpoints {
  readonly #ctx: StoreCheckpointsContext;
  readonly #run: RunRecord;
  #lease: Lease;
  #dirty = false;
  #state: JobState | undefined;
  readonly #stopped = new AbortController();
  #writing: Promise<void> = Promise.resolve();
  /** Checkpoints written for this run. */
  writes = 0;
  /** Each slot's checkpoint text, kept while the slot's state is unchanged. */
  readonly #slotText = new WeakMap<SlotState, string>();
  /** The size of the last full checkpoint written, in characters. */
  #lastBytes = 0;
  /** The size of the changes appended since it. */
  #changesBytes = 0;
  /** Grows with every write, so a reader tells changes older than a checkpoint. */
  #seq = 0;
  /** The slots as the store has them (the last write that succeeded). */
  #written: readonly SlotState[] | undefined;

  constructor(ctx: StoreCheckpointsContext, run: RunRecord) {
    this.#ctx = ctx;
    this.#run = run;
    this.#lease = ctx.lease;
    this.#seq = run.seq ?? 0;
  }

  async started(state: JobState, onLost: (error: EcsBatchLeaseError) => void): Promise<void> {
    this.#state = state;
    await this.#write(state, undefined);
    void this.#beat(onLost);
  }

  /** Numbers this process's writes after `seq`, the last write read back under the lease. */
  continueFrom(seq: number): void {
    this.#seq = Math.max(this.#seq, seq);
  }

  changed(): void {
    this.#dirty = true;
  }

  async finished(state: JobState, result: JobResult | undefined): Promise<void> {
    this.#stopped.abort();
    await this.#writing.catch(() => undefined);
    try {
      if (result !== undefined) await this.#write(state, result);
      await this.#ctx.store.release(this.#lease);
    } catch (error) {
      this.#ctx.logger.error("the run's last checkpoint could not be saved", {
        jobId: this.#run.jobId,
        runId: this.#run.runId,
        error: `${awsErrorName(error)}: ${awsErrorMessage(error)}`,
      });
    }
  }

  /**
   * Each beat: renew the lease; write if anything changed since the last write, and if the
   * beats since then carry at most `BYTES_PER_BEAT` each: a 10,000-slot run's 4 MB checkpoint
   * is written every fifth poll. What happens between two writes is read back from ECS on
   * attach (ECS keeps stopped tasks about an hour; the gap is at most a few minutes).
   */
  async #beat(onLost: (error: EcsBatchLeaseError) => void): Promise<void> {
    const { clock, store, leaseTtlMs, intervalMs } = this.#ctx;
    let beats = 0;
    while (await sleepUnlessAborted(clock, intervalMs, this.#stopped.signal)) {
      beats++;
      try {
        this.#lease = await store.renew(this.#lease, leaseTtlMs, clock.now());
        const due =
          this.#ctx.store.append !== undefined || beats * BYTES_PER_BEAT >= this.#lastBytes;
        if (this.#dirty && due && this.#state !== undefined) {
          beats = 0;
          this.#dirty = false;
          this.#writing = this.#write(this.#state, undefined);
          await this.#writing;
        }
      } catch (error) {
        if (error instanceof EcsBatchLeaseError) {
          this.#stopped.abort();
          onLost(error);
          return;
        }
        // A store that fails for a while (a full disk, a network blip) is retried next beat:
        // the run goes on, and the next write carries everything since.
        this.#dirty = true;
        this.#ctx.logger.warn("a checkpoint could not be saved; trying again next poll", {
          jobId: this.#run.jobId,
          runId: this.#run.runId,
          error: textOf(error),
        });
      }
    }
  }

  /**
   * Writes the run: its changes since the last write when the store takes them (and they are
   * still smaller than the run itself), otherwise all of it. The last write is always whole.
   */
  async #write(state: JobState, result: JobResult | undefined): Promise<void> {
    const store = this.#ctx.store;
    const key = { jobId: this.#run.jobId, runId: this.#run.runId };
    const now = this.#ctx.clock.now();
    // Counted on success only: a reader applies changes whose numbers follow on.
    const seq = this.#seq + 1;
    const written = this.#written;
    if (
      store.append !== undefined &&
      result === undefined &&
      written !== undefined &&
      this.#changesBytes < this.#lastBytes
    ) {
      const next = [...written];
      const changed: SlotState[] = [];
      state.slots.forEach((slot, i) => {
        const before = written[i];
        if (before === undefined || movedOn(before, slot)) {
          changed.push(slot);
          next[i] = slot;
        }
      });
      const text = checkpointText(this.#run, { ...state, slots: changed }, undefined, now, {
        seq,
        cache: this.#slotText,
        taskCount: state.slots.length,
      });
      await store.append(key, text, this.#lease);
      this.#changesBytes += text.length;
      this.#written = next;
    } else {
      const text = checkpointText(this.#run, state, result, now, { seq, cache: this.#slotText });
      await store.save(key, text, this.#lease);
      this.#lastBytes = text.length;
      this.#changesBytes = 0;
      this.#written = [...state.slots];
    }
    this.#seq = seq;
    this.writes++;
  }
}

/**
 * Whether a slot changed in a way a checkpoint must carry: anything but the task's last status
 * seen, which the first poll after an attach reads again (a task's PROVISIONING, PENDING and
 * RUNNING would otherwise be three changes to write per task).
 */
function movedOn(before: SlotState, after: SlotState): boolean {
  if (before === after) return false;
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    if (key === "lastStatus") continue;
    if (before[key as keyof SlotState] !== after[key as keyof SlotState]) return true;
  }
  return false;
}

/**
 * The checkpoint as JSON text (or, given only the slots that changed, a change to append). A
 * slot's state is a new object whenever it changes, so the text of each unchanged slot is
 * reused from the last write (`cache`): a poll changes a few hundred slots of a 10,000-slot
 * run, and serialising the other thousands again was most of a write.
 */
export function checkpointText(
  run: RunRecord,
  state: JobState,
  result: JobResult | undefined,
  now: number,
  options: {
    readonly seq?: number;
    readonly cache?: WeakMap<SlotState, string>;
    /** The run's slots, when `state` holds only those that changed. */
    readonly taskCount?: number;
  } = {},
): string {
  const cache = options.cache ?? new WeakMap<SlotState, string>();
  const slots = state.slots.map((slot) => {
    let text = cache.get(slot);
    if (text === undefined) {
      text = JSON.stringify(storedSlot(slot));
      cache.set(slot, text);
    }
    return text;
  });
  const { slots: _slots, ...rest } = checkpointOf(run, { ...state, slots: [] }, result, now);
  const head = JSON.stringify({
    ...rest,
    taskCount: options.taskCount ?? state.slots.length,
    ...(options.seq === undefined ? {} : { seq: options.seq }),
  });
  return `${head.slice(0, -1)},"slots":[${slots.join(",")}]}`;
}

/** The checkpoint of a run's state (and, once it finished, its outcome). */
export function checkpointOf(
  run: RunRecord,
  state: JobState,
  result: JobResult | undefined,
  now: number,
): Checkpoint {
  return {
    version: CHECKPOINT_VERSION,
    jobId: run.jobId,
    runId: run.runId,
    cluster: run.cluster,
    taskDefinitionArn: run.taskDefinitionArn,
    ...(run.network === undefined ? {} : { network: networkOf(run.network) }),
    fingerprint: { ...run.fingerprint },
    startedAt: run.startedAt,
    deadline: run.deadline,
    taskCount: state.slots.length,
    state: result === undefined ? "running" : "finished",
    ...(state.stopCause === undefined ? {} : { stopCause: storedCause(state.stopCause) }),
    slots: state.slots.map(storedSlot),
    failedTaskArns: [...state.failedTaskArns],
    ...(result === undefined
      ? {}
      : {
          outcome: {
            status: result.status,
            finishedAt: result.finishedAt.getTime(),
            ...(result.error === undefined ? {} : { error: result.error }),
          },
        }),
    savedAt: now,
  };
}

function networkOf(network: AwsVpcConfiguration): NonNullable<Checkpoint["network"]> {
  return {
    subnets: [...(network.subnets ?? [])],
    ...(network.securityGroups === undefined
      ? {}
      : { securityGroups: [...network.securityGroups] }),
    ...(network.assignPublicIp === undefined ? {} : { assignPublicIp: network.assignPublicIp }),
  };
}

function storedSlot(slot: SlotState): CheckpointSlot {
  return {
    index: slot.index,
    taskName: slot.taskName,
    phase: slot.phase,
    attempts: slot.attempts,
    applicationFailures: slot.applicationFailures,
    launchFailures: slot.launchFailures,
    ...(slot.taskArn === undefined ? {} : { taskArn: slot.taskArn }),
    ...(slot.lastStatus === undefined ? {} : { lastStatus: slot.lastStatus }),
    failedTaskArns: [...slot.failedTaskArns],
    ...(slot.exitCode === undefined ? {} : { exitCode: slot.exitCode }),
    ...(slot.stopCode === undefined ? {} : { stopCode: slot.stopCode }),
    ...(slot.stoppedReason === undefined ? {} : { stoppedReason: slot.stoppedReason }),
    ...(slot.lastFailure === undefined ? {} : { lastFailure: storedFailure(slot.lastFailure) }),
    ...(slot.failedAt === undefined ? {} : { failedAt: slot.failedAt }),
    ...(slot.stoppedAt === undefined ? {} : { stoppedAt: slot.stoppedAt }),
    stopRequested: slot.stopRequested,
    ...(slot.retryAt === undefined ? {} : { retryAt: slot.retryAt }),
    ...(slot.report === undefined
      ? {}
      : {
          report: {
            failure: storedFailure(slot.report.failure),
            willRetry: slot.report.willRetry,
            ...(slot.report.taskArn === undefined ? {} : { taskArn: slot.report.taskArn }),
          },
        }),
  };
}

function storedCause(cause: StopCause): CheckpointStopCause {
  switch (cause.kind) {
    case "exhausted":
      return {
        kind: "exhausted",
        taskIndex: cause.taskIndex,
        failure: storedFailure(cause.failure),
      };
    case "timeout":
      return { kind: "timeout", timeoutMs: cause.timeoutMs };
    case "cancel":
      return cause.reason === undefined
        ? { kind: "cancel" }
        : { kind: "cancel", reason: cause.reason };
    case "fatal":
      return {
        kind: "fatal",
        error: { name: awsErrorName(cause.error), message: awsErrorMessage(cause.error) },
      };
  }
}

/** A stopped run's cause as the job knows it again: a fatal error keeps its name and message. */
export function causeOf(stored: CheckpointStopCause): StopCause {
  switch (stored.kind) {
    case "exhausted":
      return { kind: "exhausted", taskIndex: stored.taskIndex, failure: failureOf(stored.failure) };
    case "timeout":
      return { kind: "timeout", timeoutMs: stored.timeoutMs };
    case "cancel":
      return stored.reason === undefined
        ? { kind: "cancel" }
        : { kind: "cancel", reason: stored.reason };
    case "fatal": {
      const error = new Error(stored.error.message);
      error.name = stored.error.name;
      return { kind: "fatal", error };
    }
  }
}

function failureOf(stored: CheckpointSlot["lastFailure"] & object): TaskFailure {
  return { ...stored };
}

/** A checkpoint's slots as the job's state: slots in a final phase have ended. */
export function slotsOf(checkpoint: Checkpoint): SlotState[] {
  return checkpoint.slots.map((s) => {
    const final = s.phase === "succeeded" || s.phase === "failed" || s.phase === "stopped";
    return {
      ...s,
      ...(s.lastFailure === undefined ? {} : { lastFailure: failureOf(s.lastFailure) }),
      ...(s.report === undefined
        ? {}
        : { report: { ...s.report, failure: failureOf(s.report.failure) } }),
      ended: final,
    };
  });
}
