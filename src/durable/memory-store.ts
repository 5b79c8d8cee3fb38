/**
 * `MemoryJobStore`: checkpoints and leases in this process's memory. For tests, and for hosts
 * that want attach within one process (a worker that restarts its runner, not itself).
 */
import {
  EcsBatchLeaseError,
  isCurrent,
  nextLease,
  NO_OWNER,
  renewed,
  type JobStore,
  type Lease,
  type LeaseRecord,
  type LeaseRenewal,
  type RunKey,
  type StoredRunInfo,
} from "./store.js";

interface Entry {
  checkpoint?: string;
  /** Changes appended since the checkpoint was saved. */
  changes?: string[];
  info?: StoredRunInfo;
  lease?: LeaseRecord;
}

/** A `JobStore` in memory. */
export class MemoryJobStore implements JobStore {
  readonly #runs = new Map<string, Entry>();
  /** Checkpoints saved, for tests and benchmarks. */
  saves = 0;
  /** Changes appended, for tests and benchmarks. */
  appends = 0;

  #entry(key: RunKey): Entry {
    const id = `${key.jobId}\u0000${key.runId}`;
    let entry = this.#runs.get(id);
    if (entry === undefined) {
      entry = {};
      this.#runs.set(id, entry);
    }
    return entry;
  }

  load(key: RunKey): Promise<string | undefined> {
    const entry = this.#entry(key);
    if (entry.checkpoint === undefined) return Promise.resolve(undefined);
    return Promise.resolve([entry.checkpoint, ...(entry.changes ?? [])].join("\n"));
  }

  save(key: RunKey, checkpoint: string, lease: Lease): Promise<void> {
    const entry = this.#entry(key);
    if (!isCurrent(lease, entry.lease)) return Promise.reject(lost(key, entry));
    entry.checkpoint = checkpoint;
    entry.changes = [];
    entry.info = infoOf(key, checkpoint);
    this.saves++;
    return Promise.resolve();
  }

  append(key: RunKey, change: string, lease: Lease, renewal?: LeaseRenewal): Promise<void> {
    const entry = this.#entry(key);
    if (!isCurrent(lease, entry.lease)) return Promise.reject(lost(key, entry));
    (entry.changes ??= []).push(change);
    const state = stateOfChange(change);
    if (state !== undefined && entry.info !== undefined) entry.info = { ...entry.info, state };
    if (renewal !== undefined) entry.lease = renewed(lease, renewal);
    this.appends++;
    return Promise.resolve();
  }

  list(jobId: string): Promise<StoredRunInfo[]> {
    const runs: StoredRunInfo[] = [];
    for (const entry of this.#runs.values()) {
      if (entry.info?.jobId === jobId) runs.push(entry.info);
    }
    return Promise.resolve(runs);
  }

  delete(key: RunKey): Promise<void> {
    this.#runs.delete(`${key.jobId}\u0000${key.runId}`);
    return Promise.resolve();
  }

  // Async so that a refused lease (nextLease throws) is a rejection, as in every store.
  // eslint-disable-next-line @typescript-eslint/require-await
  async acquire(key: RunKey, owner: string, ttlMs: number, now: number): Promise<Lease> {
    const entry = this.#entry(key);
    entry.lease = nextLease(key, entry.lease, owner, ttlMs, now);
    return { key, ...entry.lease };
  }

  renew(lease: Lease, ttlMs: number, now: number): Promise<Lease> {
    const entry = this.#entry(lease.key);
    if (!isCurrent(lease, entry.lease)) return Promise.reject(lost(lease.key, entry));
    entry.lease = renewed(lease, { ttlMs, now });
    return Promise.resolve({ ...lease, expiresAt: entry.lease.expiresAt });
  }

  release(lease: Lease): Promise<void> {
    const entry = this.#entry(lease.key);
    if (isCurrent(lease, entry.lease)) {
      entry.lease = { owner: lease.owner, expiresAt: 0, fence: lease.fence };
    }
    return Promise.resolve();
  }
}

/** The error of a write under a lease that is no longer the run's. */
function lost(key: RunKey, entry: Entry): EcsBatchLeaseError {
  return new EcsBatchLeaseError(
    "LEASE_LOST",
    key,
    entry.lease ?? { owner: NO_OWNER, expiresAt: 0 },
  );
}

/** What `list` reports of a saved checkpoint, read from its text. */
export function infoOf(key: RunKey, checkpoint: string): StoredRunInfo {
  // The first line is the last whole checkpoint; a change appended after it (its last line)
  // carries the run's state as of that change.
  const newline = checkpoint.lastIndexOf("\n");
  const first = runFields(newline < 0 ? checkpoint : checkpoint.slice(0, checkpoint.indexOf("\n")));
  const last = newline < 0 ? first : runFields(checkpoint.slice(newline + 1));
  const state = last.state ?? first.state;
  return {
    jobId: key.jobId,
    runId: key.runId,
    startedAt: typeof first.startedAt === "number" ? first.startedAt : 0,
    state: state === "finished" ? "finished" : "running",
  };
}

/**
 * The run's state a change says, if it says one: the last change of a run that ended says
 * `finished`, and a store's `list` reports that without reading the run back.
 */
export function stateOfChange(change: string): StoredRunInfo["state"] | undefined {
  const state = runFields(change).state;
  return state === "finished" || state === "running" ? state : undefined;
}

/** A checkpoint's (or a change's) own fields; nothing when it does not parse. */
function runFields(text: string): { startedAt?: unknown; state?: unknown } {
  // The runner writes the slots last: the run's own fields parse without the 10,000 slots.
  const slots = text.indexOf(',"slots":[');
  for (const candidate of slots > 0 ? [`${text.slice(0, slots)}}`, text] : [text]) {
    try {
      return JSON.parse(candidate) as { startedAt?: unknown; state?: unknown };
    } catch {
      // A checkpoint that does not parse is reported when its run is attached, not here.
    }
  }
  return {};
}
