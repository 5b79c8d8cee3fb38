/**
 * Following logs while tasks run (`logs.follow`, DESIGN 3.6). CloudWatch Logs is the tightest
 * budget in the system (GetLogEvents 10-25 calls/s per account and Region), so N tasks must not
 * cost N calls per interval: streams are read together with FilterLogEvents, up to 100 stream
 * names per call, from a time cursor, de-duplicated by event id. Every call goes through the
 * runner's log rate limit. When a task stops, its streams get one more read so no tail is lost.
 */
import type {
  FilterLogEventsCommandInput,
  FilterLogEventsCommandOutput,
} from "@aws-sdk/client-cloudwatch-logs";
import { logsSdk } from "../aws/sdk.js";
import { awsErrorName, sendFor } from "../aws.js";
import { sleepUnlessAborted } from "../clock.js";
import { limitedCall } from "../aws/rate-limiter.js";
import { silentLogger } from "../logger.js";
import type { LogFetcherContext, LogSource } from "./fetcher.js";

/** A task attempt whose logs are followed. */
export interface FollowTarget {
  readonly jobId: string;
  /** The run the task belongs to, for the `log` events' `runId`. */
  readonly runId?: string;
  readonly taskIndex: number;
  readonly attempt: number;
  readonly taskArn: string;
  readonly sources: readonly LogSource[];
  /** Events before this time are not this attempt's (ms since epoch). */
  readonly since: number;
}

/** One followed log line. */
export interface FollowedLine {
  readonly target: FollowTarget;
  readonly container: string;
  readonly timestamp: number;
  readonly message: string;
}

/** Follower settings. */
export interface LogFollowerOptions {
  /** How often streams are read. Default 5 s. */
  readonly intervalMs?: number;
  /** Stream names per FilterLogEvents call (the API takes at most 100). Default 100. */
  readonly batchSize?: number;
  /**
   * How far back each read looks for events that were ingested late (the awslogs driver buffers
   * a few seconds). Events are de-duplicated by id within this window. Default 15 s.
   */
  readonly lagMs?: number;
  /**
   * Ends following for good when aborted (a host shutting down): the read in flight is
   * aborted, every followed task counts as finished, and `follow` does nothing from then on.
   */
  readonly signal?: AbortSignal;
}

interface StreamState {
  readonly target: FollowTarget;
  readonly source: LogSource;
  /** Newest event time seen. */
  cursor: number;
  /** Ids of events seen within `lagMs` of the cursor. */
  readonly seen: Map<string, number>;
  finishing: boolean;
}

interface TargetState {
  readonly target: FollowTarget;
  readonly streams: StreamState[];
  finishing?: { resolve: () => void; promise: Promise<void> };
}

/** Reads the streams of running tasks in shared FilterLogEvents calls. */
export class LogFollower {
  readonly #ctx: LogFetcherContext;
  readonly #emit: (line: FollowedLine) => void;
  readonly #interval: number;
  readonly #batchSize: number;
  readonly #lag: number;
  readonly #signal: AbortSignal | undefined;
  readonly #targets = new Map<string, TargetState>();
  #running = false;
  /** FilterLogEvents calls made. */
  calls = 0;
  /** Reads (ticks) made. */
  ticks = 0;

  constructor(
    ctx: LogFetcherContext,
    emit: (line: FollowedLine) => void,
    options: LogFollowerOptions = {},
  ) {
    this.#ctx = ctx;
    this.#emit = emit;
    this.#interval = options.intervalMs ?? 5000;
    this.#batchSize = Math.min(100, options.batchSize ?? 100);
    this.#lag = options.lagMs ?? 15_000;
    this.#signal = options.signal;
  }

