/**
 * `EcsBatchRunner`: the composition root. It builds the modules once (task definition
 * registry, network resolver, watcher, launcher, log fetcher) and hands each the same clients,
 * clock and logger; each job it runs shares them.
 */
import { defaultClients, defaultLogsClient } from "./aws-clients.js";
import type { AwsClient, AwsClients } from "./aws.js";
import {
  sleepUnlessAborted,
  systemClock,
  withLongSleeps,
  type Clock,
  type RandomSource,
} from "./clock.js";
import { SafeEventEmitter, type EcsBatchRunnerEvents } from "./events.js";
import { JobExecution, type JobServices, type StopCause } from "./execution/job.js";
import { Launcher } from "./execution/launcher.js";
import {
  prepareJob,
  previewJob,
  type JobPreview,
  type PrepareContext,
  type PreparedJob,
} from "./prepare/prepare.js";
import { AdaptiveRateLimiter, type RateLimit } from "./aws/rate-limiter.js";
import { defaultRetryPolicy, type RetryPolicy } from "./execution/retry.js";
import { TaskStopper } from "./execution/stopper.js";
import type { JobResult } from "./result.js";
import { TaskWatcher } from "./execution/watcher.js";
import { CloudWatchLogFetcher, type LogFetcher } from "./logs/fetcher.js";
import { LogFollower } from "./logs/follower.js";
import { JobLogPolicy } from "./logs/job-logs.js";
import { generateJobId, parseJob, type BatchJob, type BatchJobInput } from "./job/schema.js";
import { validationError } from "./errors.js";
import { generateRunId, RUN_ID_PATTERN } from "./request/naming.js";
import { safeLogger, silentLogger, textOf, type Logger } from "./logger.js";
import { NetworkResolver } from "./request/network.js";
import type { ReadTextFile } from "./template/loader.js";
import { TaskDefinitionRegistry } from "./template/registry.js";

/** Options of `new EcsBatchRunner(...)` (DESIGN 2). */
export interface EcsBatchRunnerOptions {
  /** Region for the default clients; ignored for clients you pass. Default: the SDK's own resolution (AWS_REGION, profile). */
  region?: string;
  /**
   * The AWS clients. Anything with `send(command)` fits: SDK v3 clients, `aws-sdk-client-mock`
   * mocks, `createSimulatedAws()` from `ecs-batch-runner/testing`. Missing ones are built from
   * `region`, with the SDK's own retry off (`maxAttempts: 1`). Build SDK clients you pass the
   * same way (`new ECSClient({ region, maxAttempts: 1 })`): the runner retries every call itself,
   * under its rate limits and on its clock, and an SDK retry under it multiplies the sends and
   * waits and hides throttling from the limiters.
   */
  clients?: Partial<AwsClients>;
  /**
   * A CloudWatch Logs client for a region other than the default one, used when a container's
   * `awslogs-region` differs. Default: a new SDK client for that region when `clients.logs` was
   * not given, else `clients.logs` itself.
   */
  logsClientForRegion?: (region: string) => AwsClient;
  /** Time source for polling, backoff and timeouts. Default: the system clock. */
  clock?: Clock;
  /** Random numbers in [0, 1) for backoff jitter and generated job ids. Default: `Math.random`. */
  random?: RandomSource;
  /** Where the runner reports what it does. Default: silent. */
  logger?: Logger;
  /** Directory that relative `taskDefinition.path` values are resolved against. Default: the working directory. */
  baseDir?: string;
  /** How template files are read. Default: `fs.readFile`. */
  readFile?: ReadTextFile;
  /** Replaces the retry decisions and backoff (DESIGN 3.3). Default: `defaultRetryPolicy`. */
  retryPolicy?: RetryPolicy;
  /**
   * Client-side rate limits, shared by every job of this runner. They start at the published
   * per-account limits and halve when AWS throttles (other clients share the account).
   */
  rateLimits?: {
    /**
     * RunTask, counted in tasks. Default: 20/s with a burst of 20: RunTask calls that launch
     * Fargate tasks are limited to 20 per second, burst and sustained.
     */
    runTask?: RateLimit;
    /** DescribeTasks. Default: 20/s, burst 100. */
    describeTasks?: RateLimit;
    /** StopTask (shares an account bucket with RunTask). Default: 20/s, burst 50. */
    stopTask?: RateLimit;
  };
  /** RunTask calls in flight at once. Default: 10. */
  maxConcurrentLaunches?: number;
  /** Replaces how task logs are fetched and formatted (DESIGN 3.6). Default: `CloudWatchLogFetcher`. */
  logFetcher?: LogFetcher;
  /**
   * One rate budget for every CloudWatch Logs call of this runner (fetching, tails, following):
   * GetLogEvents allows only 10-25 calls/s per account and Region, shared with everything else
   * reading logs. Default: 5 calls/s.
   */
  logRateLimit?: RateLimit;
  /** How often followed logs (`logs.follow`) are read. Default: 5 s. */
  logFollowIntervalMs?: number;
}

