/**
 * `FileJobStore`: checkpoints and leases in a directory, safe for several processes on one
 * host. Each run has a checkpoint file (`<jobId>/<runId>.json`), replaced atomically (write to
 * a temporary file, rename) and synced (the file and then the directory), so a crash of the
 * process or the machine leaves the old checkpoint or the new one, never half of one; the
 * changes appended since it (`<runId>.changes`); and a lease file (`<runId>.lease.json`). Every
 * read and write of a lease, and every write, runs under a lock (a directory, which only one
 * process can make), so two processes never both take a lease or write under a lost one.
 *
 * A run's owner renews its lease and appends a change every poll, so those steps are kept to a
 * few system calls: the lease is rewritten in place, padded to one length (one write, which a
 * killed process completes or never starts; the lock keeps readers out meanwhile), through a
 * descriptor the process keeps open while it holds the lease, as it keeps the changes file's.
 * Reading and writing the lease are synchronous calls: at tens of microseconds each they cost
 * the JS thread less than a promise call's hand-over. The lock's directory calls and the
 * change's write, which cost the file system more, go to the thread pool. Neither the lease nor
 * a change is synced: a lease only matters while its owner runs, and a change lost with the
 * machine only leaves the checkpoint further behind the run.
 */
import { closeSync, constants, fstatSync, openSync, readSync, write, writeSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { setTimeout as realSleep } from "node:timers/promises";
import { infoOf } from "./memory-store.js";
import {
  EcsBatchLeaseError,
  EcsBatchStoreError,
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

/** A lock older than this is taken for a crashed holder's and broken. */
const STALE_LOCK_MS = 30_000;
/**
 * How long an operation waits for another process's lock: longer than a lock takes to go
 * stale, so a lock left by a process killed while holding it delays the next one (an attach
 * after the crash) instead of failing it.
 */
const LOCK_WAIT_MS = STALE_LOCK_MS + 10_000;

/**
 * The length every lease record is padded to: longer than any record (under 400 bytes, with a
 * 253-character host name in the owner), so the file keeps one length and a record never leaves
 * bytes of a longer one behind it, even if two writers ever met (a lock broken as stale).
 */
const LEASE_FILE_BYTES = 512;

const writeAt = promisify(write);

/** A run's files, by path. */
interface RunPaths {
  readonly dir: string;
  readonly checkpoint: string;
  readonly changes: string;
  readonly lease: string;
  readonly lock: string;
}

/** The descriptors a process keeps open for a run it drives (see the file's comment). */
interface OpenFiles {
  lease: number | undefined;
  changes: number | undefined;
}

/** A run's lease file, read under the run's lock. */
interface LeaseFile {
  readonly fd: number;
  /** Its length, which a new record is padded to (`LEASE_FILE_BYTES` at least). */
  readonly size: number;
  readonly record: LeaseRecord | undefined;
}

/** A `JobStore` in a directory (one host). */
export class FileJobStore implements JobStore {
  readonly #dir: string;
  readonly #open = new Map<string, OpenFiles>();
  /** Checkpoints saved, for tests and benchmarks. */
  saves = 0;
  /** Changes appended, for tests and benchmarks. */
  appends = 0;

  /** @param dir the directory; created when missing. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  #pathsOf(key: RunKey): RunPaths {
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
    const paths = this.#pathsOf(key);
    const checkpoint = await readIfExists(paths.checkpoint);
    if (checkpoint === undefined) return undefined;
    const changes = await readIfExists(paths.changes);
    if (changes === undefined || changes === "") return checkpoint;
    // Each change starts its own line; the text ends with the last change.
    return `${checkpoint}\n${changes.replace(/^\n/, "").replace(/\n$/, "")}`;
  }

  async save(key: RunKey, checkpoint: string, lease: Lease): Promise<void> {
    const paths = this.#pathsOf(key);
    await this.#locked(paths, async () => {
      this.#currentLease(paths, lease);
      await writeAtomically(paths.dir, paths.checkpoint, checkpoint);
      // Changes left behind by a crash here are older than the checkpoint: reading skips them.
      this.#closeChanges(key);
      await rm(paths.changes, { force: true });
      await removeTemporaries(paths);
    });
    this.saves++;
  }

  /**
   * Appends a change to the run's changes file. Each change starts a new line, so one cut
   * short by a full disk ends its own line (a reader skips it) instead of spoiling the next.
   */
  async append(key: RunKey, change: string, lease: Lease, renewal?: LeaseRenewal): Promise<void> {
    const paths = this.#pathsOf(key);
    await this.#locked(paths, async () => {
      const file = this.#currentLease(paths, lease);
      // The lease first: a change that fails to append is written again on the next poll under
      // the same number, so a change must never be written when the call fails.
      if (renewal !== undefined) writeLease(paths, file, renewed(lease, renewal));
      try {
        // In the thread pool, like the checkpoint's: a change is up to a few hundred KB.
        const bytes = Buffer.from(`\n${change}`, "utf8");
        const fd = this.#changesFd(key, paths);
        for (let done = 0; done < bytes.length;) {
          done += (await writeAt(fd, bytes, done, bytes.length - done, null)).bytesWritten;
        }
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
    const paths = this.#pathsOf(key);
    this.#close(key);
    await rm(paths.checkpoint, { force: true });
    await rm(paths.changes, { force: true });
    await rm(paths.lease, { force: true });
    await removeTemporaries(paths);
  }

  async acquire(key: RunKey, owner: string, ttlMs: number, now: number): Promise<Lease> {
    const paths = this.#pathsOf(key);
    return this.#locked(paths, () => {
      const file = this.#leaseFile(key, paths, { create: true }) as LeaseFile;
      const record = nextLease(key, file.record, owner, ttlMs, now);
      writeLease(paths, file, record);
      return Promise.resolve({ key, ...record });
    });
  }

  async renew(lease: Lease, ttlMs: number, now: number): Promise<Lease> {
    const paths = this.#pathsOf(lease.key);
    return this.#locked(paths, () => {
      const file = this.#currentLease(paths, lease);
      const record = renewed(lease, { ttlMs, now });
      writeLease(paths, file, record);
      return Promise.resolve({ ...lease, expiresAt: record.expiresAt });
    });
  }

  async release(lease: Lease): Promise<void> {
    const paths = this.#pathsOf(lease.key);
    await this.#locked(paths, () => {
      const file = this.#leaseFile(lease.key, paths, { create: false });
      if (file !== undefined && isCurrent(lease, file.record)) {
        writeLease(paths, file, { owner: lease.owner, expiresAt: 0, fence: lease.fence });
      }
      this.#close(lease.key);
      return Promise.resolve();
    });
  }

  /** The lease file, read; `LEASE_LOST` (and the run's files closed) unless `lease` is its record. */
  #currentLease(paths: RunPaths, lease: Lease): LeaseFile {
    const file = this.#leaseFile(lease.key, paths, { create: false });
    if (file === undefined || !isCurrent(lease, file.record)) {
      this.#close(lease.key);
      throw new EcsBatchLeaseError(
        "LEASE_LOST",
        lease.key,
        file?.record ?? { owner: NO_OWNER, expiresAt: 0 },
      );
    }
    return file;
  }

  /**
   * The run's lease file, read through the descriptor this process keeps for it (opened when
   * it has none, or when the one it has is of a file since removed or replaced). Without
   * `create`, a run with no lease file gives `undefined`.
   */
  #leaseFile(key: RunKey, paths: RunPaths, { create }: { create: boolean }): LeaseFile | undefined {
    const files = this.#filesOf(key);
    let fd = files.lease;
    let size = fd === undefined ? -1 : linkedSize(fd);
    if (fd === undefined || size < 0) {
      if (fd !== undefined) closeQuietly(fd);
      files.lease = undefined;
      try {
        fd = openSync(paths.lease, create ? constants.O_RDWR | constants.O_CREAT : "r+");
      } catch (error) {
        if (!create && isMissing(error)) return undefined;
        throw storeError(`cannot open ${paths.lease}`, error);
      }
      files.lease = fd;
      size = linkedSize(fd);
    }
    const buffer = Buffer.alloc(size);
    const read = size === 0 ? 0 : readSync(fd, buffer, 0, size, 0);
    return { fd, size, record: leaseRecord(paths.lease, buffer.toString("utf8", 0, read)) };
  }

  /**
   * The run's changes file, open for appending. Only the lease's holder removes it (a save), so
   * a descriptor kept from before a removal by another process is never written: the lease
   * check before it refuses.
   */
  #changesFd(key: RunKey, paths: RunPaths): number {
    const files = this.#filesOf(key);
    files.changes ??= openSync(paths.changes, "a");
    return files.changes;
  }

  #filesOf(key: RunKey): OpenFiles {
    const id = runId(key);
    let files = this.#open.get(id);
    if (files === undefined) {
      files = { lease: undefined, changes: undefined };
      this.#open.set(id, files);
    }
    return files;
  }

  #closeChanges(key: RunKey): void {
    const files = this.#open.get(runId(key));
    if (files?.changes === undefined) return;
    closeQuietly(files.changes);
    files.changes = undefined;
  }

  /** Closes the run's files: this process no longer drives it. */
  #close(key: RunKey): void {
    const id = runId(key);
    const files = this.#open.get(id);
    if (files === undefined) return;
    if (files.lease !== undefined) closeQuietly(files.lease);
    if (files.changes !== undefined) closeQuietly(files.changes);
    this.#open.delete(id);
  }

  /** Runs `work` holding the run's lock (the run's directory is made the first time). */
  async #locked<T>(paths: RunPaths, work: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (;;) {
      try {
        // A directory: made and removed in one call each, and made by one process only. These
        // two stay off the JS thread: a directory change costs the file system far more than a
        // write to an open file does.
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
      await unlock(paths.lock);
    }
  }
}

