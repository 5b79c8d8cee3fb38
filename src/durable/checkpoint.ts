/**
 * A run's checkpoint (DESIGN 3.11): versioned JSON, validated with zod on load. It holds what
 * a process needs to carry a run on: its identity, task definition, network, start and
 * deadline, a fingerprint of the job input, and per slot its phase, attempts, budgets spent and
 * task ARNs. Never an environment value, a log line or the job input itself: the host supplies
 * the job again when it attaches, and the fingerprint (one hash per top-level field) tells
 * whether it is the same job.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { EcsBatchError } from "../errors.js";
import type { SlotState } from "../execution/slot.js";
import type { BatchJob } from "../job/schema.js";
import type { JobStatus, TaskFailure } from "../result.js";

/** The checkpoint format this version writes and reads. */
export const CHECKPOINT_VERSION = 1;

/** A checkpoint that cannot be read: corrupt, or written by a newer version. */
export class EcsBatchCheckpointError extends EcsBatchError {}

const FailureSchema = z.object({
  kind: z.enum(["launch", "start", "exit", "interrupted", "stopped", "missing"]),
  reason: z.string(),
  exitCode: z.number().nullable().optional(),
  stopCode: z.string().optional(),
  stoppedReason: z.string().optional(),
  container: z.string().optional(),
});

/**
 * A slot. Fields at their initial value (zero budgets, no failed tasks, no stop requested) may
 * be left out, and the task name is not held: it follows from the job and the index.
 */
const SlotSchema = z.object({
  index: z.int().min(0),
  phase: z.enum([
    "pending",
    "launching",
    "running",
    "reporting",
    "backoff",
    "succeeded",
    "failed",
    "stopped",
  ]),
  attempts: z.int().min(0),
  applicationFailures: z.int().min(0).default(0),
  launchFailures: z.int().min(0).default(0),
  taskArn: z.string().optional(),
  /** Not written since the first poll after an attach reads it again; read when present. */
  lastStatus: z.string().optional(),
  failedTaskArns: z.array(z.string()).default([]),
  exitCode: z.number().nullable().optional(),
  stopCode: z.string().optional(),
  stoppedReason: z.string().optional(),
  lastFailure: FailureSchema.optional(),
  failedAt: z.number().optional(),
  stoppedAt: z.number().optional(),
  stopRequested: z.boolean().default(false),
  retryAt: z.number().optional(),
  report: z
    .object({ failure: FailureSchema, willRetry: z.boolean(), taskArn: z.string().optional() })
    .optional(),
});

const StopCauseSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("exhausted"), taskIndex: z.int().min(0), failure: FailureSchema }),
  z.object({ kind: z.literal("timeout"), timeoutMs: z.number() }),
  z.object({ kind: z.literal("cancel"), reason: z.string().optional() }),
  z.object({
    kind: z.literal("fatal"),
    error: z.object({ name: z.string(), message: z.string() }),
  }),
]);

