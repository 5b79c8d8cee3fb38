/**
 * One watcher per runner polls every unfinished task of every job it runs (DESIGN 3.5).
 * DescribeTasks takes up to 100 tasks, so N tasks cost ⌈N/100⌉ calls per poll. Polls fall on a
 * clock grid (multiples of the poll interval), so tasks launched at different moments, and the
 * tasks of different jobs, are polled together; a call with room left takes the cluster's
 * tasks due next.
 */
import type { DescribeTasksCommandOutput, Task } from "@aws-sdk/client-ecs";
import { ecsSdk } from "../aws/sdk.js";
import {
  awsErrorMessage,
  awsErrorName,
  isRetryableError,
  isThrottlingError,
  sendFor,
  timeOf,
  type AwsClient,
} from "../aws.js";
import { sleepUnlessAborted, type Clock } from "../clock.js";
import { silentLogger, type Logger } from "../logger.js";
import { SharedAbortListeners } from "./abort-listeners.js";
import type { AdaptiveRateLimiter } from "../aws/rate-limiter.js";

/** How watching one task ended. */
export type WatchResult =
  | { readonly kind: "stopped"; readonly task: Task }
  /** DescribeTasks reported it MISSING (or left it out) on `polls` consecutive polls. */
  | { readonly kind: "missing"; readonly polls: number; readonly lastTask?: Task }
  /** DescribeTasks failed in a way that will not pass (access denied, cluster gone). */
  | { readonly kind: "error"; readonly error: unknown; readonly lastTask?: Task }
  /**
   * The caller stopped watching. In these three, `lastTask` is what was last seen of the task:
   * ARN, statuses, version and stop details, not the whole description.
   */
  | { readonly kind: "cancelled"; readonly lastTask?: Task };

/** What to watch. */
export interface WatchRequest {
  readonly cluster: string;
  readonly taskArn: string;
  /** How often to poll this task, ms. */
  readonly pollInterval: number;
  /** Called with each new `lastStatus` (STOPPED included). */
  readonly onStatus?: (task: Task) => void;
  /** Stops watching; the result is `cancelled`. */
  readonly signal?: AbortSignal;
  /** The last status already known (from the RunTask answer), so it is not reported twice. */
  readonly lastStatus?: string;
}

/** What `trackTask` watches: a `WatchRequest` whose statuses go to the listener. */
export type TrackRequest = Omit<WatchRequest, "onStatus">;

/**
 * Receives what `trackTask` sees of its watches. One listener serves any number of watches,
 * told apart by the `subject` each was tracked with, so a watch costs the watcher's own record
 * and nothing else: no promise, no closure per task.
 */
export interface WatchListener<S> {
  /** A new `lastStatus` (STOPPED included). */
  onStatus?(subject: S, task: Task): void;
  /** The watch ended; called once, never from inside the `trackTask` call that began it. */
  onDone(subject: S, result: WatchResult): void;
}

/**
 * Watches a task like `TaskWatcher.watch`, reporting to `listener` with `subject` instead of
 * through a promise: a job with thousands of running tasks keeps one listener, not a pending
 * promise per task. The engine's side of the watcher (execution/job.ts), not part of the
 * package's surface (src/index.ts does not export it): `watch` is the one way to watch a task.
 * `TaskWatcher`'s static block sets it when this module loads: the one place that can reach
 * the watcher's private records.
 */
export let trackTask: <S>(
  watcher: TaskWatcher,
  request: TrackRequest,
  listener: WatchListener<S>,
  subject: S,
) => void;

/** What the watcher needs from the runner. */
export interface WatcherContext {
  readonly ecs: AwsClient;
  readonly clock: Clock;
  readonly limiter: AdaptiveRateLimiter;
  readonly logger?: Logger;
}

/** Watcher settings. */
export interface WatcherOptions {
  /** Consecutive MISSING polls before a task counts as missing. Default 3 (one can be eventual consistency). */
  readonly missingPolls?: number;
  /** DescribeTasks calls in flight at once. Default 10. */
  readonly concurrency?: number;
}

