/**
 * Where runs are checkpointed, and who drives each (DESIGN 3.11). A `JobStore` keeps one
 * checkpoint per run and grants one owner per run at a time through a lease: acquired with a
 * time to live, renewed each poll, and fenced by a counter that grows on every acquire, so an
 * owner that paused (a stopped VM, a long GC) and wakes up after losing its lease cannot write
 * over its successor's checkpoints. Times come from the runner's clock.
 */
import { hostname } from "node:os";
import { EcsBatchError } from "../errors.js";

/** A run's identity. */
export interface RunKey {
  readonly jobId: string;
  readonly runId: string;
}

/** Ownership of one run. */
export interface Lease {
  readonly key: RunKey;
  /** Who holds it: a string naming the process (host, pid, random part). */
  readonly owner: string;
  /** When it lapses unless renewed (ms since epoch, the runner's clock). */
  readonly expiresAt: number;
  /** Grows on every acquire: a save must carry the current one. */
  readonly fence: number;
}

/** A lease's extension: until `now + ttlMs`. */
export interface LeaseRenewal {
  readonly ttlMs: number;
  readonly now: number;
}

/** A run as `list` reports it. */
export interface StoredRunInfo extends RunKey {
  /** When the run started (ms since epoch); the latest run of a job has the highest. */
  readonly startedAt: number;
  readonly state: "running" | "finished";
}

/**
 * Keeps checkpoints and leases. Implementations: `MemoryJobStore` (one process),
 * `FileJobStore` (one host), and `ecs-batch-runner/dynamodb` (many hosts).
 */
export interface JobStore {
  /** The run's checkpoint as saved (JSON text), or `undefined` when there is none. */
  load(key: RunKey): Promise<string | undefined>;
  /** Saves a checkpoint; refused with `EcsBatchLeaseError` (`LEASE_LOST`) unless `lease` is current. */
  save(key: RunKey, checkpoint: string, lease: Lease): Promise<void>;
  /**
   * Optional: appends a change (one line of JSON, no newline) to the run's last saved
   * checkpoint, refused like `save` under a lost lease. A store that has it returns from `load`
   * the last checkpoint saved and, on the lines after it, the changes appended since; `save`
   * starts afresh. The runner then writes a large run's changes rather than all of it each poll.
   * Given `renewal`, the lease is extended in the same step, as `renew` would (the runner then
   * does not call `renew` that poll). A call that rejects must not have appended the change:
   * the runner writes it again, under the same sequence number, on its next poll.
   */
  append?(key: RunKey, change: string, lease: Lease, renewal?: LeaseRenewal): Promise<void>;
  /** The runs of a job, in no particular order. */
  list(jobId: string): Promise<StoredRunInfo[]>;
  /** Forgets a run (its checkpoint and lease). */
  delete(key: RunKey): Promise<void>;
  /**
   * Takes the run's lease for `owner` until `now + ttlMs`: granted when nobody holds it, its
   * holder is `owner`, or it has lapsed; otherwise `EcsBatchLeaseError` (`LEASE_HELD`) naming
   * the holder and the expiry.
   */
  acquire(key: RunKey, owner: string, ttlMs: number, now: number): Promise<Lease>;
  /** Extends a lease still held; `EcsBatchLeaseError` (`LEASE_LOST`) once another took it. */
  renew(lease: Lease, ttlMs: number, now: number): Promise<Lease>;
  /** Gives the lease up (when the run ends); a lease already lost is left alone. */
  release(lease: Lease): Promise<void>;
}

/** The lease of a run is held by another owner, or was lost to one. */
export class EcsBatchLeaseError extends EcsBatchError {
  /** Who holds the lease now. */
  readonly owner: string;
  /** When that lease lapses unless renewed (ms since epoch). */
  readonly expiresAt: number;

  constructor(
    code: "LEASE_HELD" | "LEASE_LOST",
    key: RunKey,
    holder: { readonly owner: string; readonly expiresAt: number },
  ) {
    super(code, leaseMessage(code, key, holder));
    this.owner = holder.owner;
    this.expiresAt = holder.expiresAt;
  }
}

function leaseMessage(
  code: "LEASE_HELD" | "LEASE_LOST",
  key: RunKey,
  holder: { readonly owner: string; readonly expiresAt: number },
): string {
  const run = `run ${key.runId} of job ${key.jobId}`;
  const until = `lease until ${new Date(holder.expiresAt).toISOString()}`;
  if (code === "LEASE_HELD") {
    return `${run} is driven by ${holder.owner} (${until}); attach after that, or from that process`;
  }
  const after = "this process no longer drives it and leaves its tasks alone";
  // A lease given back (the run ended or was handed over) or removed with the run's records
  // has no expiry to tell.
  if (holder.owner === NO_OWNER) return `${run} has no lease in the store any more; ${after}`;
  if (holder.expiresAt === 0) {
    return `${run} was taken over by ${holder.owner}, which has since given it back (the run ended, or was handed over); ${after}`;
  }
  return `${run} was taken over by ${holder.owner} (${until}); ${after}`;
}

/** The holder a store names when a run has no lease record at all (its records deleted). */
export const NO_OWNER = "nobody";

/** A store's own failure (a file that cannot be written, say). */
export class EcsBatchStoreError extends EcsBatchError {}

/** The lease record a store keeps per run. */
export interface LeaseRecord {
  readonly owner: string;
  readonly expiresAt: number;
  readonly fence: number;
}

/**
 * The lease decision every store makes alike, given the record it holds: the new record, or
 * the error. Stores differ only in how they read and write the record atomically.
 */
export function nextLease(
  key: RunKey,
  current: LeaseRecord | undefined,
  owner: string,
  ttlMs: number,
  now: number,
): LeaseRecord {
  if (current !== undefined && current.owner !== owner && current.expiresAt > now) {
    throw new EcsBatchLeaseError("LEASE_HELD", key, current);
  }
  return { owner, expiresAt: now + ttlMs, fence: (current?.fence ?? 0) + 1 };
}

/** The record of `lease` extended by `renewal`. */
export function renewed(lease: Lease, renewal: LeaseRenewal): LeaseRecord {
  return { owner: lease.owner, expiresAt: renewal.now + renewal.ttlMs, fence: lease.fence };
}

/** Whether `lease` is the current one of `record`. */
export function isCurrent(lease: Lease, record: LeaseRecord | undefined): boolean {
  return record !== undefined && record.owner === lease.owner && record.fence === lease.fence;
}

/** An owner name for this process: host, pid and a random part. */
export function processOwner(random: () => number = Math.random): string {
  const suffix = Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, "0");
  return `${hostname()}:${process.pid}:${suffix}`;
}