async function unlock(lock: string): Promise<void> {
  try {
    await rmdir(lock);
  } catch (error) {
    // Gone already only if another process took it for stale and broke it.
    if (!isMissing(error)) throw storeError(`cannot remove the lock ${lock}`, error);
  }
}

function runId(key: RunKey): string {
  return `${key.jobId}/${key.runId}`;
}

/** The size of the open file `fd`, or -1 once it has been removed (or replaced by a rename). */
function linkedSize(fd: number): number {
  const info = fstatSync(fd);
  return info.nlink === 0 ? -1 : info.size;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Closing is tidying up: a descriptor that cannot be closed has nothing left to lose.
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

/**
 * Writes `record` over the lease file in place, padded with spaces (JSON allows them) to the
 * file's length, in one call: a process killed around it leaves the old record or the new.
 */
function writeLease(paths: RunPaths, file: LeaseFile, record: LeaseRecord): void {
  try {
    const length = Math.max(file.size, LEASE_FILE_BYTES);
    writeSync(file.fd, JSON.stringify(record).padEnd(length, " "), 0);
  } catch (error) {
    throw storeError(`cannot write ${paths.lease}`, error);
  }
}

/**
 * The lease in a lease file's text: none in an empty file (one made by a process killed before
 * it wrote its first record), an error in one that does not parse.
 */
function leaseRecord(path: string, text: string): LeaseRecord | undefined {
  if (text.trim() === "") return undefined;
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
 * Replaces `path` with `text` so that a crash of the process or of the machine leaves the old
 * file or the new one.
 */
async function writeAtomically(dir: string, path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await writeSynced(temporary, text);
    await rename(temporary, path);
    await syncFile(dir);
  } catch (error) {
    await rm(temporary, { force: true });
    throw storeError(`cannot write ${path}`, error);
  }
}

/**
 * Removes the temporary files of the run's checkpoint that a process killed mid-save left
 * (`writeAtomically`'s, each as large as a checkpoint). Called under the run's lock, or for a
 * run being forgotten: no save of the run is under way.
 */
async function removeTemporaries(paths: RunPaths): Promise<void> {
  const prefix = `${basename(paths.checkpoint)}.`;
  let names: string[];
  try {
    names = await readdir(paths.dir);
  } catch (error) {
    if (isMissing(error)) return;
    throw storeError(`cannot read ${paths.dir}`, error);
  }
  for (const name of names) {
    if (name.startsWith(prefix) && name.endsWith(".tmp")) {
      await rm(join(paths.dir, name), { force: true });
    }
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