/** The checkpoint's schema (version 1). */
export const CheckpointSchema = z.object({
  version: z.literal(CHECKPOINT_VERSION),
  jobId: z.string(),
  runId: z.string(),
  cluster: z.string(),
  taskDefinitionArn: z.string(),
  /** The awsvpc configuration the run's requests carry, so an attach sends the very same. */
  network: z
    .object({
      subnets: z.array(z.string()),
      securityGroups: z.array(z.string()).optional(),
      assignPublicIp: z.enum(["ENABLED", "DISABLED"]).optional(),
    })
    .optional(),
  /** One hash per top-level field of the parsed job input. */
  fingerprint: z.record(z.string(), z.string()),
  /**
   * The start every task ARN of the run has (`arn:aws:ecs:<region>:<account>:task/<cluster>/`):
   * a task ARN that starts with it is written as the rest, the task's id (`TaskArns`).
   */
  taskArnPrefix: z.string().optional(),
  startedAt: z.number(),
  deadline: z.number(),
  taskCount: z.int().min(0),
  state: z.enum(["running", "finished"]),
  stopCause: StopCauseSchema.optional(),
  /**
   * The slots, by `index`, in any order. Slots still at their initial value (pending, never
   * launched) may be left out: `parseCheckpoint` puts them back, one per task.
   */
  slots: z.array(SlotSchema),
  failedTaskArns: z.array(z.string()),
  /** Set when the run finished: what its result said (its logs are read again on attach). */
  outcome: z
    .object({
      status: z.enum(["succeeded", "failed", "timedOut", "cancelled"]),
      finishedAt: z.number(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    })
    .optional(),
  savedAt: z.number(),
  /** Grows with every write: a change appended after it carries a higher one. */
  seq: z.int().min(0).optional(),
});

/** A checkpoint as read: the fields left out at their initial value put back. */
export type Checkpoint = z.infer<typeof CheckpointSchema>;
/** A checkpoint as written. */
export type StoredCheckpoint = z.input<typeof CheckpointSchema>;
/** A slot as a checkpoint holds it. */
export type CheckpointSlot = Checkpoint["slots"][number];
/** A slot as a checkpoint is written: fields at their initial value left out. */
export type StoredSlot = z.input<typeof SlotSchema>;
/** Why the run stopped, as a checkpoint holds it (a fatal error keeps its name and message only). */
export type CheckpointStopCause = NonNullable<Checkpoint["stopCause"]>;
/** A finished run's outcome. */
export interface CheckpointOutcome {
  readonly status: JobStatus;
  readonly finishedAt: number;
  readonly error?: { readonly code: string; readonly message: string };
}

/**
 * Reads a checkpoint. A newer version, unreadable JSON or a shape that does not match is an
 * `EcsBatchCheckpointError`: a run is never silently started afresh.
 */
export function parseCheckpoint(text: string, where: string): Checkpoint {
  let value: unknown;
  // A store that takes changes (`JobStore.append`) gives the last full checkpoint on the first
  // line and the changes appended since on the lines after it.
  const newline = text.indexOf("\n");
  try {
    value = JSON.parse(newline < 0 ? text : text.slice(0, newline));
  } catch (error) {
    throw new EcsBatchCheckpointError(
      "CHECKPOINT_INVALID",
      `the checkpoint ${where} is not valid JSON; it may have been cut short. Remove it to give up the run's state (stop its tasks with stopJob first), or restore it`,
      { cause: error },
    );
  }
  const version = (value as { version?: unknown } | null)?.version;
  if (typeof version === "number" && version > CHECKPOINT_VERSION) {
    throw new EcsBatchCheckpointError(
      "CHECKPOINT_VERSION",
      `the checkpoint ${where} was written in format ${version} by a newer ecs-batch-runner; this version reads format ${CHECKPOINT_VERSION}. Attach with the newer version`,
    );
  }
  if (newline >= 0) value = withChanges(value, text.slice(newline + 1).split("\n"), where);
  const parsed = CheckpointSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw invalidShape(
      where,
      first === undefined ? "unknown" : `${first.path.join(".")}: ${first.message}`,
    );
  }
  return withEverySlot(parsed.data, where);
}

function invalidShape(where: string, what: string): EcsBatchCheckpointError {
  return new EcsBatchCheckpointError(
    "CHECKPOINT_INVALID",
    `the checkpoint ${where} does not have the expected shape (${what}); remove it to give up the run's state (stop its tasks with stopJob first), or restore it`,
  );
}

/**
 * A checkpoint as the runner uses it: one slot per task, in index order (those left out put
 * back as initial), and every task ARN in full.
 */
function withEverySlot(checkpoint: Checkpoint, where: string): Checkpoint {
  const full = (arn: string): string => TaskArns.full(arn, checkpoint.taskArnPrefix);
  const slots = new Array<CheckpointSlot | undefined>(checkpoint.taskCount);
  for (const written of checkpoint.slots) {
    const slot: CheckpointSlot = {
      ...written,
      failedTaskArns: written.failedTaskArns.map(full),
      ...(written.taskArn === undefined ? {} : { taskArn: full(written.taskArn) }),
      ...(written.report?.taskArn === undefined
        ? {}
        : { report: { ...written.report, taskArn: full(written.report.taskArn) } }),
    };
    if (slot.index >= checkpoint.taskCount) {
      throw invalidShape(
        where,
        `slot ${String(slot.index)} of a run of ${String(checkpoint.taskCount)} tasks`,
      );
    }
    slots[slot.index] = slot;
  }
  return {
    ...checkpoint,
    slots: Array.from(slots, (slot, index) => slot ?? initialSlot(index)),
    failedTaskArns: checkpoint.failedTaskArns.map(full),
  };
}