/** Every field set from the start: one object shape for every watch, read on every poll. */
interface Entry {
  readonly cluster: string;
  readonly taskArn: string;
  interval: number;
  dueAt: number;
  lastStatus: string | undefined;
  /** What DescribeTasks last said of the task (see `lastSeen`); undefined until it said anything. */
  lastTask: Task | undefined;
  missing: number;
  /** The DescribeTasks call that last answered for this task (`TaskWatcher.calls`). */
  answeredBy: number;
  /** Finished: no longer watched. */
  done: boolean;
  readonly listener: WatchListener<unknown>;
  readonly subject: unknown;
  /** Ends the watch when aborted. */
  readonly signal: AbortSignal | undefined;
}

const DESCRIBE_LIMIT = 100;

/** Polls tasks with DescribeTasks in shared batches of up to 100. */
export class TaskWatcher {
  readonly #ctx: WatcherContext;
  readonly #missingPolls: number;
  readonly #concurrency: number;
  readonly #entries = new Map<string, Entry>();
  /**
   * The watches of an aborted signal end. They are found by going through every watch, once,
   * rather than kept in a set per signal, which would hold every running task's watch.
   */
  readonly #abortListeners = new SharedAbortListeners((signal) => {
    const ending: Entry[] = [];
    for (const e of this.#entries.values()) if (e.signal === signal) ending.push(e);
    for (const e of ending) this.#finish(e, cancelled(e));
  });
  #running = false;
  #wake: AbortController | undefined;
  #sleepingUntil = Number.POSITIVE_INFINITY;
  /** DescribeTasks calls made. */
  calls = 0;
  /** Tasks asked for, summed over calls. */
  tasksDescribed = 0;

  constructor(ctx: WatcherContext, options: WatcherOptions = {}) {
    this.#ctx = ctx;
    this.#missingPolls = options.missingPolls ?? 3;
    this.#concurrency = options.concurrency ?? 10;
  }

  /** Tasks being watched. */
  get watching(): number {
    return this.#entries.size;
  }

  /** Watches a task until it is STOPPED, missing, failing, or the caller aborts. Never rejects. */
  watch(request: WatchRequest): Promise<WatchResult> {
    return new Promise<WatchResult>((resolve) => {
      const listener: WatchListener<undefined> = {
        onDone: (_, result) => resolve(result),
        ...(request.onStatus === undefined
          ? {}
          : { onStatus: (_: undefined, task: Task) => request.onStatus?.(task) }),
      };
      this.#track(request, listener, undefined);
    });
  }

  static {
    trackTask = (watcher, request, listener, subject) => {
      watcher.#track(request, listener, subject);
    };
  }

  /** `watch`, reporting to `listener` with `subject` (see `trackTask`). */
  #track<S>(request: TrackRequest, listener: WatchListener<S>, subject: S): void {
    if (request.signal?.aborted === true) {
      queueMicrotask(() => listener.onDone(subject, { kind: "cancelled" }));
      return;
    }
    const existing = this.#entries.get(request.taskArn);
    if (existing !== undefined) this.#finish(existing, cancelled(existing));
    const entry: Entry = {
      cluster: request.cluster,
      taskArn: request.taskArn,
      interval: request.pollInterval,
      dueAt: nextGridTime(this.#ctx.clock.now(), request.pollInterval),
      lastStatus: request.lastStatus,
      lastTask: undefined,
      missing: 0,
      answeredBy: 0,
      done: false,
      listener,
      subject,
      signal: request.signal,
    };
    if (request.signal !== undefined) this.#abortListeners.join(request.signal);
    this.#entries.set(request.taskArn, entry);
    this.#schedule(entry.dueAt);
  }

  /** Whether a task is being watched. */
  isWatching(taskArn: string): boolean {
    return this.#entries.has(taskArn);
  }

  /** Polls a task more often from now on (after StopTask, to see it reach STOPPED quickly). */
  expedite(taskArn: string, intervalMs: number): void {
    const entry = this.#entries.get(taskArn);
    if (entry === undefined) return;
    entry.interval = Math.min(entry.interval, intervalMs);
    entry.dueAt = Math.min(entry.dueAt, nextGridTime(this.#ctx.clock.now(), intervalMs));
    this.#schedule(entry.dueAt);
  }

  #schedule(dueAt: number): void {
    if (!this.#running) {
      this.#running = true;
      void this.#loop();
    } else if (dueAt < this.#sleepingUntil) {
      this.#wake?.abort();
    }
  }

  #finish(entry: Entry, result: WatchResult): void {
    if (entry.done) return;
    entry.done = true;
    this.#entries.delete(entry.taskArn);
    if (entry.signal !== undefined) this.#abortListeners.leave(entry.signal);
    entry.listener.onDone(entry.subject, result);
  }

  async #loop(): Promise<void> {
    const log = this.#ctx.logger ?? silentLogger;
    try {
      while (this.#entries.size > 0) {
        const next = this.#earliestDue();
        const now = this.#ctx.clock.now();
        if (next > now) {
          this.#wake = new AbortController();
          this.#sleepingUntil = next;
          await sleepUnlessAborted(this.#ctx.clock, next - now, this.#wake.signal);
          this.#sleepingUntil = Number.POSITIVE_INFINITY;
          // Not sleeping now: the loop looks at every due time before it sleeps again, so a
          // new watch need not wake it (aborting creates a DOMException, with a stack trace).
          this.#wake = undefined;
          continue;
        }
        await this.#poll(this.#batches(now));
      }
    } catch (error) {
      // Nothing above should throw; if it does, fail the watches rather than leave them hanging.
      log.error("the task watcher stopped unexpectedly", { error: String(error) });
      for (const e of [...this.#entries.values()]) this.#finish(e, { kind: "error", error });
    } finally {
      this.#running = false;
    }
  }

  /** The soonest due time of any watch. */
  #earliestDue(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.#entries.values()) if (e.dueAt < next) next = e.dueAt;
    return next;
  }

  /**
   * Due tasks in batches of 100 per cluster; a batch with room takes the cluster's next-due
   * tasks too. Only those not yet due are sorted, to find the next-due: on a poll tick nearly
   * every task is due, so sorting every watch would be most of what the tick costs.
   */
  #batches(now: number): Entry[][] {
    const byCluster = new Map<string, { due: Entry[]; later: Entry[] }>();
    for (const e of this.#entries.values()) {
      let group = byCluster.get(e.cluster);
      if (group === undefined) byCluster.set(e.cluster, (group = { due: [], later: [] }));
      (e.dueAt <= now ? group.due : group.later).push(e);
    }
    const batches: Entry[][] = [];
    for (const { due, later } of byCluster.values()) {
      if (due.length === 0) continue;
      const room = (DESCRIBE_LIMIT - (due.length % DESCRIBE_LIMIT)) % DESCRIBE_LIMIT;
      if (room > 0 && later.length > 0) {
        later.sort((a, b) => a.dueAt - b.dueAt);
        for (let i = 0; i < room && i < later.length; i++) due.push(later[i] as Entry);
      }
      for (let i = 0; i < due.length; i += DESCRIBE_LIMIT)
        batches.push(due.slice(i, i + DESCRIBE_LIMIT));
    }
    return batches;
  }

  async #poll(batches: Entry[][]): Promise<void> {
    let i = 0;
    const worker = async (): Promise<void> => {
      while (i < batches.length) {
        const batch = batches[i++] as Entry[];
        await this.#describe(batch);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, batches.length) }, worker));
  }

  async #describe(batch: Entry[]): Promise<void> {
    // Watches rarely end while their batch waits for a token: copy the batch only when one did.
    const live = batch.some((e) => e.done) ? batch.filter((e) => !e.done) : batch;
    if (live.length === 0) return;
    const cluster = (live[0] as Entry).cluster;
    await this.#ctx.limiter.acquire();
    const call = ++this.calls;
    this.tasksDescribed += live.length;
    let out: DescribeTasksCommandOutput;
    try {
      out = await sendFor<DescribeTasksCommandOutput>(
        this.#ctx.ecs,
        new (ecsSdk().DescribeTasksCommand)({ cluster, tasks: live.map((e) => e.taskArn) }),
      );
      this.#ctx.limiter.onSuccess();
    } catch (error) {
      const name = awsErrorName(error);
      if (!isRetryableError(error)) {
        (this.#ctx.logger ?? silentLogger).error("DescribeTasks failed", {
          cluster,
          error: `${name}: ${awsErrorMessage(error)}`,
        });
        for (const e of live) this.#finish(e, { kind: "error", error, ...lastTaskOf(e) });
        return;
      }
      if (isThrottlingError(error)) this.#ctx.limiter.onThrottle();
      (this.#ctx.logger ?? silentLogger).warn("DescribeTasks failed; polling again shortly", {
        cluster,
        error: name,
      });
      // Try again soon, but not in a tight loop: a tenth of the interval, at least a second.
      const now = this.#ctx.clock.now();
      for (const e of live) e.dueAt = now + Math.max(1000, Math.min(e.interval, e.interval / 10));
      return;
    }
    this.#settle(live, out.tasks ?? [], call);
  }

  /**
   * Applies one DescribeTasks answer to the watches asked about (`live`): index loops in a plain
   * method (see `#earliestDue`), so no iterator result per task described.
   */
  #settle(live: Entry[], tasks: Task[], call: number): void {
    const now = this.#ctx.clock.now();
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i] as Task;
      const entry = task.taskArn === undefined ? undefined : this.#entries.get(task.taskArn);
      if (entry === undefined) continue;
      entry.answeredBy = call;
      entry.missing = 0;
      entry.dueAt = nextGridTime(now, entry.interval);
      if (task.lastStatus === "STOPPED") {
        entry.lastStatus = task.lastStatus;
        entry.listener.onStatus?.(entry.subject, task);
        this.#finish(entry, { kind: "stopped", task });
        continue;
      }
      // A new `version` means ECS changed the task; a running task reads the same on every poll.
      const changed = task.lastStatus !== entry.lastStatus;
      if (changed || task.version === undefined || task.version !== entry.lastTask?.version) {
        entry.lastTask = lastSeen(task);
        entry.lastStatus = task.lastStatus;
      }
      if (changed) entry.listener.onStatus?.(entry.subject, task);
    }
    for (let i = 0; i < live.length; i++) {
      const e = live[i] as Entry;
      if (e.answeredBy === call || e.done) continue;
      e.missing++;
      e.dueAt = nextGridTime(now, e.interval);
      if (e.missing >= this.#missingPolls) {
        this.#finish(e, { kind: "missing", polls: e.missing, ...lastTaskOf(e) });
      }
    }
  }
}