/** A submitted job. */
export interface JobHandle {
  readonly jobId: string;
  /** This run of the job: in the result, every event and the tag `ecs-batch:run-id`. */
  readonly runId: string;
  /** Resolves with the result; rejects only with `EcsBatchValidationError` or `EcsBatchSetupError`. */
  readonly result: Promise<JobResult>;
  /** Stops the job: unfinished tasks are stopped and the result's status is `cancelled`. */
  cancel(reason?: string): void;
  /** Cancels the job (if still running) and waits for its end, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of `run` and `submit`. */
export interface RunOptions {
  /** Aborting cancels the job, like `handle.cancel()`. */
  signal?: AbortSignal;
  /**
   * Identifies this run of the job (DESIGN 3.1): 1-64 letters, digits, `-` or `_`. It goes into
   * the `ecs-batch:run-id` tag and every RunTask client token, so two runs of one job (the same
   * `jobId`) start tasks of their own. Default: generated, sortable by start time.
   */
  runId?: string;
}

/**
 * Runs batch jobs as ECS tasks. One runner can run many jobs at once; they share its clients,
 * its task definition cache and its watcher.
 *
 * @example
 * const runner = new EcsBatchRunner({ region: "us-west-2" });
 * runner.on("taskFailed", (e) => console.warn(e.taskIndex, e.failure.reason));
 * const result = await runner.run({ taskDefinition: { path: "task-definition.json" }, taskCount: 3 });
 */
export class EcsBatchRunner extends SafeEventEmitter<EcsBatchRunnerEvents> {
  /** The clients this runner sends its calls through. */
  readonly clients: Readonly<AwsClients>;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  readonly #registry: TaskDefinitionRegistry;
  readonly #network: NetworkResolver;
  readonly #options: EcsBatchRunnerOptions;
  /** Shared by every job: rate limits are per account, and batching DescribeTasks across jobs saves calls. */
  readonly launcher: Launcher;
  readonly watcher: TaskWatcher;
  readonly stopper: TaskStopper;
  readonly logFetcher: LogFetcher;
  readonly logFollower: LogFollower;
  /** Each job's log port comes from here (DESIGN 3.6). */
  readonly #logPolicy: JobLogPolicy;

