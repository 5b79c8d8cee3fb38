/**
 * Reading a task's CloudWatch logs (DESIGN 3.6). For each container logging with `awslogs`, the
 * stream `${prefix}/${container}/${taskId}` is read from its head with GetLogEvents at the API's
 * maximum page size (10,000 events) until the forward token repeats, up to a byte cap. A missing
 * group or stream is reported in the text, never thrown, and never stops the other containers.
 * Every call goes through the runner's log rate limit: CloudWatch Logs is the tightest budget.
 */
import type {
  GetLogEventsCommandInput,
  GetLogEventsCommandOutput,
} from "@aws-sdk/client-cloudwatch-logs";
import { logsSdk } from "../aws/sdk.js";
import type { ContainerDefinition } from "@aws-sdk/client-ecs";
import { awsErrorMessage, awsErrorName, sendFor, type AwsClient } from "../aws.js";
import type { Clock } from "../clock.js";
import { silentLogger, type Logger } from "../logger.js";
import { limitedCall, type AdaptiveRateLimiter } from "../aws/rate-limiter.js";
import { formatLogLine, formatStreamSection, joinSections, type LogLine } from "./format.js";

/** Where one container of one task logs. */
export interface LogSource {
  readonly container: string;
  readonly group: string;
  readonly stream: string;
  /** `awslogs-region`, when the container sets one. */
  readonly region?: string;
}

/** The task id: the last part of its ARN. */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf("/") + 1);
}

/** The awslogs streams of a task, one per container that logs to CloudWatch, in definition order. */
export function logSources(
  containers: readonly ContainerDefinition[] | undefined,
  taskArn: string,
): LogSource[] {
  const taskId = taskIdOf(taskArn);
  return (containers ?? []).flatMap((c) => {
    const options =
      c.logConfiguration?.logDriver === "awslogs" ? c.logConfiguration.options : undefined;
    const group = options?.["awslogs-group"];
    if (group === undefined || c.name === undefined) return [];
    const prefix = options?.["awslogs-stream-prefix"];
    const region = options?.["awslogs-region"];
    return [
      {
        container: c.name,
        group,
        stream: prefix === undefined ? `${c.name}/${taskId}` : `${prefix}/${c.name}/${taskId}`,
        ...(region === undefined ? {} : { region }),
      },
    ];
  });
}

/** One stream as read. */
export interface FetchedStream {
  readonly source: LogSource;
  readonly lines: LogLine[];
  /** Bytes of message text read. */
  readonly bytes: number;
  /** The byte cap cut the stream short. */
  readonly truncated: boolean;
  /** Why nothing (or not everything) could be read: a missing stream, access denied, ... */
  readonly error?: string;
  /** GetLogEvents calls it took. */
  readonly calls: number;
}

/** What the fetcher needs from the runner. */
export interface LogFetcherContext {
  /** The CloudWatch Logs client for a region (`undefined`: the default one). */
  readonly logsClientFor: (region: string | undefined) => AwsClient;
  readonly limiter: AdaptiveRateLimiter;
  readonly clock: Clock;
  readonly logger?: Logger;
}

/** Options of one fetch. */
export interface FetchOptions {
  /**
   * Gives up: the call in flight is aborted and what was read so far is returned, with an error
   * saying reading was cancelled. Reading logs starts nothing, so nothing is hidden by it.
   */
  readonly signal?: AbortSignal;
}

/** Fetches and formats task logs. Replaceable through the runner's `logFetcher` option. */
export interface LogFetcher {
  /** The formatted logs of every awslogs container of a task, at most `maxBytes` of messages. */
  fetchTaskLogs(
    containers: readonly ContainerDefinition[] | undefined,
    taskArn: string,
    options: { maxBytes: number } & FetchOptions,
  ): Promise<{ text: string; streams: FetchedStream[] }>;
  /** The last `lines` events of one container's stream, formatted, or undefined when it has none. */
  fetchTail(source: LogSource, lines: number, options?: FetchOptions): Promise<string | undefined>;
}

const PAGE_LIMIT = 10_000;
/** Transient errors (throttling, 5xx) are retried this many times per call. */
const CALL_RETRIES = 6;

/** The default fetcher: GetLogEvents from the head, pages of 10,000. */
export class CloudWatchLogFetcher implements LogFetcher {
  readonly #ctx: LogFetcherContext;
  /** GetLogEvents calls made. */
  calls = 0;

  constructor(ctx: LogFetcherContext) {
    this.#ctx = ctx;
  }

