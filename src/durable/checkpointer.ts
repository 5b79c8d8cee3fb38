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
  addShortSlot,
  CHECKPOINT_VERSION,
  storedFailure,
  TaskArns,
  type Checkpoint,
  type CheckpointSlot,
  type CheckpointStopCause,
  type ShortSlots,
  type StoredCheckpoint,
  type StoredSlot,
} from "./checkpoint.js";
import {
  EcsBatchLeaseError,
  NO_OWNER,
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

const HELD = Promise.resolve(true);
const NOT_HELD = Promise.resolve(false);

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
  /**
   * The store work in flight (a beat's, or a write out of beat): each waits for the one before,
   * so writes are numbered in order, and the run's last write waits for them all. False once
   * the lease is lost.
   */
  #beating: Promise<boolean> = Promise.resolve(true);
  #onLost: (error: EcsBatchLeaseError) => void = () => undefined;
  /** Checkpoints written for this run. */
  writes = 0;
  /** The size of the last full checkpoint written, in characters. */
  #lastBytes = 0;
  /** The size of the changes appended since it. */
  #changesBytes = 0;
  /** Grows with every write, so a reader tells changes older than a checkpoint. */
  #seq = 0;
  /** Whether a whole checkpoint was written: changes are appended to one. */
  #wholeWritten = false;
  /** How this run's task ARNs are written. */
  readonly #arns = new TaskArns();
  /** Slots replaced since the last write that succeeded, each once (`#isStepped`). */
  #stepped: number[] = [];
  /** One flag per slot: 1 while the slot is in `#stepped`. */
  #isStepped = new Uint8Array(0);
  /** The last renewal `leaseHeld` asked for, and when. */
  #leaseCheck: { at: number; held: Promise<boolean> } | undefined;
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
    this.#onLost = onLost;
    this.#isStepped = new Uint8Array(state.slots.length);
    await this.#write(state, undefined);
    void this.#beat();
  }

  /** Numbers this process's writes after `seq`, the last write read back under the lease. */
  continueFrom(seq: number): void {
    this.#seq = Math.max(this.#seq, seq);
  }

  changed(index: number): void {
    this.#dirty = true;
    this.#step(index);
  }

  stopping(): void {
    if (this.#stopped.signal.aborted) return;
    this.#dirty = true;
    void this.#serially(true);
  }

  leaseHeld(): Promise<boolean> {
    if (this.#stopped.signal.aborted) return NOT_HELD;
    // Renewed every beat, a lease keeps a beat or more left; less than half of one means this
    // process slept, or could not renew for a while: it may have passed to another.
    const now = this.#ctx.clock.now();
    const halfBeat = this.#ctx.intervalMs / 2;
    if (this.#lease.expiresAt - now > halfBeat) return HELD;
    // One renewal answers the launches of half a beat: a store that keeps failing (the run goes
    // on meanwhile, as between beats) is not asked once per launch.
    const last = this.#leaseCheck;
    if (last !== undefined && now - last.at < halfBeat) return last.held;
    const held = this.#serially(false);
    this.#leaseCheck = { at: now, held };
    return held;
  }

  #step(index: number): void {
    if (this.#isStepped[index] === 1) return;
    this.#isStepped[index] = 1;
    this.#stepped.push(index);
  }

  async finished(state: JobState, result: JobResult | undefined): Promise<void> {
    if (result === undefined) return this.release();
    await this.#writeLast(state, result, (error) => {
      this.#ctx.logger.error("the run's last checkpoint could not be saved", {
        jobId: this.#run.jobId,
        runId: this.#run.runId,
        error: `${awsErrorName(error)}: ${awsErrorMessage(error)}`,
      });
    });
  }

  async handOver(state: JobState): Promise<void> {
    await this.#writeLast(state, undefined, (error) => {
      this.#ctx.logger.warn(
        "the run's checkpoint could not be saved before it was handed over; the process that attaches finds what happened since the last one in ECS",
        { jobId: this.#run.jobId, runId: this.#run.runId, error: textOf(error) },
      );
    });
  }

  /**
   * The run's last write from this process, after the beats' work in flight, then the lease
   * given back. A write that fails is reported through `failed` and the lease goes back all
   * the same: what the write missed is found in ECS by the process that attaches.
   */
  async #writeLast(
    state: JobState,
    result: JobResult | undefined,
    failed: (error: unknown) => void,
  ): Promise<void> {
    this.#stopped.abort();
    await this.#beating.catch(() => false);
    try {
      await this.#write(state, result);
    } catch (error) {
      failed(error);
    }
    await this.release();
  }

  /**
   * Gives the lease back without writing, when the run does not go on under it (an attach that
   * failed after taking it): the next process then attaches at once rather than after the
   * lease's time to live, and the store lets go of what it keeps open for the run.
   */
  async release(): Promise<void> {
    this.#stopped.abort();
    await this.#beating.catch(() => false);
    try {
      await this.#ctx.store.release(this.#lease);
    } catch (error) {
      this.#ctx.logger.warn("the run's lease could not be given back; it lapses on its own", {
        jobId: this.#run.jobId,
        runId: this.#run.runId,
        error: textOf(error),
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
  async #beat(): Promise<void> {
    const { intervalMs } = this.#ctx;
    let beats = 0;
    while (await sleepUnlessAborted(this.#ctx.clock, intervalMs, this.#stopped.signal)) {
      beats++;
      const write =
        this.#dirty &&
        (this.#ctx.store.append !== undefined || beats * BYTES_PER_BEAT >= this.#lastBytes);
      if (write) beats = 0;
      if (!(await this.#serially(write))) return;
    }
  }

  /** Queues a beat's store work after the work in flight; resolves false once the lease is lost. */
  #serially(write: boolean): Promise<boolean> {
    this.#beating = this.#beating.then((held) => held && this.#storeBeat(write));
    return this.#beating;
  }

  /** One beat's store work: the write when due, and the renewal. False once the lease is lost. */
  async #storeBeat(write: boolean): Promise<boolean> {
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
      if (isVanished(error)) return this.#retake(error);
      if (!this.#failed(error)) return false;
    }
    try {
      if (!renewed) this.#lease = await store.renew(this.#lease, leaseTtlMs, clock.now());
    } catch (error) {
      return isVanished(error) ? this.#retake(error) : this.#failed(error);
    }
    return true;
  }

  /**
   * The run's lease record is gone from the store (a state directory cleaned up, an item
   * deleted by hand). While this process's lease is still good by its clock, nobody can have
   * taken the run over (a successor's record would be there instead), so rather than leave the
   * run's tasks unwatched it takes the lease again and writes the run whole on the next beat.
   * A lease that had lapsed is lost as any other: another process may have carried the run on
   * (and ended it) before the records went.
   */
  async #retake(vanished: EcsBatchLeaseError): Promise<boolean> {
    const { clock, store, leaseTtlMs, logger } = this.#ctx;
    if (this.#stopped.signal.aborted || this.#lease.expiresAt <= clock.now()) {
      return this.#failed(vanished);
    }
    try {
      this.#lease = await store.acquire(
        this.#lease.key,
        this.#lease.owner,
        leaseTtlMs,
        clock.now(),
      );
    } catch (error) {
      return this.#failed(error);
    }
    this.#wholeWritten = false;
    this.#dirty = true;
    logger.warn(
      "the run's lease and checkpoint were removed from the store while this process drove it; it took the lease again and writes the checkpoint anew",
      { jobId: this.#run.jobId, runId: this.#run.runId },
    );
    return true;
  }

  /**
   * A beat's write or renewal failed: a lost lease ends the beats (`false`); any other failure
   * (a full disk, a network blip) is retried next beat, and the next write carries everything
   * since.
   */
  #failed(error: unknown): boolean {
    if (error instanceof EcsBatchLeaseError) {
      if (!this.#stopped.signal.aborted) {
        this.#stopped.abort();
        this.#onLost(error);
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
   * outgrow the run itself), otherwise all of it. A change holds the slots stepped since the
   * last write, so it costs what changed, not the run's size: the job steps a slot only when
   * something a checkpoint holds moved (a status seen again leaves the slot as it was). Given
   * `renewal`, a change renews the lease as it is appended; returns whether the lease was
   * renewed.
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
    const stepped = this.#stepped;
    this.#stepped = [];
    this.#isStepped.fill(0);
    let leaseRenewed = false;
    try {
      if (
        store.append !== undefined &&
        this.#wholeWritten &&
        this.#changesBytes < Math.max(CHANGES_PER_CHECKPOINT * this.#lastBytes, CHANGES_FLOOR_BYTES)
      ) {
        const changed = stepped.map((i) => state.slots[i] as SlotState);
        if (changed.length === 0 && result === undefined && !this.#runMoved(state)) return false;
        const text = changeText(state, changed, result, now, {
          seq,
          failedBefore: this.#writtenRun?.failedTaskArns ?? 0,
          arns: this.#arns,
        });
        await store.append(key, text, this.#lease, renewal);
        if (renewal !== undefined) {
          this.#lease = { ...this.#lease, expiresAt: renewed(this.#lease, renewal).expiresAt };
          leaseRenewed = true;
        }
        this.#changesBytes += text.length;
      } else {
        const text = checkpointText(this.#run, state, result, now, { seq, arns: this.#arns });
        await store.save(key, text, this.#lease);
        this.#lastBytes = text.length;
        this.#changesBytes = 0;
        this.#wholeWritten = true;
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

/** A lease error saying the run has no lease record in the store at all. */
function isVanished(error: unknown): error is EcsBatchLeaseError {
  return error instanceof EcsBatchLeaseError && error.owner === NO_OWNER;
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
  options: { readonly seq?: number; readonly arns?: TaskArns } = {},
): string {
  const { slots, ...rest } = checkpointOf(run, state, result, now, options.arns);
  const head = JSON.stringify({
    ...rest,
    ...(options.seq === undefined ? {} : { seq: options.seq }),
  });
  return `${head.slice(0, -1)},"slots":${JSON.stringify(slots)}}`;
}

/**
 * A change to append (one line of JSON): the run's fields that move, the tasks that failed
 * since the last write (`failedTaskArns` grows only), and the slots that moved on (the
 * commonest records in short form, `ShortSlots`). A reader applies it over what it read
 * before, so the run's identity, which never changes, is left out.
 */
function changeText(
  state: JobState,
  changed: readonly SlotState[],
  result: JobResult | undefined,
  now: number,
  options: { readonly seq: number; readonly failedBefore: number; readonly arns: TaskArns },
): string {
  const { arns } = options;
  const records: StoredSlot[] = [];
  const short: ShortSlots = { started: [], exited0: [] };
  for (const slot of changed) {
    if (!addShortSlot(short, slot, arns)) {
      records.push(storedSlot(slot, arns));
    }
  }
  // Before the head: the first task ARN written sets the prefix the head then carries.
  const slots = JSON.stringify(records);
  const started = JSON.stringify(short.started);
  const exited0 = JSON.stringify(short.exited0);
  const failed = state.failedTaskArns.slice(options.failedBefore).map((arn) => arns.short(arn));
  const head = JSON.stringify({
    seq: options.seq,
    state: result === undefined ? "running" : "finished",
    ...(state.stopCause === undefined ? {} : { stopCause: storedCause(state.stopCause) }),
    ...(failed.length === 0 ? {} : { failedTaskArnsAdded: failed }),
    ...(result === undefined ? {} : { outcome: outcomeOf(result) }),
    ...(arns.prefix === undefined ? {} : { taskArnPrefix: arns.prefix }),
    savedAt: now,
  });
  return `${head.slice(0, -1)},"slots":${slots},"started":${started},"exited0":${exited0}}`;
}

/**
 * Writes `cause` as the cause of a run that did not record one, after `checkpoint` (the run as
 * read under `lease`): appended as a change when the store takes changes, else the checkpoint
 * saved whole with it. For a process that stops a run it does not drive (`stopJob`).
 */
export async function writeStopCause(
  store: JobStore,
  lease: Lease,
  checkpoint: Checkpoint,
  cause: CheckpointStopCause,
  now: number,
): Promise<void> {
  const change = { seq: (checkpoint.seq ?? 0) + 1, stopCause: cause, savedAt: now };
  if (store.append !== undefined) {
    await store.append(lease.key, JSON.stringify(change), lease);
  } else {
    await store.save(lease.key, JSON.stringify({ ...checkpoint, ...change }), lease);
  }
}

/** The checkpoint of a run's state (and, once it finished, its outcome). */
export function checkpointOf(
  run: RunRecord,
  state: JobState,
  result: JobResult | undefined,
  now: number,
  arns = new TaskArns(),
): StoredCheckpoint {
  // Before the rest: the first task ARN written sets the prefix the checkpoint then carries.
  const slots = storedSlots(state.slots, arns);
  const failedTaskArns = state.failedTaskArns.map((arn) => arns.short(arn));
  return {
    version: CHECKPOINT_VERSION,
    jobId: run.jobId,
    runId: run.runId,
    cluster: run.cluster,
    taskDefinitionArn: run.taskDefinitionArn,
    ...(run.network === undefined ? {} : { network: networkOf(run.network) }),
    fingerprint: { ...run.fingerprint },
    ...(arns.prefix === undefined ? {} : { taskArnPrefix: arns.prefix }),
    startedAt: run.startedAt,
    deadline: run.deadline,
    taskCount: state.slots.length,
    state: result === undefined ? "running" : "finished",
    ...(state.stopCause === undefined ? {} : { stopCause: storedCause(state.stopCause) }),
    slots,
    failedTaskArns,
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
 * The slots a whole checkpoint holds: those ever launched. A run's first checkpoint, written
 * before its first launch, then holds none.
 */
function storedSlots(slots: readonly SlotState[], arns: TaskArns): StoredSlot[] {
  const stored: StoredSlot[] = [];
  for (const slot of slots) {
    // Every other field of a slot follows from a launch: one never launched is at its initial
    // value, which a reader puts back (`parseCheckpoint`).
    if (slot.phase === "pending" && slot.attempts === 0) continue;
    stored.push(storedSlot(slot, arns));
  }
  return stored;
}

/**
 * A slot as a checkpoint holds it: only the fields that are set and not at their initial value
 * (a task's launch record is a handful of fields), and not the task's last status seen, which
 * the first poll after an attach reads again. Built field by field: serialising a record costs
 * per field it has.
 */
function storedSlot(slot: SlotState, arns: TaskArns): StoredSlot {
  const stored: StoredSlot = { index: slot.index, phase: slot.phase, attempts: slot.attempts };
  if (slot.applicationFailures !== 0) stored.applicationFailures = slot.applicationFailures;
  if (slot.launchFailures !== 0) stored.launchFailures = slot.launchFailures;
  if (slot.taskArn !== undefined) stored.taskArn = arns.short(slot.taskArn);
  if (slot.failedTaskArns.length > 0) {
    stored.failedTaskArns = slot.failedTaskArns.map((arn) => arns.short(arn));
  }
  if (slot.exitCode !== undefined) stored.exitCode = slot.exitCode;
  if (slot.stopCode !== undefined) stored.stopCode = slot.stopCode;
  if (slot.stoppedReason !== undefined) stored.stoppedReason = slot.stoppedReason;
  if (slot.lastFailure !== undefined) stored.lastFailure = storedFailure(slot.lastFailure);
  if (slot.failedAt !== undefined) stored.failedAt = slot.failedAt;
  if (slot.stoppedAt !== undefined) stored.stoppedAt = slot.stoppedAt;
  if (slot.stopRequested) stored.stopRequested = true;
  if (slot.retryAt !== undefined) stored.retryAt = slot.retryAt;
  const report = slot.report;
  if (report !== undefined) {
    stored.report = {
      failure: storedFailure(report.failure),
      willRetry: report.willRetry,
      ...(report.taskArn === undefined ? {} : { taskArn: arns.short(report.taskArn) }),
    };
  }
  return stored;
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