/**
 * Task ARNs as a checkpoint writes them. A run's tasks share the start of their ARNs, up to the
 * cluster's name, so the checkpoint holds that once (`taskArnPrefix`) and each task ARN as the
 * task's id: a fifth of what a 10,000-task run writes. An ARN that does not start with the
 * prefix is written in full, and a reader tells the two apart by the `arn:` that only a full
 * one starts with.
 */
export class TaskArns {
  /** The prefix, taken from the first ARN written. */
  prefix: string | undefined;

  constructor(prefix?: string) {
    this.prefix = prefix;
  }

  /** `arn` as written: its id after the prefix, or in full. */
  short(arn: string): string {
    this.prefix ??= arn.slice(0, arn.lastIndexOf("/") + 1);
    return arn.startsWith(this.prefix) ? arn.slice(this.prefix.length) : arn;
  }

  /** A task ARN as read. */
  static full(written: string, prefix: string | undefined): string {
    return prefix === undefined || written.startsWith("arn:") ? written : prefix + written;
  }
}

/** A slot as a checkpoint that leaves it out means it: pending, never launched. */
function initialSlot(index: number): CheckpointSlot {
  return {
    index,
    phase: "pending",
    attempts: 0,
    applicationFailures: 0,
    launchFailures: 0,
    failedTaskArns: [],
    stopRequested: false,
  };
}

/** What ECS says of a task whose essential container exited (the end of most tasks). */
const CONTAINER_EXITED = {
  stopCode: "EssentialContainerExited",
  stoppedReason: "Essential container in task exited",
} as const;

/**
 * A change's slots in short form. Nearly every record a run appends is a task's first attempt
 * starting, or that attempt exiting 0: a change writes those as entries of flat lists, a
 * quarter to a half of the object's bytes, and no object to build. Each entry stands for the
 * whole record, so a reader needs nothing before it to expand one.
 * - `started`: `index, task` per slot: `{ index, phase: "running", attempts: 1, taskArn }`;
 * - `exited0`: `index, task, stoppedAt` per slot: the same task `succeeded`, exit code 0, and
 *   ECS's stop code and reason for an essential container that exited.
 */
export interface ShortSlots {
  readonly started: (number | string)[];
  readonly exited0: (number | string)[];
}

/**
 * Adds `slot` to `short` when one of the short forms says all of it, and says whether it did
 * (else it is written as a record).
 */
export function addShortSlot(short: ShortSlots, slot: SlotState, arns: TaskArns): boolean {
  const firstAttemptAlone =
    slot.attempts === 1 &&
    slot.taskArn !== undefined &&
    slot.applicationFailures === 0 &&
    slot.launchFailures === 0 &&
    slot.failedTaskArns.length === 0 &&
    slot.lastFailure === undefined &&
    slot.failedAt === undefined &&
    !slot.stopRequested &&
    slot.retryAt === undefined &&
    slot.report === undefined;
  if (!firstAttemptAlone) return false;
  if (
    slot.phase === "running" &&
    slot.exitCode === undefined &&
    slot.stopCode === undefined &&
    slot.stoppedReason === undefined &&
    slot.stoppedAt === undefined
  ) {
    short.started.push(slot.index, arns.short(slot.taskArn));
    return true;
  }
  if (
    slot.phase === "succeeded" &&
    slot.exitCode === 0 &&
    slot.stopCode === CONTAINER_EXITED.stopCode &&
    slot.stoppedReason === CONTAINER_EXITED.stoppedReason &&
    slot.stoppedAt !== undefined
  ) {
    short.exited0.push(slot.index, arns.short(slot.taskArn), slot.stoppedAt);
    return true;
  }
  return false;
}

/**
 * The records a change's short forms stand for. An entry of the wrong kind gives a record the
 * schema refuses; a list that is not one, or cut short, is refused here.
 * @param where the checkpoint, for the error
 */
export function shortSlotRecords(
  change: { readonly started?: unknown; readonly exited0?: unknown },
  where: string,
): StoredSlot[] {
  const entries = (list: unknown, width: number, name: string): readonly unknown[] => {
    if (list === undefined) return [];
    if (Array.isArray(list) && list.length % width === 0) return list;
    throw invalidShape(where, `${name}: not a list of ${String(width)} values per slot`);
  };
  const records: StoredSlot[] = [];
  const started = entries(change.started, 2, "started");
  for (let i = 0; i < started.length; i += 2) {
    records.push({
      index: started[i] as number,
      phase: "running",
      attempts: 1,
      taskArn: started[i + 1] as string,
    });
  }
  const exited = entries(change.exited0, 3, "exited0");
  for (let i = 0; i < exited.length; i += 3) {
    records.push({
      index: exited[i] as number,
      phase: "succeeded",
      attempts: 1,
      taskArn: exited[i + 1] as string,
      exitCode: 0,
      ...CONTAINER_EXITED,
      stoppedAt: exited[i + 2] as number,
    });
  }
  return records;
}

