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
import { initialSlot, type SlotState } from "../execution/slot.js";
import { textOf, type Logger } from "../logger.js";
import type { JobResult, TaskFailure } from "../result.js";
import {
  CHECKPOINT_VERSION,
  storedFailure,
  type Checkpoint,
  type CheckpointSlot,
  type CheckpointStopCause,
  type StoredCheckpoint,
  type StoredSlot,
} from "./checkpoint.js";
import {
  EcsBatchLeaseError,
  renewed,
  type JobStore,
  type Lease,
  type LeaseRenewal,
} from "./store.js";

/** The checkpoint text written per beat at most, on average: larger ones are written less often. */
const BYTES_PER_BEAT = 1_000_000;
/**
 * Changes are appended until they outgrow the last whole checkpoint this many times (and this
 * floor): then the run is written whole again, so an attach reads a few times the run's size at
 * most, and a 10,000-slot run is written whole once, at its start.
 */
const CHANGES_PER_CHECKPOINT = 4;
const CHANGES_FLOOR_BYTES = 16_000_000;

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
  /** The beat's store work in flight, which the run's last write waits for. */
  #beating: Promise<boolean> = Promise.resolve(true);
  /** Checkpoints written for this run. */
  writes = 0;
  /** The size of the last full checkpoint written, in characters. */
  #lastBytes = 0;
  /** The size of the changes appended since it. */
  #changesBytes = 0;
  /** Grows with every write, so a reader tells changes older than a checkpoint. */
  #seq = 0;
  /**
   * The slots as the store has them (the last write that succeeded): copies, since the job
   * changes its slots in place.
   */
  #written: SlotState[] | undefined;
  /** Slots replaced since the last write that succeeded, each once (`#isStepped`). */
  #stepped: number[] = [];
  /** One flag per slot: 1 while the slot is in `#stepped`. */
  #isStepped = new Uint8Array(0);
  /** The run's own fields as last written: a write with no slot moved and these unchanged is skipped. */
  #writtenRun: { failedTaskArns: number; stopCause: StopCause | undefined } | undefined;

  constructor(ctx: StoreCheckpointsContext, run: RunRecord) {
    this.#ctx = ctx;
    this.#run = run;
    this.#lease = ctx.lease;
    this.#seq = run.seq ?? 0;
  }

  async started(state: JobState, onLost: (error: EcsBatchLeaseError) => void): Promise<void> {
    this.#state = state;
    this.#isStepped = new Uint8Array(state.slots.length);
    await this.#write(state, undefined);
    void this.#beat(onLost);
  }

  /** Numbers this process's writes after `seq`, the last write read back under the lease. */
  continueFrom(seq: number): void {
    this.#seq = Math.max(this.#seq, seq);
  }

  changed(index: number): void {
    this.#dirty = true;
    this.#step(index);
  }

  #step(index: number): void {
    if (this.#isStepped[index] === 1) return;
    this.#isStepped[index] = 1;
    this.#stepped.push(index);
  }

  async finished(state: JobState, result: JobResult | undefined): Promise<void> {
    this.#stopped.abort();
    await this.#beating.catch(() => false);
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
   * Each beat: renew the lease (with the write, when the store appends changes); write if
   * anything changed since the last write, and if the beats since then carry at most
   * `BYTES_PER_BEAT` each: a 10,000-slot run's 4 MB checkpoint is written every fifth poll.
   * What happens between two writes is read back from ECS on attach (ECS keeps stopped tasks
   * about an hour; the gap is at most a few minutes).
   */
  async #beat(onLost: (error: EcsBatchLeaseError) => void): Promise<void> {
    const { intervalMs } = this.#ctx;
    let beats = 0;
    while (await sleepUnlessAborted(this.#ctx.clock, intervalMs, this.#stopped.signal)) {
      beats++;
      const write =
        this.#dirty &&
        (this.#ctx.store.append !== undefined || beats * BYTES_PER_BEAT >= this.#lastBytes);
      if (write) beats = 0;
      this.#beating = this.#storeBeat(write, onLost);
      if (!(await this.#beating)) return;
    }
  }

  /** One beat's store work: the write when due, and the renewal. False once the lease is lost. */
  async #storeBeat(write: boolean, onLost: (error: EcsBatchLeaseError) => void): Promise<boolean> {
    const { clock, store, leaseTtlMs } = this.#ctx;
    let renewed = false;
    try {
      if (write && this.#state !== undefined) {
        this.#dirty = false;
        renewed = await this.#write(this.#state, undefined, {
          ttlMs: leaseTtlMs,
          now: clock.now(),
        });
      }
    } catch (error) {
      if (!this.#failed(error, onLost)) return false;
    }
    try {
      if (!renewed) this.#lease = await store.renew(this.#lease, leaseTtlMs, clock.now());
    } catch (error) {
      return this.#failed(error, onLost);
    }
    return true;
  }

  /**
   * A beat's write or renewal failed: a lost lease ends the beats (`false`); any other failure
   * (a full disk, a network blip) is retried next beat, and the next write carries everything
   * since.
   */
  #failed(error: unknown, onLost: (error: EcsBatchLeaseError) => void): boolean {
    if (error instanceof EcsBatchLeaseError) {
      if (!this.#stopped.signal.aborted) {
        this.#stopped.abort();
        onLost(error);
      }
      return false;
    }
    this.#dirty = true;
    this.#ctx.logger.warn("a checkpoint could not be saved; trying again next poll", {
      jobId: this.#run.jobId,
      runId: this.#run.runId,
      error: textOf(error),
    });
    return true;
  }

  /**
   * Writes the run: its changes since the last write when the store takes them (until they
   * outgrow the run itself), otherwise all of it. Only the slots stepped since the last write
   * are compared, so a write costs what changed, not the run's size. Given `renewal`, a change
   * renews the lease as it is appended; returns whether the lease was renewed.
   */
  async #write(
    state: JobState,
    result: JobResult | undefined,
    renewal?: LeaseRenewal,
  ): Promise<boolean> {
    const store = this.#ctx.store;
    const key = { jobId: this.#run.jobId, runId: this.#run.runId };
    const now = this.#ctx.clock.now();
    // Counted on success only: a reader applies changes whose numbers follow on.
    const seq = this.#seq + 1;
    const written = this.#written;
    const stepped = this.#stepped;
    this.#stepped = [];
    this.#isStepped.fill(0);
    let leaseRenewed = false;
    try {
      if (
        store.append !== undefined &&
        written !== undefined &&
        this.#changesBytes < Math.max(CHANGES_PER_CHECKPOINT * this.#lastBytes, CHANGES_FLOOR_BYTES)
      ) {
        const changed: SlotState[] = [];
        for (const i of stepped) {
          const slot = state.slots[i] as SlotState;
          if (movedOn(written[i], slot)) changed.push({ ...slot });
        }
        if (changed.length === 0 && result === undefined && !this.#runMoved(state)) return false;
        const text = changeText(state, changed, result, now, {
          seq,
          failedBefore: this.#writtenRun?.failedTaskArns ?? 0,
        });
        await store.append(key, text, this.#lease, renewal);
        if (renewal !== undefined) {
          this.#lease = { ...this.#lease, expiresAt: renewed(this.#lease, renewal).expiresAt };
          leaseRenewed = true;
        }
        this.#changesBytes += text.length;
        for (const slot of changed) written[slot.index] = slot;
      } else {
        // The slots as serialised: a slot that steps while the save is in flight is written next.
        const slots = state.slots.map((slot) => ({ ...slot }));
        const text = checkpointText(this.#run, state, result, now, { seq });
        await store.save(key, text, this.#lease);
        this.#lastBytes = text.length;
        this.#changesBytes = 0;
        this.#written = slots;
      }
    } catch (error) {
      for (const i of stepped) this.#step(i);
      throw error;
    }
    this.#writtenRun = { failedTaskArns: state.failedTaskArns.length, stopCause: state.stopCause };
    this.#seq = seq;
    this.writes++;
    return leaseRenewed;
  }

  /** Whether the run's own fields changed since the last write. */
  #runMoved(state: JobState): boolean {
    const last = this.#writtenRun;
    return (
      last === undefined ||
      last.failedTaskArns !== state.failedTaskArns.length ||
      last.stopCause !== state.stopCause
    );
  }
}

/**
 * The fields of a slot a change must carry when they move: every field a checkpoint holds but
 * the index and the task's last status seen, which the first poll after an attach reads again
 * (a task's PROVISIONING, PENDING and RUNNING would otherwise be three changes to write per
 * task). Typed as a record so that a field added to the checkpoint's slots must be listed here.
 */
const FOLLOWED: Record<Exclude<keyof StoredSlot, "index" | "lastStatus">, true> = {
  phase: true,
  attempts: true,
  applicationFailures: true,
  launchFailures: true,
  taskArn: true,
  failedTaskArns: true,
  exitCode: true,
  stopCode: true,
  stoppedReason: true,
  lastFailure: true,
  failedAt: true,
  stoppedAt: true,
  stopRequested: true,
  retryAt: true,
  report: true,
};
const FOLLOWED_FIELDS = Object.keys(FOLLOWED) as (keyof typeof FOLLOWED)[];

/** Whether a slot changed in a way a checkpoint must carry. */
function movedOn(before: SlotState | undefined, after: SlotState): boolean {
  if (before === undefined) return true;
  return FOLLOWED_FIELDS.some((field) => before[field] !== after[field]);
}

/**
 * The checkpoint as JSON text. The slots go last, so a reader can parse the run's own fields
 * without them.
 */
export function checkpointText(
  run: RunRecord,
  state: JobState,
  result: JobResult | undefined,
  now: number,
  options: { readonly seq?: number } = {},
): string {
  const { slots, ...rest } = checkpointOf(run, state, result, now);
  const head = JSON.stringify({
    ...rest,
    ...(options.seq === undefined ? {} : { seq: options.seq }),
  });
  return `${head.slice(0, -1)},"slots":${JSON.stringify(slots)}}`;
}

/**
 * A change to append (one line of JSON): the run's fields that move, the tasks that failed
 * since the last write (`failedTaskArns` grows only), and the slots that moved on. A reader
 * applies it over what it read before, so the run's identity, which never changes, is left out.
 */
function changeText(
  state: JobState,
  changed: readonly SlotState[],
  result: JobResult | undefined,
  now: number,
  options: { readonly seq: number; readonly failedBefore: number },
): string {
  const failed = state.failedTaskArns.slice(options.failedBefore);
  const head = JSON.stringify({
    seq: options.seq,
    state: result === undefined ? "running" : "finished",
    ...(state.stopCause === undefined ? {} : { stopCause: storedCause(state.stopCause) }),
    ...(failed.length === 0 ? {} : { failedTaskArnsAdded: failed }),
    ...(result === undefined ? {} : { outcome: outcomeOf(result) }),
    savedAt: now,
  });
  return `${head.slice(0, -1)},"slots":${JSON.stringify(changed.map(storedSlot))}}`;
}

/** The checkpoint of a run's state (and, once it finished, its outcome). */
export function checkpointOf(
  run: RunRecord,
  state: JobState,
  result: JobResult | undefined,
  now: number,
): StoredCheckpoint {
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
    ...(result === undefined ? {} : { outcome: outcomeOf(result) }),
    savedAt: now,
  };
}

function outcomeOf(result: JobResult): NonNullable<Checkpoint["outcome"]> {
  return {
    status: result.status,
    finishedAt: result.finishedAt.getTime(),
    ...(result.error === undefined ? {} : { error: result.error }),
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

/**
 * A slot as a checkpoint holds it. Fields left undefined are left out of the JSON, and so are
 * those at their initial value (a 10,000-task run's first checkpoint is mostly such slots).
 */
function storedSlot(slot: SlotState): StoredSlot {
  const report = slot.report;
  return {
    index: slot.index,
    phase: slot.phase,
    attempts: slot.attempts,
    applicationFailures: slot.applicationFailures === 0 ? undefined : slot.applicationFailures,
    launchFailures: slot.launchFailures === 0 ? undefined : slot.launchFailures,
    taskArn: slot.taskArn,
    lastStatus: slot.lastStatus,
    failedTaskArns: slot.failedTaskArns.length === 0 ? undefined : [...slot.failedTaskArns],
    exitCode: slot.exitCode,
    stopCode: slot.stopCode,
    stoppedReason: slot.stoppedReason,
    lastFailure: slot.lastFailure === undefined ? undefined : storedFailure(slot.lastFailure),
    failedAt: slot.failedAt,
    stoppedAt: slot.stoppedAt,
    stopRequested: slot.stopRequested ? true : undefined,
    retryAt: slot.retryAt,
    report:
      report === undefined
        ? undefined
        : {
            failure: storedFailure(report.failure),
            willRetry: report.willRetry,
            taskArn: report.taskArn,
          },
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

/**
 * A checkpoint's slots as the job's state: slots in a final phase have ended.
 * @param nameOf the task name of a slot, from the job (checkpoints do not hold it)
 */
export function slotsOf(checkpoint: Checkpoint, nameOf: (index: number) => string): SlotState[] {
  return checkpoint.slots.map((s) => {
    const final = s.phase === "succeeded" || s.phase === "failed" || s.phase === "stopped";
    return {
      // The fields in the order and shape of a slot the job made itself.
      ...initialSlot(s.index, nameOf(s.index)),
      ...s,
      ...(s.lastFailure === undefined ? {} : { lastFailure: failureOf(s.lastFailure) }),
      ...(s.report === undefined
        ? {}
        : { report: { ...s.report, failure: failureOf(s.report.failure) } }),
      ended: final,
    };
  });
}