  /** Starts following a task attempt's streams. */
  follow(target: FollowTarget): void {
    if (target.sources.length === 0 || this.#signal?.aborted === true) return;
    this.#targets.set(target.taskArn, {
      target,
      streams: target.sources.map((source) => ({
        target,
        source,
        cursor: target.since,
        seen: new Map(),
        finishing: false,
      })),
    });
    if (!this.#running) {
      this.#running = true;
      void this.#loop();
    }
  }

  /** Whether `taskArn`'s streams are being followed (until `finish`'s last read is done). */
  isFollowing(taskArn: string): boolean {
    return this.#targets.has(taskArn);
  }

  /** The task stopped: one more read picks up its tail, then it is no longer followed. */
  finish(taskArn: string): Promise<void> {
    const state = this.#targets.get(taskArn);
    if (state === undefined) return Promise.resolve();
    if (state.finishing === undefined) {
      let resolve = (): void => undefined;
      const promise = new Promise<void>((r) => (resolve = r));
      state.finishing = { resolve, promise };
      for (const s of state.streams) s.finishing = true;
    }
    return state.finishing.promise;
  }

  async #loop(): Promise<void> {
    const log = this.#ctx.logger ?? silentLogger;
    try {
      while (this.#targets.size > 0) {
        const now = this.#ctx.clock.now();
        const next = (Math.floor(now / this.#interval) + 1) * this.#interval;
        if (!(await sleepUnlessAborted(this.#ctx.clock, next - now, this.#signal))) break;
        await this.#tick();
        if (this.#signal?.aborted === true) break;
      }
    } catch (error) {
      log.error("log following stopped unexpectedly", { error: String(error) });
    } finally {
      // Ended for good (or broken): nobody waits on a last read that will not come.
      for (const t of this.#targets.values()) t.finishing?.resolve();
      this.#targets.clear();
      this.#running = false;
    }
  }

  async #tick(): Promise<void> {
    this.ticks++;
    const finishing = [...this.#targets.values()].filter((t) => t.finishing !== undefined);
    const groups = new Map<string, StreamState[]>();
    for (const t of this.#targets.values()) {
      for (const s of t.streams) {
        const key = `${s.source.region ?? ""}\u0000${s.source.group}`;
        const list = groups.get(key) ?? [];
        list.push(s);
        groups.set(key, list);
      }
    }
    for (const streams of groups.values()) {
      for (let i = 0; i < streams.length; i += this.#batchSize)
        await this.#read(streams.slice(i, i + this.#batchSize));
    }
    // Targets marked finishing before this tick have had their last read.
    for (const t of finishing) {
      this.#targets.delete(t.target.taskArn);
      t.finishing?.resolve();
    }
  }

  async #read(batch: StreamState[]): Promise<void> {
    const first = batch[0] as StreamState;
    const now = this.#ctx.clock.now();
    // Quiet streams do not drag the window back further than the lag; a stream's last read
    // (finishing) looks back over its whole window so nothing ingested late is lost.
    const startTime = Math.min(
      ...batch.map((s) =>
        s.finishing
          ? s.cursor - this.#lag
          : Math.max(s.cursor - this.#lag, now - this.#interval - this.#lag),
      ),
    );
    const byName = new Map(batch.map((s) => [s.source.stream, s]));
    let nextToken: string | undefined;
    do {
      const out = await this.#call(first.source.region, {
        logGroupName: first.source.group,
        logStreamNames: [...byName.keys()],
        startTime: Math.max(0, startTime),
        ...(nextToken === undefined ? {} : { nextToken }),
      });
      if (out === undefined) return;
      for (const e of out.events ?? []) {
        const s = e.logStreamName === undefined ? undefined : byName.get(e.logStreamName);
        if (s === undefined || e.eventId === undefined) continue;
        const ts = e.timestamp ?? 0;
        if (ts < s.target.since || ts < s.cursor - this.#lag || s.seen.has(e.eventId)) continue;
        s.seen.set(e.eventId, ts);
        if (ts > s.cursor) {
          s.cursor = ts;
          for (const [id, t] of s.seen) if (t < ts - this.#lag) s.seen.delete(id);
        }
        this.#emit({
          target: s.target,
          container: s.source.container,
          timestamp: ts,
          message: e.message ?? "",
        });
      }
      nextToken = out.nextToken;
    } while (nextToken !== undefined);
  }

  async #call(
    region: string | undefined,
    input: FilterLogEventsCommandInput,
  ): Promise<FilterLogEventsCommandOutput | undefined> {
    const client = this.#ctx.logsClientFor(region);
    const out = await limitedCall(
      this.#ctx.limiter,
      this.#ctx.clock,
      () => {
        this.calls++;
        return sendFor<FilterLogEventsCommandOutput>(
          client,
          new (logsSdk().FilterLogEventsCommand)(input),
          this.#signal === undefined ? undefined : { abortSignal: this.#signal },
        );
      },
      {
        maxAttempts: 4,
        backoffMs: (attempt) => 250 * 2 ** attempt,
        ...(this.#signal === undefined ? {} : { signal: this.#signal }),
      },
    );
    if (out.ok) return out.value;
    if (out.aborted || this.#signal?.aborted === true) return undefined;
    const name = awsErrorName(out.error);
    // Before a task writes its first line its group (or stream) may not exist yet: not a problem.
    if (name !== "ResourceNotFoundException") {
      (this.#ctx.logger ?? silentLogger).warn(
        "FilterLogEvents failed; following resumes next interval",
        { error: name },
      );
    }
    return undefined;
  }
}