/**
 * What a watch keeps of a task between polls: its status, version and stop details, enough to
 * report how it was last seen if the watch ends without seeing it STOPPED. Not the whole
 * description, which every running task would hold until its next change.
 */
function lastSeen(task: Task): Task {
  const seen: Task = {};
  if (task.taskArn !== undefined) seen.taskArn = task.taskArn;
  if (task.lastStatus !== undefined) seen.lastStatus = task.lastStatus;
  if (task.desiredStatus !== undefined) seen.desiredStatus = task.desiredStatus;
  if (task.version !== undefined) seen.version = task.version;
  if (task.stopCode !== undefined) seen.stopCode = task.stopCode;
  if (task.stoppedReason !== undefined) seen.stoppedReason = task.stoppedReason;
  const stoppingAt = timeOf(task.stoppingAt);
  if (stoppingAt !== undefined) seen.stoppingAt = new Date(stoppingAt);
  return seen;
}

/** `{ lastTask }`: how the task was last seen, if it was seen. */
function lastTaskOf(entry: Entry): { lastTask?: Task } {
  return entry.lastTask === undefined ? {} : { lastTask: entry.lastTask };
}

/** How a watch ends when its caller stops it. */
function cancelled(entry: Entry): WatchResult {
  return { kind: "cancelled", ...lastTaskOf(entry) };
}

/** The first multiple of `interval` after `now`: tasks with one interval share poll times. */
export function nextGridTime(now: number, interval: number): number {
  return (Math.floor(now / interval) + 1) * interval;
}
