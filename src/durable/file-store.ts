/**
 * `FileJobStore`: checkpoints and leases in a directory, safe for several processes on one
 * host. Each run has a checkpoint file (`<jobId>/<runId>.json`) and a lease file
 * (`<jobId>/<runId>.lease.json`), each replaced atomically (write to a temporary file, rename),
 * so a crash leaves the old file or the new one, never half of one. Checkpoints are also synced
 * (the file and then the directory), so they survive the machine; leases are not: a lease only
 * matters while its owner runs, and after a machine crash every lease has expired anyway. Lease
 * changes and writes run under a lock (a directory, which only one process can make), so two
 * processes never both take a lease or write under a lost one.
 */
import {
  appendFile,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as realSleep } from "node:timers/promises";
import { infoOf } from "./memory-store.js";
import {
  EcsBatchLeaseError,
  EcsBatchStoreError,
  isCurrent,
  nextLease,
  renewed,
  type JobStore,
  type Lease,
  type LeaseRecord,
  type LeaseRenewal,
  type RunKey,
  type StoredRunInfo,
} from "./store.js";

/** A lock older than this is taken for a crashed holder's and broken. */
const STALE_LOCK_MS = 30_000;
/**
 * How long an operation waits for another process's lock: longer than a lock takes to go
 * stale, so a lock left by a process killed while holding it delays the next one (an attach
 * after the crash) instead of failing it.
 */
const LOCK_WAIT_MS = STALE_LOCK_MS + 10_000;

/** A `JobStore` in a directory (one host). */
export class FileJobStore implements JobStore {
  readonly #dir: string;
  /** Checkpoints saved, for tests and benchmarks. */
  saves = 0;
  /** Changes appended, for tests and benchmarks. */
  appends = 0;

  /** @param dir the directory; created when missing. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  #paths(key: RunKey): {
    dir: string;
    checkpoint: string;
    changes: string;
    lease: string;
    lock: string;
  } {
    const dir = join(this.#dir, key.jobId);
    return {
      dir,
      checkpoint: join(dir, `${key.runId}.json`),
      changes: join(dir, `${key.runId}.changes`),
      lease: join(dir, `${key.runId}.lease.json`),
      lock: join(dir, `${key.runId}.lock`),
    };
  }

  async load(key: RunKey): Promise<string | undefined> {
    const paths = this.#paths(key);
    const checkpoint = await readIfExists(paths.checkpoint);
    if (checkpoint === undefined) return undefined;
    const changes = await readIfExists(paths.changes);
    if (changes === undefined || changes === "") return checkpoint;
    // Each change starts its own line; the text ends with the last change.
    return `${checkpoint}\n${changes.replace(/^\n/, "").replace(/\n$/, "")}`;
  }

  async save(key: RunKey, checkpoint: string, lease: Lease): Promise<void> {
    const paths = this.#paths(key);
    await this.#locked(paths, async () => {
      await currentLease(paths.lease, lease);
      await writeAtomically(paths.dir, paths.checkpoint, checkpoint, { sync: true });
      // Changes left behind by a crash here are older than the checkpoint: reading skips them.
      await rm(paths.changes, { force: true });
    });
    this.saves++;
  }

  /**
   * Appends a change to the run's changes file, not synced: a change lost with the machine
   * only leaves the checkpoint further behind the run, and an attach reads the rest from ECS.
   * Each change starts a new line, so one cut short by a full disk ends its own line (a reader
   * skips it) instead of spoiling the next.
   */
  async append(key: RunKey, change: string, lease: Lease, renewal?: LeaseRenewal): Promise<void> {
    const paths = this.#paths(key);
    await this.#locked(paths, async () => {
      await currentLease(paths.lease, lease);
      // The lease first: a change that fails to append is written again on the next poll under
      // the same number, so a change must never be written when the call fails.
      if (renewal !== undefined) await writeLease(paths, renewed(lease, renewal));
      try {
        await appendFile(paths.changes, `\n${change}`, "utf8");
      } catch (error) {
        throw storeError(`cannot write ${paths.changes}`, error);
      }
    });
    this.appends++;
  }

  async list(jobId: string): Promise<StoredRunInfo[]> {
    let names: string[];
    try {
      names = await readdir(join(this.#dir, jobId));
    } catch (error) {
      if (isMissing(error)) return [];
      throw storeError(`cannot read ${join(this.#dir, jobId)}`, error);
    }
    const runs: StoredRunInfo[] = [];
    for (const name of names) {
      if (!name.endsWith(".json") || name.endsWith(".lease.json")) continue;
      const key = { jobId, runId: name.slice(0, -".json".length) };
      const text = await this.load(key);
      if (text === undefined) continue;
      try {
        runs.push(infoOf(key, text));
      } catch {
        // A checkpoint that does not parse is reported when that run is attached, not here.
        runs.push({ ...key, startedAt: 0, state: "running" });
      }
    }
    return runs;
  }

  async delete(key: RunKey): Promise<void> {
    const paths = this.#paths(key);
    await rm(paths.checkpoint, { force: true });
    await rm(paths.changes, { force: true });
    await rm(paths.lease, { force: true });
  }

  async acquire(key: RunKey, owner: string, ttlMs: number, now: number): Promise<Lease> {
    const paths = this.#paths(key);
    return this.#locked(paths, async () => {
      const record = nextLease(key, await readLease(paths.lease), owner, ttlMs, now);
      await writeLease(paths, record);
      return { key, ...record };
    });
  }

  async renew(lease: Lease, ttlMs: number, now: number): Promise<Lease> {
    const paths = this.#paths(lease.key);
    return this.#locked(paths, async () => {
      await currentLease(paths.lease, lease);
      const record = renewed(lease, { ttlMs, now });
      await writeLease(paths, record);
      return { ...lease, expiresAt: record.expiresAt };
    });
  }

  async release(lease: Lease): Promise<void> {
    const paths = this.#paths(lease.key);
    await this.#locked(paths, async () => {
      const record = await readLease(paths.lease);
      if (!isCurrent(lease, record)) return;
      await writeLease(paths, { owner: lease.owner, expiresAt: 0, fence: lease.fence });
    });
  }

  /** Runs `work` holding the run's lock (the run's directory is made the first time). */
  async #locked<T>(paths: { dir: string; lock: string }, work: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (;;) {
      try {
        // A directory: made and removed in one call each, and made by one process only.
        await mkdir(paths.lock);
        break;
      } catch (error) {
        if (isMissing(error)) {
          await mkdir(paths.dir, { recursive: true });
          continue;
        }
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
          throw storeError(`cannot create the lock ${paths.lock}`, error);
        }
        // Locks are wall-clock artefacts: their age is read from the file system.
        const age = await lockAge(paths.lock);
        if (age !== undefined && age > STALE_LOCK_MS) {
          await rm(paths.lock, { recursive: true, force: true });
          continue;
        }
        if (Date.now() - started > LOCK_WAIT_MS) {
          throw storeError(
            `the lock ${paths.lock} has been held for over ${LOCK_WAIT_MS / 1000} s; another process is stuck holding it`,
          );
        }
        await realSleep(5);
      }
    }
    try {
      return await work();
    } finally {
      // Gone already only if another process took it for stale and broke it.
      await rmdir(paths.lock).catch((error: unknown) => {
        if (!isMissing(error)) throw storeError(`cannot remove the lock ${paths.lock}`, error);
      });
    }
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw storeError(`cannot read ${path}`, error);
  }
}

