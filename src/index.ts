/**
 * ecs-batch-runner: run batch jobs as AWS ECS Fargate tasks with retries, stop semantics,
 * typed events and a complete result. See README.md and docs/.
 */
export {
  defaultClients,
  DEFAULT_OVERDUE_GRACE_MS,
  DEFAULT_STOP_JOB_SETTLE_MS,
  EcsBatchRunner,
  type AttachOptions,
  type CloseOptions,
  type EcsBatchRunnerOptions,
  type JobDescription,
  type JobHandle,
  type OverdueQuery,
  type OverdueTask,
  type RunOptions,
  type RunQuery,
  type RunTaskView,
  type RunView,
  type StopJobQuery,
  type StopJobResult,
  type StopOverdueResult,
} from "./runner.js";
export type * from "./events.js";
export { EVENT_NAMES, SafeEventEmitter } from "./events.js";
export {
  EcsBatchError,
  EcsBatchValidationError,
  EcsBatchSetupError,
  EcsBatchDetachedError,
  type EcsBatchErrorCode,
  type ValidationIssue,
} from "./errors.js";
export {
  MAX_TIMER_MS,
  systemClock,
  withLongSleeps,
  type Clock,
  type RandomSource,
} from "./clock.js";
export { safeLogger, silentLogger, textOf, type Logger } from "./logger.js";
export type { AwsClient, AwsClients, AwsCommand } from "./aws.js";
export {
  type AwsErrorClass,
  awsErrorName,
  classifyAwsError,
  EmptyResponseError,
  isRetryableError,
  isAccessDeniedError,
  isEmptyResponseError,
  isNoCredentialsError,
  isThrottlingError,
  isTransientError,
  withRetries,
  type RetryOptions,
} from "./aws.js";
export { RUNNER_SDK_CLIENT_CONFIG, type DefaultClients } from "./aws-clients.js";

// The job model.
export {
  BatchJobSchema,
  parseJob,
  generateJobId,
  type BatchJob,
  BatchJobInput,
  type ContainerOverrideConfig,
  type KeyValuePair,
  type LogsConfig,
  type NetworkConfig,
  type NetworkInput,
  type PatchOperation,
  type RetryConfig,
  type ShouldRetry,
  type TaskDefinitionSource,
  type TaskDefinitionSourceInput,
} from "./job/schema.js";
export { parseDuration, formatDuration, type Duration } from "./job/duration.js";
export { FARGATE_SIZES, isValidFargateSize, parseCpu, parseMemory } from "./job/fargate.js";
export {
  fromHeimdall,
  loadHeimdallFiles,
  type HeimdallInput,
  type HeimdallObject,
  type HeimdallFiles,
} from "./adapters/heimdall.js";

// Task definitions.
export {
  loadTaskDefinition,
  templateFromObject,
  applyJobToTemplate,
  containerNames,
  REGISTRATION_ONLY_FIELDS,
  type LoadedTaskDefinition,
  type TaskDefinitionTemplate,
  type ReadTextFile,
} from "./template/loader.js";
export {
  normalizeTaskDefinition,
  sameTaskDefinition,
  canonicalJson,
} from "./template/normalize.js";
export {
  TaskDefinitionRegistry,
  type ResolvedTaskDefinition,
  type TaskDefinitionPlan,
} from "./template/registry.js";

// Requests.
export { buildRunTaskInput, checkOverridesSize, type LaunchPlan } from "./request/build.js";
export {
  mergeEnvironment,
  mergeContainerOverrides,
  buildContainerOverrides,
  effectiveEnvironment,
} from "./request/overrides.js";
export {
  applyCustomizations,
  checkRunnerFields,
  validateCustomizations,
} from "./request/customizations.js";
export { NetworkResolver } from "./request/network.js";
export {
  taskName,
  clientToken,
  generateRunId,
  injectedEnvironment,
  INJECTED_VARIABLES,
  RUN_ID_PATTERN,
  RUNNER_TAG_KEYS,
  taskTags,
} from "./request/naming.js";
export { ECS_LIMITS } from "./aws/limits.js";

// Preparation.
export {
  prepareJob,
  previewJob,
  checkCluster,
  type PrepareContext,
  type PreparedJob,
  type JobPreview,
  type RunIdentity,
} from "./prepare/prepare.js";

// Execution: each part usable on its own.
export {
  classifyStoppedTask,
  essentialContainers,
  launchFailure,
  missingFailure,
  STOP_CODE_KINDS,
  type EssentialContainers,
  type TaskOutcome,
} from "./execution/outcome.js";
export {
  backoffDelay,
  defaultRetryPolicy,
  FAILURE_BUDGETS,
  withinBudget,
  type RetryBudget,
  type RetryContext,
  type RetryPolicy,
} from "./execution/retry.js";
export {
  AdaptiveRateLimiter,
  limitedCall,
  type LimitedCallResult,
  type RateLimit,
} from "./aws/rate-limiter.js";
export {
  Launcher,
  runTaskErrorKind,
  type LaunchOptions,
  type LaunchRequest,
  type LaunchResult,
  type LauncherContext,
  type LauncherOptions,
} from "./execution/launcher.js";
export {
  TaskWatcher,
  type WatchRequest,
  type WatchResult,
  type WatcherContext,
  type WatcherOptions,
} from "./execution/watcher.js";
export { findStartedTasks, type LookupResult, type TaskLookupContext } from "./execution/lookup.js";
export { TaskStopper, stopReason, type StopperContext } from "./execution/stopper.js";

// Logs.
export {
  formatLogLine,
  formatStreamHeader,
  formatStreamSection,
  formatTimestamp,
  joinSections,
  type LogLine,
} from "./logs/format.js";
export {
  CloudWatchLogFetcher,
  logSources,
  taskIdOf,
  type FetchedStream,
  type LogFetcher,
  type LogFetcherContext,
  type LogSource,
} from "./logs/fetcher.js";
export {
  LogFollower,
  type FollowTarget,
  type FollowedLine,
  type LogFollowerOptions,
} from "./logs/follower.js";
export {
  representativeTask,
  type Representative,
  type RepresentativeCandidate,
  type RepresentativeJob,
} from "./logs/representative.js";

// Results.
export type * from "./result.js";

// Durable runs (DESIGN 3.11).
export {
  type JobStore,
  type Lease,
  type LeaseRenewal,
  type RunKey,
  type StoredRunInfo,
  EcsBatchLeaseError,
  EcsBatchStoreError,
} from "./durable/store.js";
export { MemoryJobStore } from "./durable/memory-store.js";
export { FileJobStore } from "./durable/file-store.js";
export {
  CHECKPOINT_VERSION,
  EcsBatchCheckpointError,
  parseCheckpoint,
  type Checkpoint,
} from "./durable/checkpoint.js";

// The CLI's exit codes, for wrappers that run `ecs-batch`.
export {
  CLI_EXIT_CODES,
  cliExitCode,
  describeCliExitCode,
  signalExitCode,
  type CancelSignal,
  type CliExitCode,
} from "./exit-codes.js";
