/**
 * What the CLI shows while a job runs. The view model is fed the runner's events; rendering is
 * a pure function of it (so frames can be tested without a terminal). On a TTY the frame is
 * redrawn in place; elsewhere each event becomes one plain line.
 */
import type {
  EcsBatchRunnerEvents,
  JobCompletedEvent,
  RetriedEvent,
  TaskFailedEvent,
  TaskStartedEvent,
  TaskStatusChangedEvent,
  TaskSucceededEvent,
  TimedOutEvent,
} from "../events.js";
import { formatDuration } from "../job/duration.js";

/** One task slot as the view shows it. */
export interface TaskRow {
  readonly index: number;
  attempt: number;
  status: string;
  /** When the current attempt started (ms since epoch). */
  since?: number;
  /** When the slot finished, if it has. */
  endedAt?: number;
  note?: string;
}

/** The state behind the progress view. */
export class ProgressModel {
  readonly rows: TaskRow[];
  readonly startedAt: number;
  jobId: string;
  status = "running";

  constructor(jobId: string, taskCount: number, startedAt: number) {
    this.jobId = jobId;
    this.startedAt = startedAt;
    this.rows = Array.from({ length: taskCount }, (_, index) => ({
      index,
      attempt: 0,
      status: "WAITING",
    }));
  }

  /** Updates the model from one event. */
  apply<E extends keyof EcsBatchRunnerEvents>(
    event: E,
    payload: Parameters<EcsBatchRunnerEvents[E]>[0],
    now: number,
  ): void {
    const p = payload as Partial<
      TaskStartedEvent &
        TaskStatusChangedEvent &
        TaskFailedEvent &
        RetriedEvent &
        TaskSucceededEvent
    >;
    const row = p.taskIndex === undefined ? undefined : this.rows[p.taskIndex];
    switch (event) {
      case "taskStarted":
        if (row !== undefined) {
          row.attempt = p.attempt ?? row.attempt;
          row.since = now;
          row.status = "STARTED";
          delete row.note;
        }
        break;
      case "taskStatusChanged":
        if (row !== undefined && p.attempt === row.attempt) row.status = p.lastStatus ?? row.status;
        break;
      case "taskSucceeded":
        if (row !== undefined) {
          row.status = "SUCCEEDED";
          row.endedAt = now;
        }
        break;
      case "taskFailed":
        if (row !== undefined) {
          row.attempt = Math.max(row.attempt, p.attempt ?? 0);
          row.status = p.willRetry === true ? "RETRYING" : "FAILED";
          row.note = p.failure?.reason;
          if (p.willRetry !== true) row.endedAt = now;
        }
        break;
      case "timedOut":
        this.status = "timing out";
        break;
      case "jobCompleted": {
        const result = (payload as JobCompletedEvent).result;
        this.status = result.status;
        for (const t of result.tasks) {
          const r = this.rows[t.index];
          if (r === undefined) continue;
          r.attempt = t.attempts;
          r.status = t.status.toUpperCase();
          r.endedAt ??= now;
        }
        break;
      }
      default:
        break;
    }
  }

  /** Counts per status, for the summary line. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.rows) out[r.status] = (out[r.status] ?? 0) + 1;
    return out;
  }
}

/**
 * One frame: a line per task (index, attempt, lastStatus, elapsed) and a summary line. When
 * there are more tasks than `maxRows`, the unfinished ones are shown first and the rest counted.
 */
export function renderFrame(
  model: ProgressModel,
  now: number,
  options: { maxRows?: number; width?: number } = {},
): string[] {
  const maxRows = options.maxRows ?? 20;
  const width = options.width ?? 100;
  const active = model.rows.filter((r) => r.endedAt === undefined);
  const done = model.rows.filter((r) => r.endedAt !== undefined);
  const shown = [...active, ...done].slice(0, maxRows).sort((a, b) => a.index - b.index);
  const digits = String(Math.max(0, model.rows.length - 1)).length;
  const lines = shown.map((r) => {
    const elapsed = r.since === undefined ? "" : formatDuration((r.endedAt ?? now) - r.since);
    const text = `task ${String(r.index).padStart(digits)}  #${r.attempt}  ${r.status.padEnd(14)} ${elapsed.padStart(8)}${r.note === undefined ? "" : `  ${r.note}`}`;
    return text.length > width ? `${text.slice(0, width - 1)}…` : text;
  });
  if (model.rows.length > shown.length)
    lines.push(`… ${model.rows.length - shown.length} more tasks`);
  const counts = Object.entries(model.counts())
    .map(([status, n]) => `${n} ${status.toLowerCase()}`)
    .join(", ");
  lines.push(
    `job ${model.jobId}: ${model.status} after ${formatDuration(now - model.startedAt)} (${counts})`,
  );
  return lines;
}

/** One plain line per event, for logs and pipes (no cursor movement). */
export function plainLine<E extends keyof EcsBatchRunnerEvents>(
  event: E,
  payload: Parameters<EcsBatchRunnerEvents[E]>[0],
): string | undefined {
  const p = payload as Partial<
    TaskStartedEvent &
      TaskStatusChangedEvent &
      TaskFailedEvent &
      RetriedEvent &
      TaskSucceededEvent &
      TimedOutEvent
  >;
  const task = `task ${String(p.taskIndex)} attempt ${String(p.attempt)}`;
  switch (event) {
    case "jobStarted":
      return `job ${payload.jobId} started (${(payload as { taskCount: number }).taskCount} tasks, ${(payload as { taskDefinitionArn: string }).taskDefinitionArn})`;
    case "taskStarted":
      return `${task} started: ${String(p.taskArn)}`;
    case "taskStatusChanged":
      return `${task} is ${String(p.lastStatus)}`;
    case "taskSucceeded":
      return `${task} succeeded (exit code ${String(p.exitCode)})`;
    case "taskFailed": {
      const tail =
        p.failure?.logTail === undefined ? "" : `\n${p.failure.logTail.replace(/^/gm, "    | ")}`;
      return `${task} failed (${String(p.failure?.kind)}): ${String(p.failure?.reason)}${p.willRetry === true ? "; will retry" : ""}${tail}`;
    }
    case "retried":
      return `task ${String(p.taskIndex)} attempt ${String(p.attempt)} starts in ${formatDuration(p.delayMs ?? 0)}`;
    case "timedOut":
      return `job ${payload.jobId} timed out after ${formatDuration(p.timeoutMs ?? 0)}; stopping ${String(p.stoppedTaskArns?.length)} tasks`;
    case "jobCompleted":
      return `job ${payload.jobId} ${(payload as JobCompletedEvent).result.status}`;
    case "jobRejected":
      return undefined;
    default:
      return undefined;
  }
}

/** Redraws a frame in place on a terminal. */
export class TtyRenderer {
  #lines = 0;

  constructor(private readonly write: (text: string) => void) {}

  draw(lines: readonly string[]): void {
    // Move to the top of the previous frame, then rewrite each line and clear what is left.
    let out = this.#lines > 0 ? `\x1b[${this.#lines}F` : "";
    for (const line of lines) out += `\x1b[2K${line}\n`;
    if (this.#lines > lines.length) out += "\x1b[J";
    this.#lines = lines.length;
    this.write(out);
  }
}