/** Refuses with `LEASE_LOST` unless `lease` is the one the lease file holds. */
async function currentLease(path: string, lease: Lease): Promise<void> {
  const record = await readLease(path);
  if (!isCurrent(lease, record)) {
    throw new EcsBatchLeaseError(
      "LEASE_LOST",
      lease.key,
      record ?? { owner: "nobody", expiresAt: 0 },
    );
  }
}

/** Replaces the lease file, not synced: a lease matters only while its owner runs. */
async function writeLease(
  paths: { dir: string; lease: string },
  record: LeaseRecord,
): Promise<void> {
  await writeAtomically(paths.dir, paths.lease, JSON.stringify(record), { sync: false });
}

async function readLease(path: string): Promise<LeaseRecord | undefined> {
  const text = await readIfExists(path);
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<LeaseRecord>;
    if (
      typeof value.owner === "string" &&
      typeof value.expiresAt === "number" &&
      typeof value.fence === "number"
    ) {
      return { owner: value.owner, expiresAt: value.expiresAt, fence: value.fence };
    }
  } catch {
    // Reported below as a store error: an unreadable lease must not be taken as none.
  }
  throw storeError(`the lease file ${path} is unreadable; remove it to let a process take the run`);
}

/**
 * Replaces `path` with `text` so that a crash of the process leaves the old file or the new
 * one; with `sync`, a crash of the machine too.
 */
async function writeAtomically(
  dir: string,
  path: string,
  text: string,
  { sync }: { sync: boolean },
): Promise<void> {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    if (sync) await writeSynced(temporary, text);
    else await writeFile(temporary, text, "utf8");
    await rename(temporary, path);
    if (sync) await syncFile(dir);
  } catch (error) {
    await rm(temporary, { force: true });
    throw storeError(`cannot write ${path}`, error);
  }
}

/** Writes `path` and waits until its bytes are on disk. */
async function writeSynced(path: string, text: string): Promise<void> {
  const file = await open(path, "w");
  try {
    await file.writeFile(text, "utf8");
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Waits until a file (or a directory: a rename in it) is on disk. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function lockAge(path: string): Promise<number | undefined> {
  try {
    return Date.now() - (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === "ENOENT";
}

function storeError(message: string, cause?: unknown): EcsBatchStoreError {
  return new EcsBatchStoreError(
    "STORE_ERROR",
    message,
    cause === undefined ? undefined : { cause },
  );
}