/** A change appended to a checkpoint (`JobStore.append`): one line of JSON. */
type Change = Partial<Checkpoint> &
  Partial<ShortSlots> & { readonly failedTaskArnsAdded?: readonly string[] };

/**
 * A checkpoint with the changes appended after it applied in order: each replaces the run's
 * fields it carries and the slots it lists (by `index`, as records or in short forms), and
 * adds the failed tasks it lists to the run's. Changes older than the checkpoint (a save that replaced the checkpoint before the
 * changes could be cleared) are skipped, and so is a line cut short by a crash; a change that
 * does not follow on from the one before (read across a newer save) ends the merge. What they
 * held is found again in ECS on attach.
 */
function withChanges(base: unknown, lines: readonly string[], where: string): unknown {
  if (base === null || typeof base !== "object" || !Array.isArray((base as Checkpoint).slots)) {
    return base;
  }
  const merged = { ...(base as Checkpoint) };
  // By index: a checkpoint leaves out the slots at their initial value, so a slot's position
  // in the list is not its index. What is not a slot is kept as it is, for the schema to refuse.
  const slots = new Map<unknown, unknown>(
    (merged.slots as unknown[]).map((slot, position) => [
      (slot as { index?: unknown } | null)?.index ?? `at ${String(position)}`,
      slot,
    ]),
  );
  for (const line of lines) {
    if (line === "") continue;
    let change: Change;
    try {
      change = JSON.parse(line) as Change;
    } catch {
      continue;
    }
    if (typeof change.seq !== "number" || change.seq <= (merged.seq ?? 0)) continue;
    // A gap: the changes were read across a newer save. What is merged so far is whole.
    if (change.seq !== (merged.seq ?? 0) + 1) break;
    const { slots: changed = [], failedTaskArnsAdded = [], started, exited0, ...fields } = change;
    Object.assign(merged, fields);
    if (failedTaskArnsAdded.length > 0 && Array.isArray(merged.failedTaskArns)) {
      merged.failedTaskArns = [...merged.failedTaskArns, ...failedTaskArnsAdded];
    }
    for (const slot of changed) slots.set(slot.index, slot);
    for (const slot of shortSlotRecords({ started, exited0 }, where)) slots.set(slot.index, slot);
  }
  merged.slots = [...slots.values()] as Checkpoint["slots"];
  return merged;
}

/** A checkpoint's failure: the task failure without its log tail (application output). */
export function storedFailure(failure: TaskFailure): z.infer<typeof FailureSchema> {
  const stored: z.infer<typeof FailureSchema> = { kind: failure.kind, reason: failure.reason };
  if (failure.exitCode !== undefined) stored.exitCode = failure.exitCode;
  if (failure.stopCode !== undefined) stored.stopCode = failure.stopCode;
  if (failure.stoppedReason !== undefined) stored.stoppedReason = failure.stoppedReason;
  if (failure.container !== undefined) stored.container = failure.container;
  return stored;
}

/**
 * The fingerprint of a parsed job: one short hash per top-level field, so an attach with a
 * different job can say which fields differ without any value being written down.
 * `retry.shouldRetry` (code) counts by its presence only.
 */
export function jobFingerprint(job: BatchJob): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(job)) {
    out[field] = createHash("sha256").update(canonical(value)).digest("hex").slice(0, 16);
  }
  return out;
}

/** The fields whose hashes differ between two fingerprints (or that only one has). */
export function fingerprintDiff(
  stored: Readonly<Record<string, string>>,
  given: Readonly<Record<string, string>>,
): string[] {
  const fields = new Set([...Object.keys(stored), ...Object.keys(given)]);
  return [...fields].filter((f) => stored[f] !== given[f]).sort();
}

/** JSON with sorted keys; functions as a marker. */
function canonical(value: unknown): string {
  if (typeof value === "function") return '"<function>"';
  if (value === undefined) return "null";
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
}