  async fetchTaskLogs(
    containers: readonly ContainerDefinition[] | undefined,
    taskArn: string,
    options: { maxBytes: number } & FetchOptions,
  ): Promise<{ text: string; streams: FetchedStream[] }> {
    const sources = logSources(containers, taskArn);
    const streams: FetchedStream[] = [];
    let budget = options.maxBytes;
    // One at a time: the byte cap is for the whole task, and the log budget is shared anyway.
    for (const source of sources) {
      const fetched = await this.fetchStream(source, budget, options);
      budget = Math.max(0, budget - fetched.bytes);
      streams.push(fetched);
    }
    const text = joinSections(
      streams.map((s) =>
        formatStreamSection(s.source.stream, s.lines, [
          ...(s.truncated
            ? [
                `[ecs-batch-runner] log truncated at ${options.maxBytes} bytes (logs.maxBytes); the rest is in CloudWatch Logs group ${s.source.group}`,
              ]
            : []),
          ...(s.error === undefined ? [] : [`[ecs-batch-runner] ${s.error}`]),
        ]),
      ),
    );
    return { text, streams };
  }

  /** Reads one stream from its head until the forward token repeats or `maxBytes` is reached. */
  async fetchStream(
    source: LogSource,
    maxBytes: number,
    options: FetchOptions = {},
  ): Promise<FetchedStream> {
    const client = this.#ctx.logsClientFor(source.region);
    const lines: LogLine[] = [];
    let bytes = 0;
    let calls = 0;
    let token: string | undefined;
    for (;;) {
      const page = await this.#call(
        client,
        source,
        {
          logGroupName: source.group,
          logStreamName: source.stream,
          startFromHead: true,
          limit: PAGE_LIMIT,
          ...(token === undefined ? {} : { nextToken: token }),
        },
        options.signal,
      );
      calls += page.calls;
      if ("error" in page)
        return { source, lines, bytes, truncated: false, error: page.error, calls };
      for (const e of page.out.events ?? []) {
        const message = e.message ?? "";
        const size = Buffer.byteLength(message, "utf8");
        if (bytes + size > maxBytes) return { source, lines, bytes, truncated: true, calls };
        bytes += size;
        lines.push({ timestamp: e.timestamp ?? 0, message });
      }
      const next = page.out.nextForwardToken;
      // The end of the stream: the token comes back unchanged (there is no "done" flag).
      if (next === undefined || next === token)
        return { source, lines, bytes, truncated: false, calls };
      token = next;
    }
  }

  async fetchTail(
    source: LogSource,
    lines: number,
    options: FetchOptions = {},
  ): Promise<string | undefined> {
    if (lines <= 0) return undefined;
    const page = await this.#call(
      this.#ctx.logsClientFor(source.region),
      source,
      {
        logGroupName: source.group,
        logStreamName: source.stream,
        startFromHead: false,
        limit: Math.min(lines, PAGE_LIMIT),
      },
      options.signal,
    );
    if ("error" in page) return undefined;
    const events = page.out.events ?? [];
    if (events.length === 0) return undefined;
    return events
      .map((e) => formatLogLine({ timestamp: e.timestamp ?? 0, message: e.message ?? "" }))
      .join("\n");
  }

  /** One GetLogEvents under the rate limit, retrying throttling and transient errors. */
  async #call(
    client: AwsClient,
    source: LogSource,
    input: GetLogEventsCommandInput,
    signal: AbortSignal | undefined,
  ): Promise<{ out: GetLogEventsCommandOutput; calls: number } | { error: string; calls: number }> {
    const out = await limitedCall(
      this.#ctx.limiter,
      this.#ctx.clock,
      () => {
        this.calls++;
        return sendFor<GetLogEventsCommandOutput>(
          client,
          new (logsSdk().GetLogEventsCommand)(input),
          signal === undefined ? undefined : { abortSignal: signal },
        );
      },
      {
        maxAttempts: CALL_RETRIES + 1,
        backoffMs: (attempt) => Math.min(10_000, 200 * 2 ** attempt),
        ...(signal === undefined ? {} : { signal }),
      },
    );
    if (out.ok) return { out: out.value, calls: out.attempts };
    if (out.aborted || signal?.aborted === true) {
      return { error: `reading ${source.stream} was cancelled`, calls: out.attempts };
    }
    const name = awsErrorName(out.error);
    if (name === "ResourceNotFoundException") {
      return {
        error: `no log stream ${source.stream} in group ${source.group} (${awsErrorMessage(out.error)})`,
        calls: out.attempts,
      };
    }
    (this.#ctx.logger ?? silentLogger).warn("GetLogEvents failed", {
      group: source.group,
      stream: source.stream,
      error: name,
    });
    return {
      error: `could not read ${source.stream}: ${name}: ${awsErrorMessage(out.error)}`,
      calls: out.attempts,
    };
  }
}
