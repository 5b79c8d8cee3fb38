/**
 * `EcsBatchRunner`: the composition root. It builds the modules once (task definition
 * registry, network resolver, watcher, launcher, log fetcher) and hands each the same clients,
 * clock and logger; each job it runs shares them.
 */
import { defaultClients, defaultLogsClient } from "./aws-clients.js";
import { importSdkModules } from "./aws/sdk.js";
import type { AwsClient, AwsClients } from "./aws.js";
import {
  sleepUnlessAborted,
  systemClock,
  withLongSleeps,
  type Clock,
  type RandomSource,
} from "./clock.js";
import { SafeEventEmitter, type EcsBatchRunnerEvents } from "./events.js";
import {
  JobExecution,
  type JobExecutionOptions,
  type JobServices,
  type ResumedState,
  type StopCause,
} from "./execution/job.js";
import { classifyStoppedTask, essentialContainers } from "./execution/outcome.js";
import { isStoppedByRunner, STOP_JOB_CAUSE, stopReason, TaskStopper } from "./execution/stopper.js";
import {
  fingerprintDiff,
  jobFingerprint,
  parseCheckpoint,
  type Checkpoint,
  type CheckpointStopCause,
} from "./durable/checkpoint.js";
import { causeOf, slotsOf, StoreCheckpoints, writeStopCause } from "./durable/checkpointer.js";
import { infoOf } from "./durable/memory-store.js";
import {
  advanceSlots,
  findOverdueTasks,
  findRunTasks,
  findSinceCheckpoint,
  latestRunId,
  rebuildRun,
  stopCauseIn,
  type RebuiltRun,
  type RunFilter,
  type RunTask,
} from "./durable/ecs-runs.js";
import {
  EcsBatchLeaseError,
  processOwner,
  type JobStore,
  type Lease,
  type RunKey,
} from "./durable/store.js";
import { Launcher } from "./execution/launcher.js";
import {
  familyOf,
  prepareJob,
  previewJob,
  resumeJob,
  type JobPreview,
  type PrepareContext,
  type PreparedJob,
} from "./prepare/prepare.js";
import { AdaptiveRateLimiter, type RateLimit } from "./aws/rate-limiter.js";
import { defaultRetryPolicy, type RetryPolicy } from "./execution/retry.js";
import type { JobResult } from "./result.js";
import { TaskWatcher } from "./execution/watcher.js";
import { CloudWatchLogFetcher, type LogFetcher } from "./logs/fetcher.js";
import { LogFollower } from "./logs/follower.js";
import { JobLogPolicy } from "./logs/job-logs.js";
import { generateJobId, parseJob, type BatchJob, type BatchJobInput } from "./job/schema.js";
import { formatDuration } from "./job/duration.js";
import {
  EcsBatchDetachedError,
  EcsBatchSetupError,
  EcsBatchValidationError,
  validationError,
} from "./errors.js";
import { generateRunId, RUN_ID_PATTERN, taskName } from "./request/naming.js";
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
  /**
   * Where runs are checkpointed, so that another process can carry a run on (`attach`) after
   * this one dies (DESIGN 3.11): `new MemoryJobStore()`, `new FileJobStore(dir)`, or the
   * DynamoDB store. Default: none (runs live in this process's memory only).
   */
  store?: JobStore;
  /**
   * This runner's name as the holder of a run's lease. Default: host, pid and a random part. A
   * name given here must be this runner's alone: the store grants a run's lease to its holder's
   * name again, so two runners under one name would both drive the run.
   */
  owner?: string;
  /**
   * How long a run's lease lasts unless renewed (it is renewed every poll interval). Default:
   * three poll intervals of the job.
   */
  leaseTtlMs?: number;
}