  constructor(options: EcsBatchRunnerOptions = {}) {
    super();
    this.#options = options;
    // The host's logger and clock, made safe to lean on: a logger that throws is ignored (it
    // must never keep a StopTask from being sent), and waits longer than a timer can take are
    // taken in chunks (a 600-hour timeout must not fire at once).
    this.logger = safeLogger(options.logger ?? silentLogger);
    this.setListenerLogger(this.logger);
    this.clock = withLongSleeps(options.clock ?? systemClock);
    this.random = options.random === undefined ? Math.random : guardedRandom(options.random);
    const defaults = defaultClients(regionConfig(options.region));
    this.clients = {
      ecs: options.clients?.ecs ?? defaults.ecs,
      logs: options.clients?.logs ?? defaults.logs,
      ec2: options.clients?.ec2 ?? defaults.ec2,
    };
    this.#registry = new TaskDefinitionRegistry(this.clients.ecs, this.logger, this.clock);
    this.#network = new NetworkResolver(this.clients.ec2, this.clock);
    const limits = options.rateLimits ?? {};
    const base = { ecs: this.clients.ecs, clock: this.clock, logger: this.logger };
    // DescribeTasks and ListTasks share one account bucket: the watcher's polls and the
    // launcher's lookups of lost RunTask answers take their calls from one limiter.
    const describeLimiter = new AdaptiveRateLimiter(
      this.clock,
      limits.describeTasks ?? { ratePerSecond: 20, burst: 100 },
    );
    this.launcher = new Launcher(
      {
        ...base,
        random: this.random,
        lookupLimiter: describeLimiter,
        limiter: new AdaptiveRateLimiter(
          this.clock,
          limits.runTask ?? { ratePerSecond: 20, burst: 20 },
        ),
      },
      { concurrency: options.maxConcurrentLaunches ?? 10 },
    );
    this.watcher = new TaskWatcher({ ...base, limiter: describeLimiter });
    this.stopper = new TaskStopper({
      ...base,
      limiter: new AdaptiveRateLimiter(
        this.clock,
        limits.stopTask ?? { ratePerSecond: 20, burst: 50 },
      ),
    });
    const logContext = {
      logsClientFor: (region: string | undefined) => this.logsClientFor(region),
      limiter: new AdaptiveRateLimiter(
        this.clock,
        options.logRateLimit ?? { ratePerSecond: 5, burst: 5 },
      ),
      clock: this.clock,
      logger: this.logger,
    };
    this.logFetcher = options.logFetcher ?? new CloudWatchLogFetcher(logContext);
    this.logFollower = new LogFollower(
      logContext,
      (line) => {
        const t = line.target;
        this.emit("log", {
          jobId: t.jobId,
          runId: t.runId ?? "",
          taskIndex: t.taskIndex,
          attempt: t.attempt,
          taskArn: t.taskArn,
          container: line.container,
          timestamp: line.timestamp,
          message: line.message,
        });
      },
      { intervalMs: options.logFollowIntervalMs ?? 5000 },
    );
    this.#logPolicy = new JobLogPolicy({
      fetcher: this.logFetcher,
      follower: this.logFollower,
      clock: this.clock,
    });
  }

  /** What a job needs from the runner: the shared parts, and its own log port. */
  protected jobServices(prepared: PreparedJob): JobServices {
    const job = prepared.job;
    return {
      clock: this.clock,
      random: this.random,
      logger: this.logger,
      launcher: this.launcher,
      watcher: this.watcher,
      stopper: this.stopper,
      retryPolicy: this.#options.retryPolicy ?? defaultRetryPolicy,
      // The typed map cannot follow a generic event name through; the Emit type checks callers.
      emit: (event, payload) => {
        (this.emit as (event: string, payload: unknown) => boolean).call(this, event, payload);
      },
      logs: this.#logPolicy.forJob({
        jobId: job.jobId,
        runId: prepared.plan.runId ?? "",
        containers: prepared.taskDefinition.definition.containerDefinitions,
        ...job.logs,
      }),
    };
  }

  /**
   * Runs a job to its end. Resolves with the `JobResult` once a task has been launched, whatever
   * happens to the tasks; rejects only with `EcsBatchValidationError` (invalid input, before any
   * AWS call) or `EcsBatchSetupError` (preparation failed, nothing launched).
   */
  async run(input: BatchJobInput, options: RunOptions = {}): Promise<JobResult> {
    return this.submit(input, options).result;
  }

  /**
   * Starts a job and returns at once with a handle to follow, cancel or await it. `signal`
   * cancels the job like `handle.cancel()`.
   */
  submit(input: BatchJobInput, options: RunOptions = {}): JobHandle {
    let job: BatchJob | undefined;
    let invalid: unknown;
    try {
      job = parseJob(input, { random: this.random });
      if (options.runId !== undefined && !RUN_ID_PATTERN.test(options.runId)) {
        throw validationError(
          "runId",
          "must be 1-64 letters, digits, '-' or '_' (it goes into a tag and the client tokens); leave it out to have one generated",
        );
      }
    } catch (error) {
      invalid = error;
      job = undefined;
    }
    const jobId = job?.jobId ?? fallbackJobId(input, this.random);
    const startedAt = this.clock.now();
    const runId = options.runId ?? generateRunId(startedAt, this.random);
    const done = new AbortController();
    let execution: JobExecution | undefined;
    let pending: StopCause | undefined;
    const requestStop = (cause: StopCause): void => {
      if (execution !== undefined) execution.requestStop(cause);
      else pending ??= cause;
    };
    const cancel = (reason?: string): void =>
      requestStop({ kind: "cancel", ...(reason === undefined ? {} : { reason }) });
    const signal = options.signal;
    const onAbort = (): void => cancel(abortText(signal));
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    if (job !== undefined) {
      const timeoutMs = job.timeout;
      void sleepUnlessAborted(this.clock, timeoutMs, done.signal).then(
        (elapsed) => {
          if (elapsed) requestStop({ kind: "timeout", timeoutMs });
        },
        (error: unknown) => {
          // A clock that fails its sleep cannot time the job: stop it now rather than never.
          this.logger.error("the clock failed the job's timeout; stopping the job", {
            jobId,
            error: textOf(error),
          });
          requestStop({ kind: "timeout", timeoutMs });
        },
      );
    }
    const result = (async (): Promise<JobResult> => {
      // Let the caller attach listeners before the first event (jobRejected can come at once).
      await Promise.resolve();
      try {
        if (job === undefined) throw invalid;
        const prepared = await prepareJob(job, this.prepareContext, { runId });
        execution = new JobExecution(prepared, this.jobServices(prepared), startedAt);
        if (pending !== undefined) execution.requestStop(pending);
        return await execution.run();
      } catch (error) {
        this.emit("jobRejected", {
          jobId,
          runId,
          error: error instanceof Error ? error : new Error(textOf(error)),
        });
        throw error;
      } finally {
        done.abort();
        signal?.removeEventListener("abort", onAbort);
      }
    })();
    return {
      jobId,
      runId,
      result,
      cancel,
      [Symbol.asyncDispose]: async () => {
        cancel("disposed");
        await result.then(
          () => undefined,
          () => undefined,
        );
      },
    };
  }

  /** The CloudWatch Logs client for `region` (see `logsClientForRegion`). */
  logsClientFor(region: string | undefined): AwsClient {
    if (region === undefined) return this.clients.logs;
    if (this.#options.logsClientForRegion !== undefined)
      return this.#options.logsClientForRegion(region);
    if (this.#options.clients?.logs !== undefined || region === this.#options.region) {
      return this.clients.logs;
    }
    let client = this.#regionalLogs.get(region);
    if (client === undefined) {
      client = defaultLogsClient(region);
      this.#regionalLogs.set(region, client);
    }
    return client;
  }

  readonly #regionalLogs = new Map<string, AwsClient>();

  /** What preparation needs; shared by every job. */
  protected get prepareContext(): PrepareContext {
    return {
      ecs: this.clients.ecs,
      registry: this.#registry,
      network: this.#network,
      logger: this.logger,
      ...(this.#options.baseDir === undefined ? {} : { baseDir: this.#options.baseDir }),
      ...(this.#options.readFile === undefined ? {} : { readFile: this.#options.readFile }),
      clock: this.clock,
    };
  }

  /**
   * What a run would do, with nothing registered or launched: the task definition it would
   * register (or the ARN it would reuse) and the RunTask input of every task's first attempt.
   * Makes read-only calls only (DescribeClusters, DescribeTaskDefinition, EC2 Describe*).
   * Rejects with `EcsBatchValidationError` or `EcsBatchSetupError` as `run` would.
   */
  async preview(
    input: BatchJobInput,
    options: Pick<RunOptions, "runId"> = {},
  ): Promise<JobPreview> {
    const job = parseJob(input, { random: this.random });
    const runId = options.runId ?? generateRunId(this.clock.now(), this.random);
    return previewJob(job, this.prepareContext, { runId });
  }
}

/**
 * A host's random source that cannot break the runner: a throw, or a number outside [0, 1),
 * falls back to `Math.random` for that draw (ids and jitter must still be made).
 */
function guardedRandom(random: RandomSource): RandomSource {
  return () => {
    try {
      const r = random();
      if (r >= 0 && r < 1) return r;
    } catch {
      // Falls through: a draw is all that is needed, and Math.random gives one.
    }
    return Math.random();
  };
}

/** A job id for a job whose input could not be parsed: its own id when it has a usable one. */
function fallbackJobId(input: unknown, random: RandomSource): string {
  const id = (input as { jobId?: unknown } | null | undefined)?.jobId;
  return typeof id === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : generateJobId(random);
}

/** The cancel reason an aborted signal carries, if it carries a readable one. */
function abortText(signal: AbortSignal | undefined): string | undefined {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason.name === "AbortError" ? undefined : reason.message;
  return typeof reason === "string" ? reason : undefined;
}

function regionConfig(region: string | undefined): { region?: string } {
  return region === undefined ? {} : { region };
}

export { defaultClients } from "./aws-clients.js";