/** A submitted job. */
export interface JobHandle {
  readonly jobId: string;
  /** This run of the job: in the result, every event and the tag `ecs-batch:run-id`. */
  readonly runId: string;
  /**
   * Resolves with the result. Rejects with `EcsBatchValidationError` or `EcsBatchSetupError`
   * when nothing was launched, and, once this process stops driving the run, with
   * `EcsBatchLeaseError` (another process took it over) or `EcsBatchDetachedError` (`detach`).
   */
  readonly result: Promise<JobResult>;
  /** Stops the job: unfinished tasks are stopped and the result's status is `cancelled`. */
  cancel(reason?: string): void;
  /**
   * Hands the run over to another process, as a worker that is being replaced (a deploy, a
   * drained node) does: this process stops driving it (nothing more launched, no StopTask,
   * no task watched), writes where the run was to the store and gives the lease back, so
   * another process attaches at once; the tasks run on. Resolves once this process has let go;
   * `result` then rejects with `EcsBatchDetachedError`. Without a store the run is left to an
   * attach from ECS alone. A job that already ended is left as it is.
   */
  detach(): Promise<void>;
  /** Cancels the job (if still running) and waits for its end, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Which runs `stopJob` and `describeJob` look for, in ECS (and the store). */
export interface RunQuery {
  readonly jobId: string;
  /** The cluster the job ran in. Default: `"default"`. */
  readonly cluster?: string;
  /** One run of the job; every run of it that ECS (or the store) knows when absent. */
  readonly runId?: string;
  /**
   * The task definition family the job ran, which narrows ListTasks to it; the whole cluster
   * is searched when absent.
   */
  readonly family?: string;
}

/** Which runs `stopJob` stops, and how. */
export interface StopJobQuery extends RunQuery {
  /** Added to every StopTask reason: `ecs-batch-runner: job <jobId> stopped by stopJob: <reason>`. */
  readonly reason?: string;
  /**
   * How long after a task of the runs was created `stopJob` keeps looking for more (ms): a
   * RunTask that a host sent just before it died can start its task after the first look. It
   * looks every 5 s until no task of the runs was created within this, for 5 minutes at most;
   * with a store, an unfinished run's last checkpoint counts as a task created then (a host
   * that died before ECS showed any of its tasks), and a task that failed on its own as one
   * created 75 s after it stopped (the retry an owner alive after all would launch, after the
   * default backoff). Default 30 s; 0 looks once. Runs whose last task was created longer ago
   * are stopped in one look. With a store, a run whose lease another process holds is waited
   * for apart from this (see `StopJobResult.unconfirmedRunIds`).
   */
  readonly settleMs?: number;
}

/** What `stopJob` did. */
export interface StopJobResult {
  /**
   * The runs whose tasks were found, and (with a store) the unfinished runs whose cancel it
   * recorded.
   */
  readonly runIds: readonly string[];
  /** Tasks StopTask was sent for (every one that was not already stopped). */
  readonly stoppedTaskArns: readonly string[];
  /** Tasks StopTask could not stop (logged): still running. */
  readonly failedTaskArns: readonly string[];
  /**
   * With a store, the unfinished runs whose cancel it could not record (logged): the store
   * failed, or the run's lease stayed held for 3 minutes by an owner that neither launched a
   * task to be stopped nor ended the run. Such a run may carry on; call `stopJob` again.
   */
  readonly unconfirmedRunIds: readonly string[];
}

/** How an attach waits for a lease another process holds. */
interface LeaseWait {
  /** For how long at most (ms). */
  readonly waitForLease: number;
  /** Aborted when the run is handed over meanwhile: the wait ends at once. */
  readonly detaching?: AbortSignal;
}

/** How `close()` ends the jobs the runner is running. */
export interface CloseOptions {
  /**
   * `"cancel"` (default): each job is cancelled, its tasks stopped. `"detach"`: each run is
   * handed over (`JobHandle.detach()`): its tasks run on, for another process to attach to.
   */
  readonly jobs?: "cancel" | "detach";
}

/** Which tasks `stopOverdue` looks for. */
export interface OverdueQuery {
  /** The cluster to search. Default: `"default"`. */
  readonly cluster?: string;
  /** Narrows ListTasks to one task definition family; the whole cluster when absent. */
  readonly family?: string;
  /**
   * How long past its run's deadline a task must be (ms) to count as overdue. A process that
   * drives a run stops its tasks at the deadline (StopTask makes them desired STOPPED at once),
   * so a task still meant to run this long after it has no process watching it. Default 5
   * minutes.
   */
  readonly graceMs?: number;
  /** Find the overdue tasks without stopping them. */
  readonly dryRun?: boolean;
}

/** A task `stopOverdue` found running past its run's deadline. */
export interface OverdueTask {
  readonly jobId: string;
  readonly runId: string;
  readonly taskIndex: number;
  readonly attempt: number;
  readonly taskArn: string;
  /** The run's deadline, from the task's `ecs-batch:deadline` tag. */
  readonly deadline: Date;
  readonly lastStatus?: string;
}

/** What `stopOverdue` found and did. */
export interface StopOverdueResult {
  readonly cluster: string;
  /** Every overdue task found, oldest deadline first. */
  readonly overdue: readonly OverdueTask[];
  /** Tasks StopTask was sent for (none with `dryRun`). */
  readonly stoppedTaskArns: readonly string[];
  /** Tasks StopTask could not stop (logged): still running. */
  readonly failedTaskArns: readonly string[];
}

/** How long after a run's latest task was created `stopJob` looks for more, by default. */
export const DEFAULT_STOP_JOB_SETTLE_MS = 30_000;
/**
 * When a retry of a task that failed is due at the latest, by default: the default backoff's
 * 1-minute bound after the default 15-second poll that saw the failure.
 */
const RETRY_AFTER_FAILURE_MS = 75_000;
/** How often `stopJob` looks for late tasks meanwhile. */
const SETTLE_LOOK_MS = 5000;
/** How long `stopJob` looks for late tasks at most: a run still launching has an owner. */
const SETTLE_LIMIT_MS = 5 * 60_000;
/**
 * How long `stopJob` waits for a run's lease to record its cancel in the store, looking in ECS
 * meanwhile: a dead owner's lease lapses within its time to live, and a live owner that saw its
 * tasks stopped ends its run and gives the lease back within its stop watch (2 minutes); one
 * with every slot in a backoff launches a retry (1 minute, by default), which is stopped.
 */
const RECORD_LEASE_WAIT_MS = 3 * 60_000;
/** The time to live of the lease `stopJob` takes to record a cancel: a few store calls. */
const RECORD_LEASE_TTL_MS = 30_000;

/** How far past its deadline `stopOverdue` lets a task run by default. */
export const DEFAULT_OVERDUE_GRACE_MS = 5 * 60_000;

/** One task of a run, as ECS shows it. */
export interface RunTaskView {
  readonly taskIndex: number;
  readonly attempt: number;
  readonly taskArn: string;
  readonly lastStatus?: string;
  readonly desiredStatus?: string;
  readonly stopCode?: string;
  readonly stoppedReason?: string;
}

/** What is known of one run of a job. */
export interface RunView {
  readonly runId: string;
  /** When the run must end (from its tasks' tags or its checkpoint). */
  readonly deadline?: Date;
  /** From the store's checkpoint: whether the run finished, and how. */
  readonly checkpoint?: {
    readonly state: "running" | "finished";
    readonly status?: string;
    readonly savedAt: Date;
    readonly slots: readonly {
      readonly index: number;
      readonly phase: string;
      readonly attempts: number;
    }[];
  };
  /** The run's tasks ECS still knows (stopped ones for about an hour), by index and attempt. */
  readonly tasks: readonly RunTaskView[];
}

/** What `describeJob` reports. */
export interface JobDescription {
  readonly jobId: string;
  readonly cluster: string;
  /** Newest first. */
  readonly runs: readonly RunView[];
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

/** How `attach` carries a run on. */
export interface AttachOptions extends RunOptions {
  /**
   * With a store, how long to wait (ms) for a lease another process holds: the attach takes the
   * run over as soon as that lease lapses (its holder died) and rejects with
   * `EcsBatchLeaseError` (`LEASE_HELD`) if it is still held after this long. Default 0: reject
   * at once.
   */
  waitForLease?: number;
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
  /** DescribeTasks and ListTasks share one account bucket, whoever calls them. */
  readonly #describeLimiter: AdaptiveRateLimiter;
  /** This runner's name as a lease holder. */
  readonly #owner: string;
  /** The jobs running now, for `close()`. */
  readonly #running = new Set<JobHandle>();
  /** The runs this runner drives or is taking up (`jobId/runId`): one handle each. */
  readonly #driven = new Set<string>();
  #closed = false;

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
    this.#registry = new TaskDefinitionRegistry(
      this.clients.ecs,
      this.logger,
      this.clock,
      this.random,
    );
    this.#network = new NetworkResolver(this.clients.ec2, this.clock, this.random);
    const limits = options.rateLimits ?? {};
    const base = { ecs: this.clients.ecs, clock: this.clock, logger: this.logger };
    // DescribeTasks and ListTasks share one account bucket: the watcher's polls and the
    // launcher's lookups of lost RunTask answers take their calls from one limiter.
    const describeLimiter = new AdaptiveRateLimiter(
      this.clock,
      limits.describeTasks ?? { ratePerSecond: 20, burst: 100 },
    );
    this.#describeLimiter = describeLimiter;
    this.#owner = options.owner ?? processOwner(this.random);
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
          emittedAt: this.clock.now(),
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
      checkRunId(options.runId);
    } catch (error) {
      invalid = error;
      job = undefined;
    }
    const startedAt = this.clock.now();
    const runId = options.runId ?? generateRunId(startedAt, this.random);
    return this.#handle({
      jobId: job?.jobId ?? fallbackJobId(input, this.random),
      runId,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(job === undefined
        ? { invalid }
        : {
            deadline: { at: startedAt + job.timeout, timeoutMs: job.timeout },
            begin: (_, claim) => {
              claim(runId);
              return this.#begin(job, runId, startedAt, options.runId !== undefined);
            },
          }),
    });
  }

  /**
   * Carries on a run that another process started (DESIGN 3.11), from the runner's `store`, or
   * from what ECS knows of its tasks when there is no store (or no checkpoint of it). Give the
   * same job input the run was started with (a different one is an `EcsBatchValidationError`
   * naming the fields that differ) and the run's id (default: the job's latest run). The run
   * keeps its deadline and the budgets it spent; nothing is launched twice. A run that already
   * finished resolves with its result and launches nothing. With a store, a run driven by a
   * live process is an `EcsBatchLeaseError` naming that process and when its lease lapses,
   * unless `waitForLease` allows waiting for that lease to lapse.
   */
  attach(input: BatchJobInput, options: AttachOptions = {}): JobHandle {
    let job: BatchJob | undefined;
    let invalid: unknown;
    try {
      const jobId = (input as { jobId?: unknown } | null | undefined)?.jobId;
      if (typeof jobId !== "string") {
        throw validationError(
          "jobId",
          "attach finds a run by its job's id: give the jobId the run was started with",
        );
      }
      job = parseJob(input, { random: this.random });
      checkRunId(options.runId);
      const wait = options.waitForLease;
      if (wait !== undefined && !(Number.isFinite(wait) && wait >= 0)) {
        throw validationError(
          "waitForLease",
          "must be the milliseconds to wait for another process's lease: a number, 0 or more",
        );
      }
    } catch (error) {
      invalid = error;
      job = undefined;
    }
    return this.#handle({
      jobId: job?.jobId ?? fallbackJobId(input, this.random),
      runId: options.runId ?? "",
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(job === undefined
        ? { invalid }
        : {
            begin: (detaching, claim) =>
              this.#resume(
                job,
                options.runId,
                { waitForLease: options.waitForLease ?? 0, detaching },
                claim,
              ),
          }),
    });
  }

  /**
   * A job's handle: its result, its cancel and its deadline, whichever way the run begins (a new
   * run, or one carried on). The deadline's timer starts when the deadline is known: at once for
   * a new run (the timeout counts from `submit`), once found for an attached one.
   */
  #handle(start: {
    readonly jobId: string;
    readonly runId: string;
    readonly signal?: AbortSignal;
    readonly invalid?: unknown;
    readonly deadline?: { readonly at: number; readonly timeoutMs: number };
    /**
     * Prepares the run, or finds it again; `detaching` aborts a wait for another's lease. It
     * calls `claim` with the run's id as soon as it knows it, before any lease or launch.
     */
    readonly begin?: (detaching: AbortSignal, claim: (runId: string) => void) => Promise<Begun>;
  }): JobHandle {
    const { jobId, signal } = start;
    let runId = start.runId;
    const done = new AbortController();
    /** The run this handle drives in this runner: another handle of it would drive it twice. */
    let claimed: string | undefined;
    const claim = (id: string): void => {
      const key = `${jobId}/${id}`;
      if (this.#driven.has(key)) throw runInProgress(jobId, id);
      this.#driven.add(key);
      claimed = key;
    };
    let execution: JobExecution | undefined;
    let pending: StopCause | undefined;
    /**
     * A detach asked for while the job was being prepared: carried out once it starts. An
     * attach still waiting for another process's lease stops waiting at once.
     */
    const detach = { requested: false, waiting: new AbortController() };
    const requestStop = (cause: StopCause): void => {
      if (execution !== undefined) execution.requestStop(cause);
      else pending ??= cause;
    };
    const requestDetach = (): void => {
      if (execution !== undefined) execution.detach();
      else {
        detach.requested = true;
        detach.waiting.abort();
      }
    };
    const cancel = (reason?: string): void =>
      requestStop({ kind: "cancel", ...(reason === undefined ? {} : { reason }) });
    const onAbort = (): void => cancel(abortText(signal));
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    const armDeadline = (deadline: { at: number; timeoutMs: number }): void => {
      const timeoutMs = deadline.timeoutMs;
      void sleepUnlessAborted(this.clock, deadline.at - this.clock.now(), done.signal).then(
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
    };
    if (start.deadline !== undefined) armDeadline(start.deadline);
    const closed = this.#closed;
    const result = (async (): Promise<JobResult> => {
      // Let the caller attach listeners before the first event (jobRejected can come at once).
      await Promise.resolve();
      try {
        if (closed) {
          throw new EcsBatchSetupError(
            "RUNNER_CLOSED",
            "this runner was closed (close() or await using); make a new EcsBatchRunner to run more jobs",
          );
        }
        if (start.begin === undefined) throw start.invalid;
        await importSdkModules();
        const begun = await start.begin(detach.waiting.signal, claim);
        runId = begun.prepared.plan.runId ?? runId;
        if (start.deadline === undefined) armDeadline(begun.deadline);
        execution = new JobExecution(
          begun.prepared,
          this.jobServices(begun.prepared),
          begun.startedAt,
          begun.options,
        );
        if (pending !== undefined) execution.requestStop(pending);
        if (detach.requested) execution.detach();
        return await execution.run();
      } catch (error) {
        this.emit("jobRejected", {
          jobId,
          runId,
          emittedAt: this.clock.now(),
          error: error instanceof Error ? error : new Error(textOf(error)),
        });
        throw error;
      } finally {
        done.abort();
        signal?.removeEventListener("abort", onAbort);
        if (claimed !== undefined) this.#driven.delete(claimed);
      }
    })();
    /** The job's end here, whether its result resolved or rejected. */
    const ended = result.then(
      () => undefined,
      () => undefined,
    );
    const handle: JobHandle = {
      jobId,
      get runId() {
        return runId;
      },
      result,
      cancel,
      detach: async () => {
        requestDetach();
        await ended;
      },
      [Symbol.asyncDispose]: async () => {
        cancel("disposed");
        await ended;
      },
    };
    this.#running.add(handle);
    const forget = (): void => {
      this.#running.delete(handle);
    };
    result.then(forget, forget);
    return handle;
  }

  /**
   * Closes the runner: every job it is running is cancelled (reason `runner closed`: their
   * tasks are stopped, as for `cancel()`), or with `{ jobs: "detach" }` handed over to another
   * process (`JobHandle.detach()`: the tasks run on, the lease is given back), and the promise
   * resolves once they have all ended here, when the runner has no timer or watch left. Jobs
   * submitted after it are rejected with an `EcsBatchSetupError` (`RUNNER_CLOSED`). Calling it
   * again waits for the same end. A worker being replaced closes with `"detach"`; its successor
   * attaches to the runs at once.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    // Checked at run time too: a caller in JavaScript may pass anything.
    const jobs: string = options.jobs ?? "cancel";
    if (jobs !== "cancel" && jobs !== "detach") {
      throw new EcsBatchValidationError(
        [{ path: "jobs", message: 'must be "cancel" (the default) or "detach"' }],
        { intro: "Invalid close options" },
      );
    }
    this.#closed = true;
    const running = [...this.#running];
    if (jobs === "detach") await Promise.allSettled(running.map((job) => job.detach()));
    else for (const job of running) job.cancel("runner closed");
    await Promise.allSettled(running.map((job) => job.result));
  }

  /** `close()`, for `await using runner = new EcsBatchRunner(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * A new run: prepared, and with a store, on record under this process's lease. `named`: the
   * caller chose the run id, which may name a run the store holds: refused before any AWS call.
   */
  async #begin(job: BatchJob, runId: string, startedAt: number, named: boolean): Promise<Begun> {
    const store = this.#options.store;
    const key = { jobId: job.jobId, runId };
    if (store !== undefined && named) {
      const text = await store.load(key);
      if (text !== undefined) throw runExists(key, text);
    }
    const deadline = startedAt + job.timeout;
    const prepared = await prepareJob(job, this.prepareContext, { runId, deadline });
    if (store === undefined)
      return {
        prepared,
        startedAt,
        deadline: { at: deadline, timeoutMs: job.timeout },
        options: {},
      };
    const checkpoints = await this.#checkpoints(store, prepared, {
      fingerprint: jobFingerprint(job),
      startedAt,
      deadline,
    });
    await refuseTakenRunId(store, checkpoints, key);
    return {
      prepared,
      startedAt,
      deadline: { at: deadline, timeoutMs: job.timeout },
      options: { checkpoints },
    };
  }

  /** Takes the run's lease and returns its checkpointer. */
  async #checkpoints(
    store: JobStore,
    prepared: PreparedJob,
    run: {
      fingerprint: Record<string, string>;
      startedAt: number;
      deadline: number;
      seq?: number;
    },
    wait: LeaseWait = { waitForLease: 0 },
  ): Promise<StoreCheckpoints> {
    const job = prepared.job;
    const key = { jobId: job.jobId, runId: prepared.plan.runId ?? "" };
    const intervalMs = job.pollInterval;
    const leaseTtlMs = Math.max(this.#options.leaseTtlMs ?? 3 * intervalMs, intervalMs * 2);
    const lease = await this.#acquire(store, key, leaseTtlMs, wait);
    return new StoreCheckpoints(
      { store, clock: this.clock, logger: this.logger, lease, leaseTtlMs, intervalMs },
      {
        ...key,
        cluster: job.cluster,
        taskDefinitionArn: prepared.taskDefinition.taskDefinitionArn,
        ...(prepared.plan.network === undefined ? {} : { network: prepared.plan.network }),
        ...run,
      },
    );
  }

  /**
   * Takes a run's lease, waiting up to `waitMs` for a holder's lease to lapse: checked again
   * when it is due to (plus a moment for clocks), or every second at most, as a live holder
   * keeps renewing it.
   */
  async #acquire(store: JobStore, key: RunKey, ttlMs: number, wait: LeaseWait): Promise<Lease> {
    const giveUpAt = this.clock.now() + wait.waitForLease;
    for (;;) {
      try {
        return await store.acquire(key, this.#owner, ttlMs, this.clock.now());
      } catch (error) {
        const now = this.clock.now();
        if (
          !(error instanceof EcsBatchLeaseError) ||
          error.code !== "LEASE_HELD" ||
          now >= giveUpAt
        )
          throw error;
        const lapses = Math.max(error.expiresAt - now + 50, 50);
        const ms = Math.min(lapses, 1000, giveUpAt - now);
        if (!(await sleepUnlessAborted(this.clock, ms, wait.detaching))) {
          throw new EcsBatchDetachedError(key.jobId, key.runId, "waiting");
        }
      }
    }
  }

  /** A run carried on: from its checkpoint, or rebuilt from its tasks in ECS. */
  async #resume(
    job: BatchJob,
    runId: string | undefined,
    wait: LeaseWait,
    claim: (runId: string) => void,
  ): Promise<Begun> {
    const store = this.#options.store;
    const fingerprint = jobFingerprint(job);
    const checkpoint =
      store === undefined ? undefined : await findCheckpoint(store, job.jobId, runId);
    if (checkpoint !== undefined) {
      const differs = fingerprintDiff(checkpoint.fingerprint, fingerprint);
      if (differs.length > 0) throw jobDiffers(job.jobId, checkpoint.runId, differs);
      claim(checkpoint.runId);
      const prepared = await resumeJob(job, this.prepareContext, {
        runId: checkpoint.runId,
        deadline: checkpoint.deadline,
        taskDefinitionArn: checkpoint.taskDefinitionArn,
        ...(checkpoint.network === undefined ? {} : { network: checkpoint.network }),
      });
      const nameOf = (index: number): string => taskName(job.taskNamePrefix, job.jobId, index);
      const resume: { -readonly [K in keyof ResumedState]: ResumedState[K] } = {
        slots: slotsOf(checkpoint, nameOf),
        failedTaskArns: checkpoint.failedTaskArns,
        ...(checkpoint.stopCause === undefined ? {} : { stopCause: causeOf(checkpoint.stopCause) }),
      };
      const deadline = { at: checkpoint.deadline, timeoutMs: job.timeout };
      // A finished run: its result again (its logs read anew), nothing launched, no lease.
      const finished = (ended: Checkpoint): Begun => ({
        prepared,
        startedAt: ended.startedAt,
        deadline,
        options: {
          resume,
          ...(ended.outcome === undefined ? {} : { finishedAt: ended.outcome.finishedAt }),
        },
      });
      if (checkpoint.state === "finished" || store === undefined) return finished(checkpoint);
      // Lease first: only the process that will drive the run reconciles it.
      const checkpoints = await this.#checkpoints(
        store,
        prepared,
        { fingerprint, startedAt: checkpoint.startedAt, deadline: checkpoint.deadline },
        wait,
      );
      try {
        // Read again under the lease: a previous owner may have written until it lost it.
        const latest = (await findCheckpoint(store, job.jobId, checkpoint.runId)) ?? checkpoint;
        checkpoints.continueFrom(latest.seq ?? 0);
        if (latest !== checkpoint) {
          resume.slots = slotsOf(latest, nameOf);
          resume.failedTaskArns = latest.failedTaskArns;
          if (latest.stopCause !== undefined) resume.stopCause = causeOf(latest.stopCause);
        }
        // Its owner ended it while this process waited for the lease.
        if (latest.state === "finished") {
          await checkpoints.release();
          return finished(latest);
        }
        // The checkpoint lags the run by up to a poll interval: what happened since is in ECS.
        const tasks = await findSinceCheckpoint(
          { ecs: this.clients.ecs, clock: this.clock, limiter: this.#describeLimiter },
          {
            cluster: job.cluster,
            jobId: job.jobId,
            runId: checkpoint.runId,
            family: await familyOf(job, this.prepareContext),
          },
          resume.slots,
          resume.failedTaskArns,
        );
        const advanced = advanceSlots(
          resume.slots,
          resume.failedTaskArns,
          tasks,
          job.jobId,
          essentialContainers(prepared.taskDefinition.definition),
        );
        this.#stopStrays(job, advanced.strays);
        // A cancel (or fatal error) whose stops landed before the checkpoint said so.
        const stopCause = resume.stopCause ?? stopCauseIn(tasks, job.jobId);
        return {
          prepared,
          startedAt: checkpoint.startedAt,
          deadline,
          options: {
            resume: {
              ...resume,
              slots: advanced.slots,
              failedTaskArns: advanced.failedTaskArns,
              ...(stopCause === undefined ? {} : { stopCause }),
            },
            checkpoints,
          },
        };
      } catch (error) {
        // The run does not go on here: its lease goes back, for the next attach to take at once.
        await checkpoints.release();
        throw error;
      }
    }
    return this.#rebuild(job, runId, fingerprint, wait, claim);
  }

  /** Stops earlier attempts of a run found still running: given up on, they are nobody's. */
  #stopStrays(job: BatchJob, strays: readonly string[]): void {
    for (const stray of strays) {
      void this.stopper.stop(
        job.cluster,
        stray,
        stopReason(job.jobId, "gave up on a task ECS reported missing"),
      );
    }
  }

  /** A run rebuilt from what ECS knows of its tasks (no checkpoint of it). */
  async #rebuild(
    job: BatchJob,
    runId: string | undefined,
    fingerprint: Record<string, string>,
    wait: LeaseWait,
    claim: (runId: string) => void,
  ): Promise<Begun> {
    const family = await familyOf(job, this.prepareContext);
    const tasks = await findRunTasks(
      { ecs: this.clients.ecs, clock: this.clock, limiter: this.#describeLimiter },
      { cluster: job.cluster, jobId: job.jobId, ...(runId === undefined ? {} : { runId }), family },
    );
    const chosen = runId ?? latestRunId(tasks);
    const runTasks = tasks.filter((t) => t.runId === chosen);
    const first = runTasks[0];
    if (chosen === undefined || first === undefined) {
      throw new EcsBatchSetupError(
        "RUN_NOT_FOUND",
        `no run${runId === undefined ? "" : ` ${runId}`} of job ${job.jobId} was found: no checkpoint${this.#options.store === undefined ? " (the runner has no store)" : ""}, and no task of it in cluster ${job.cluster} (ECS forgets stopped tasks after about an hour)`,
      );
    }
    claim(chosen);
    const deadline = Number.isNaN(first.deadline)
      ? this.clock.now() + job.timeout
      : Math.max(...runTasks.map((t) => t.deadline).filter((d) => !Number.isNaN(d)));
    const prepared = await resumeJob(job, this.prepareContext, {
      runId: chosen,
      deadline,
      taskDefinitionArn: first.task.taskDefinitionArn ?? "",
    });
    const rebuilt = rebuildRun(
      runTasks,
      job,
      essentialContainers(prepared.taskDefinition.definition),
    ) as RebuiltRun;
    const startedAt = deadline - job.timeout;
    const store = this.#options.store;
    const stopCause = stopCauseIn(runTasks, job.jobId);
    const resume = {
      slots: rebuilt.slots,
      failedTaskArns: rebuilt.failedTaskArns,
      ...(stopCause === undefined ? {} : { stopCause }),
    };
    const checkpoints =
      store === undefined
        ? undefined
        : await this.#checkpoints(store, prepared, { fingerprint, startedAt, deadline }, wait);
    // After the lease, as with a checkpoint: only the process that will drive the run acts on it.
    this.#stopStrays(job, rebuilt.strays);
    return {
      prepared,
      startedAt,
      deadline: { at: deadline, timeoutMs: job.timeout },
      options: { resume, ...(checkpoints === undefined ? {} : { checkpoints }) },
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
   * Stops every unfinished task of a job's runs (or of one run), found in ECS by their tags:
   * the janitor for a run whose process is gone. Works from any process, with or without the
   * job's input. A run this runner drives itself is cancelled at once, as by its handle's
   * `cancel`. Reasons name the job (`ecs-batch-runner: job <jobId> stopped by stopJob`), and
   * read as the run's cancel: its owner, if it is alive after all, stops the rest of the run,
   * and a process that attaches later ends it cancelled, launching nothing (with a store, the
   * cancel is also written into each unfinished run's checkpoint). While a task of the runs was
   * created less than `settleMs` ago, it looks again for tasks that start late.
   */
  async stopJob(query: StopJobQuery): Promise<StopJobResult> {
    const settleMs = query.settleMs ?? DEFAULT_STOP_JOB_SETTLE_MS;
    if (!(Number.isFinite(settleMs) && settleMs >= 0)) {
      throw new EcsBatchValidationError([
        { path: "settleMs", message: "must be a number of milliseconds ≥ 0, e.g. 30000" },
      ]);
    }
    const firstLook = this.clock.now();
    // Stopped tasks too: when the runs' latest task was created says whether to look again.
    const { cluster, tasks } = await this.#findQueried(query, true);
    const cancel = `${STOP_JOB_CAUSE}${query.reason === undefined ? "" : `: ${query.reason}`}`;
    const reason = stopReason(query.jobId, cancel);
    const seen = new Set(tasks.map((t) => t.task.taskArn ?? ""));
    const runIds = new Set(tasks.map((t) => t.runId));
    const stopped: string[] = [];
    const failed: string[] = [];
    const stopLive = async (found: readonly RunTask[]): Promise<void> => {
      const live = found
        .map((t) => t.task)
        .filter((t) => t.desiredStatus !== "STOPPED" && t.lastStatus !== "STOPPED");
      const outcomes = await Promise.all(
        live.map((t) => this.stopper.stop(cluster, t.taskArn ?? "", reason)),
      );
      live.forEach((t, i) => (outcomes[i] === true ? stopped : failed).push(t.taskArn ?? ""));
    };
    await stopLive(tasks);
    // Before the cancel is recorded: that write is a checkpoint saved now.
    let newest = latestCreated(tasks, await this.#lastSaved(query));
    const store = this.#options.store;
    const unconfirmed: RunKey[] = [];
    let unrecorded = store === undefined ? [] : await this.#unfinishedRuns(store, query);
    // Runs of the query this runner drives itself are cancelled here and now, whatever they are
    // waiting for (found by their tasks in the cluster, or in the store).
    const queried = new Set([...runIds, ...unrecorded.map((k) => k.runId)]);
    for (const handle of this.#running) {
      if (handle.jobId === query.jobId && queried.has(handle.runId)) handle.cancel(cancel);
    }
    const recordCancels = async (): Promise<void> => {
      if (store === undefined || unrecorded.length === 0) return;
      const held: RunKey[] = [];
      for (const key of unrecorded) {
        const recorded = await this.#recordCancel(store, key, { kind: "cancel", reason: cancel });
        if (recorded === "held") held.push(key);
        else if (recorded === "failed") unconfirmed.push(key);
        else runIds.add(key.runId);
      }
      unrecorded = held;
    };
    await recordCancels();
    // A task that just failed may have a retry to come from an owner alive after all, which
    // has no other task to see stopped: the retry counts as a task created when it is due.
    const lastFailure = settleMs === 0 ? undefined : latestFailure(tasks, query.jobId);
    if (lastFailure !== undefined) {
      newest = Math.max(newest ?? 0, lastFailure + RETRY_AFTER_FAILURE_MS);
    }
    const lookUntil = (): number =>
      newest === undefined ? firstLook : Math.min(newest + settleMs, firstLook + SETTLE_LIMIT_MS);
    // A run whose lease stays held has a live owner: the janitor keeps looking meanwhile, so a
    // task the owner launches (a retry after a backoff) is stopped, and the owner, reading
    // stopJob in its reason, ends the run and gives the lease back.
    const waitUntil = (): number =>
      unrecorded.length === 0
        ? lookUntil()
        : Math.max(lookUntil(), firstLook + RECORD_LEASE_WAIT_MS);
    if (unrecorded.length > 0) {
      this.logger.info(
        "stopJob waits for the lease of runs another process holds, to record their cancel, and looks in ECS meanwhile",
        {
          jobId: query.jobId,
          runIds: unrecorded.map((k) => k.runId),
          until: new Date(firstLook + RECORD_LEASE_WAIT_MS).toISOString(),
        },
      );
    }
    if (this.clock.now() < lookUntil()) {
      this.logger.info(
        "stopJob looks for tasks that start late: the runs launched, or had a task fail, recently",
        {
          jobId: query.jobId,
          until: new Date(lookUntil()).toISOString(),
        },
      );
    }
    while (this.clock.now() < waitUntil()) {
      await this.clock.sleep(Math.min(SETTLE_LOOK_MS, waitUntil() - this.clock.now()));
      const late = await findRunTasks(
        { ecs: this.clients.ecs, clock: this.clock, limiter: this.#describeLimiter },
        { ...runFilter(query, cluster), stopped: false },
        { known: seen },
      );
      for (const t of late) {
        seen.add(t.task.taskArn ?? "");
        runIds.add(t.runId);
      }
      await stopLive(late);
      newest = latestCreated(late, newest);
      await recordCancels();
    }
    unconfirmed.push(...unrecorded);
    for (const { jobId, runId } of unrecorded) {
      this.logger.warn(
        "stopJob could not record the run's cancel: its lease stayed held, by an owner that did not end the run; a process that attaches to it may carry it on",
        { jobId, runId },
      );
    }
    return {
      runIds: [...runIds],
      stoppedTaskArns: stopped,
      failedTaskArns: failed,
      unconfirmedRunIds: unconfirmed.map((k) => k.runId),
    };
  }

  /**
   * Writes the janitor's cancel into the checkpoint of an unfinished run, under the run's
   * lease: a run whose slots were all waiting (a backoff, a turn) had no task whose stop reason
   * could carry it, and a process that attached later would carry it on. `held` when another
   * process holds the lease; `failed` (with a warning) when the store cannot do it.
   */
  async #recordCancel(
    store: JobStore,
    key: RunKey,
    cause: CheckpointStopCause,
  ): Promise<"recorded" | "ended" | "held" | "failed"> {
    const { jobId, runId } = key;
    let lease: Lease | undefined;
    try {
      // An owner name of its own: a run this runner drives is another owner's to end, and a
      // lease granted to its driver's name would take the run from it.
      const owner = `${this.#owner}/stopJob`;
      lease = await store.acquire(key, owner, RECORD_LEASE_TTL_MS, this.clock.now());
      const text = await store.load(key);
      if (text === undefined) return "ended";
      const checkpoint = parseCheckpoint(text, `of run ${runId} of job ${jobId}`);
      if (checkpoint.state === "finished" || checkpoint.stopCause !== undefined) return "ended";
      await writeStopCause(store, lease, checkpoint, cause, this.clock.now());
      return "recorded";
    } catch (error) {
      if (error instanceof EcsBatchLeaseError && error.code === "LEASE_HELD") return "held";
      this.logger.warn(
        "stopJob could not record the run's cancel in the store; a process that attaches to it may carry it on",
        { jobId, runId, error: textOf(error) },
      );
      return "failed";
    } finally {
      if (lease !== undefined) await store.release(lease).catch(() => undefined);
    }
  }

  /**
   * When the store last heard from an unfinished run of the query (its last checkpoint's time):
   * a host that died before ECS showed any task of its run may still have its first RunTasks in
   * flight. Read as a hint: a store that cannot say gives nothing, and the janitor goes on.
   */
  async #lastSaved(query: RunQuery): Promise<number | undefined> {
    const store = this.#options.store;
    if (store === undefined) return undefined;
    let latest: number | undefined;
    try {
      for (const key of await this.#unfinishedRuns(store, query)) {
        const text = await store.load(key);
        if (text === undefined) continue;
        const { savedAt } = parseCheckpoint(text, `of run ${key.runId} of job ${key.jobId}`);
        latest = Math.max(latest ?? savedAt, savedAt);
      }
    } catch (error) {
      this.logger.warn("stopJob could not read the store; it looks in ECS only", {
        jobId: query.jobId,
        error: textOf(error),
      });
    }
    return latest;
  }

  /** The runs of the query the store holds as unfinished; none (with a warning) if it cannot say. */
  async #unfinishedRuns(store: JobStore, query: RunQuery): Promise<RunKey[]> {
    try {
      const runs = await store.list(query.jobId);
      return runs
        .filter((r) => r.state === "running")
        .filter((r) => query.runId === undefined || r.runId === query.runId)
        .map(({ jobId, runId }) => ({ jobId, runId }));
    } catch (error) {
      this.logger.warn("stopJob could not list the job's runs in the store", {
        jobId: query.jobId,
        error: textOf(error),
      });
      return [];
    }
  }

  /**
   * Stops every task of a cluster that ecs-batch-runner started and that still runs past its
   * run's deadline (the `ecs-batch:deadline` tag) by more than `graceMs`: the tasks of runs
   * whose process died and that nobody attached to. Run it on a schedule (cron, a scheduled
   * Lambda) to bound what an abandoned run can cost: no task outlives its deadline by more than
   * the grace and the schedule's period. Needs no store and no job input; tasks without the
   * runner's tags are never touched. Reasons name the job and the deadline
   * (`ecs-batch-runner: job <jobId> passed its deadline ...`), so a process that attaches to the
   * run later reads the tasks as stopped by the runner, and the run as timed out.
   */
  async stopOverdue(query: OverdueQuery = {}): Promise<StopOverdueResult> {
    const graceMs = query.graceMs ?? DEFAULT_OVERDUE_GRACE_MS;
    const issues = [
      ...(Number.isFinite(graceMs) && graceMs >= 0
        ? []
        : [{ path: "graceMs", message: "must be a number of milliseconds ≥ 0, e.g. 300000" }]),
      ...(query.cluster === undefined || (typeof query.cluster === "string" && query.cluster !== "")
        ? []
        : [{ path: "cluster", message: "must be the cluster's name or ARN" }]),
      ...(query.family === undefined || (typeof query.family === "string" && query.family !== "")
        ? []
        : [{ path: "family", message: "must be a task definition family's name" }]),
    ];
    if (issues.length > 0) throw new EcsBatchValidationError(issues);
    await importSdkModules();
    const cluster = query.cluster ?? "default";
    const now = this.clock.now();
    const found = await findOverdueTasks(
      { ecs: this.clients.ecs, clock: this.clock, limiter: this.#describeLimiter },
      { cluster, now, graceMs, ...(query.family === undefined ? {} : { family: query.family }) },
    );
    const overdue: OverdueTask[] = found.map((t) => ({
      jobId: t.jobId,
      runId: t.runId,
      taskIndex: t.index,
      attempt: t.attempt,
      taskArn: t.task.taskArn ?? "",
      deadline: new Date(t.deadline),
      ...(t.task.lastStatus === undefined ? {} : { lastStatus: t.task.lastStatus }),
    }));
    if (query.dryRun === true) {
      return { cluster, overdue, stoppedTaskArns: [], failedTaskArns: [] };
    }
    const outcomes = await Promise.all(
      overdue.map((t) => {
        this.logger.warn("stopping a task past its run's deadline", {
          jobId: t.jobId,
          runId: t.runId,
          taskIndex: t.taskIndex,
          taskArn: t.taskArn,
          deadline: t.deadline.toISOString(),
        });
        const late = formatDuration(now - t.deadline.getTime());
        const why = `passed its deadline ${t.deadline.toISOString()} by ${late} with no process stopping it; stopped by stopOverdue`;
        return this.stopper.stop(cluster, t.taskArn, stopReason(t.jobId, why));
      }),
    );
    return {
      cluster,
      overdue,
      stoppedTaskArns: overdue.filter((_, i) => outcomes[i] === true).map((t) => t.taskArn),
      failedTaskArns: overdue.filter((_, i) => outcomes[i] !== true).map((t) => t.taskArn),
    };
  }

  /**
   * What ECS and the store know of a job's runs: each run's tasks (by index and attempt, with
   * their statuses) and, with a store, its checkpoint's state. Works from any process.
   */
  async describeJob(query: RunQuery): Promise<JobDescription> {
    const { cluster, tasks } = await this.#findQueried(query, true);
    const runs = new Map<string, RunTask[]>();
    for (const t of tasks) runs.set(t.runId, [...(runs.get(t.runId) ?? []), t]);
    const store = this.#options.store;
    if (store !== undefined) {
      for (const info of await store.list(query.jobId)) {
        if (query.runId === undefined || info.runId === query.runId) {
          if (!runs.has(info.runId)) runs.set(info.runId, []);
        }
      }
    }
    const views: (RunView & { order: number })[] = [];
    for (const [runId, runTasks] of runs) {
      const text = await store?.load({ jobId: query.jobId, runId });
      const checkpoint =
        text === undefined
          ? undefined
          : parseCheckpoint(text, `of run ${runId} of job ${query.jobId}`);
      const tagged = runTasks.map((t) => t.deadline).filter((d) => !Number.isNaN(d));
      const deadline =
        checkpoint?.deadline ?? (tagged.length > 0 ? Math.max(...tagged) : undefined);
      views.push({
        runId,
        order: deadline ?? 0,
        ...(deadline === undefined ? {} : { deadline: new Date(deadline) }),
        ...(checkpoint === undefined
          ? {}
          : {
              checkpoint: {
                state: checkpoint.state,
                ...(checkpoint.outcome === undefined ? {} : { status: checkpoint.outcome.status }),
                savedAt: new Date(checkpoint.savedAt),
                slots: checkpoint.slots.map((s) => ({
                  index: s.index,
                  phase: s.phase,
                  attempts: s.attempts,
                })),
              },
            }),
        tasks: runTasks
          .sort((a, b) => a.index - b.index || a.attempt - b.attempt)
          .map((t) => ({
            taskIndex: t.index,
            attempt: t.attempt,
            taskArn: t.task.taskArn ?? "",
            ...(t.task.lastStatus === undefined ? {} : { lastStatus: t.task.lastStatus }),
            ...(t.task.desiredStatus === undefined ? {} : { desiredStatus: t.task.desiredStatus }),
            ...(t.task.stopCode === undefined ? {} : { stopCode: t.task.stopCode }),
            ...(t.task.stoppedReason === undefined ? {} : { stoppedReason: t.task.stoppedReason }),
          })),
      });
    }
    views.sort((a, b) => b.order - a.order || (a.runId < b.runId ? 1 : -1));
    return { jobId: query.jobId, cluster, runs: views.map(({ order: _order, ...view }) => view) };
  }

  /** The tasks a query names, found in ECS. */
  async #findQueried(
    query: RunQuery,
    stopped: boolean,
  ): Promise<{ cluster: string; tasks: RunTask[] }> {
    await importSdkModules();
    const issues = [
      ...(typeof query.jobId === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(query.jobId)
        ? []
        : [{ path: "jobId", message: "must be the job's id: 1-64 letters, digits, '-' or '_'" }]),
      ...(query.runId === undefined || RUN_ID_PATTERN.test(query.runId)
        ? []
        : [{ path: "runId", message: "must be 1-64 letters, digits, '-' or '_'" }]),
    ];
    if (issues.length > 0) throw new EcsBatchValidationError(issues);
    const cluster = query.cluster ?? "default";
    const tasks = await findRunTasks(
      { ecs: this.clients.ecs, clock: this.clock, limiter: this.#describeLimiter },
      { ...runFilter(query, cluster), stopped },
    );
    return { cluster, tasks };
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
    await importSdkModules();
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

/** How a run begins: prepared, when it started, its deadline and how the job executes. */
interface Begun {
  readonly prepared: PreparedJob;
  readonly startedAt: number;
  readonly deadline: { readonly at: number; readonly timeoutMs: number };
  readonly options: JobExecutionOptions;
}

/** Refuses a run id that cannot go into a tag and a client token. */
function checkRunId(runId: string | undefined): void {
  if (runId !== undefined && !RUN_ID_PATTERN.test(runId)) {
    throw validationError(
      "runId",
      "must be 1-64 letters, digits, '-' or '_' (it goes into a tag and the client tokens); leave it out to have one generated",
    );
  }
}

/** The checkpoint of a run (the job's latest when `runId` is absent), if the store has one. */
async function findCheckpoint(
  store: JobStore,
  jobId: string,
  runId: string | undefined,
): Promise<Checkpoint | undefined> {
  let id = runId;
  if (id === undefined) {
    const runs = await store.list(jobId);
    runs.sort((a, b) => a.startedAt - b.startedAt || (a.runId < b.runId ? -1 : 1));
    id = runs.at(-1)?.runId;
    if (id === undefined) return undefined;
  }
  const text = await store.load({ jobId, runId: id });
  return text === undefined ? undefined : parseCheckpoint(text, `of run ${id} of job ${jobId}`);
}

/**
 * A run id names one run. A new run under the id of one the store holds would write over that
 * run's checkpoint and start its slots afresh: its budgets and history lost, and, were its
 * tasks still running, a second driver for them. Read under the new run's lease, so two
 * processes starting one id cannot both find it free; refused, the lease goes back.
 */
async function refuseTakenRunId(
  store: JobStore,
  checkpoints: StoreCheckpoints,
  key: RunKey,
): Promise<void> {
  let text: string | undefined;
  try {
    text = await store.load(key);
  } catch (error) {
    await checkpoints.release();
    throw error;
  }
  if (text === undefined) return;
  await checkpoints.release();
  throw runExists(key, text);
}

/** A run this runner already drives, submitted or attached again through another handle. */
function runInProgress(jobId: string, runId: string): EcsBatchSetupError {
  return new EcsBatchSetupError(
    "RUN_IN_PROGRESS",
    `run ${runId} of job ${jobId} is driven by this runner already: use the handle its submit or attach returned (a second one would drive it twice)`,
  );
}

function runExists(key: RunKey, checkpoint: string): EcsBatchSetupError {
  const state = infoOf(key, checkpoint).state;
  return new EcsBatchSetupError(
    "RUN_EXISTS",
    `run ${key.runId} of job ${key.jobId} already exists (${state}); a run id names one run: attach to it to ${state === "finished" ? "read its result" : "carry it on"} (attach(job, { runId: "${key.runId}" }), ecs-batch attach --run-id ${key.runId}), or start a new run with another run id`,
  );
}

/** The job given to attach is not the one the run was started with. */
function jobDiffers(
  jobId: string,
  runId: string,
  fields: readonly string[],
): EcsBatchValidationError {
  return new EcsBatchValidationError(
    fields.map((field) => ({
      path: field,
      message: `differs from the job run ${runId} was started with; attach with the same job input (or start a new run)`,
    })),
    { intro: `Not the job of run ${runId} of job ${jobId}` },
  );
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

/** The ECS filter of a janitor's query. */
function runFilter(query: RunQuery, cluster: string): RunFilter {
  return {
    cluster,
    jobId: query.jobId,
    ...(query.runId === undefined ? {} : { runId: query.runId }),
    ...(query.family === undefined ? {} : { family: query.family }),
  };
}

/** When the latest task of `tasks` that failed on its own stopped (ms), if any did. */
function latestFailure(tasks: readonly RunTask[], jobId: string): number | undefined {
  let latest: number | undefined;
  for (const { task } of tasks) {
    const stoppedAt = task.stoppedAt?.getTime();
    if (stoppedAt === undefined || Number.isNaN(stoppedAt)) continue;
    if (task.lastStatus !== "STOPPED" || isStoppedByRunner(jobId, task.stoppedReason)) continue;
    // Without the job's task definition every container counts as essential: at worst a
    // success reads as a failure, and the janitor looks a little longer.
    if (classifyStoppedTask(task, NO_ESSENTIALS).status !== "failed") continue;
    latest = Math.max(latest ?? 0, stoppedAt);
  }
  return latest;
}

const NO_ESSENTIALS: ReadonlyMap<string, boolean> = new Map();

/** When the latest of `tasks` was created (ms), or `since` if later; ECS may not say. */
function latestCreated(tasks: readonly RunTask[], since?: number): number | undefined {
  let latest = since;
  for (const { task } of tasks) {
    const created = task.createdAt?.getTime();
    if (created !== undefined && !Number.isNaN(created)) latest = Math.max(latest ?? 0, created);
  }
  return latest;
}
