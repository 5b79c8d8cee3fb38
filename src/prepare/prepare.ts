/**
 * Preparation: everything between a validated job and its first RunTask. Input-only checks run
 * first, before any AWS call (an invalid job costs nothing); then the cluster is checked, the
 * task definition registered or reused, and the network resolved. The result is a `LaunchPlan`.
 */
import type {
  AwsVpcConfiguration,
  DescribeClustersCommandOutput,
  RunTaskCommandInput,
} from "@aws-sdk/client-ecs";
import { ecsSdk } from "../aws/sdk.js";
import {
  awsErrorMessage,
  awsErrorName,
  classifyAwsError,
  commonSetupError,
  sendFor,
  withRetries,
  type AwsClient,
} from "../aws.js";
import { systemClock, type Clock } from "../clock.js";
import { EcsBatchSetupError, EcsBatchValidationError, type ValidationIssue } from "../errors.js";
import type { BatchJob } from "../job/schema.js";
import { silentLogger, type Logger } from "../logger.js";
import { buildRunTaskInput, checkOverridesSize, type LaunchPlan } from "../request/build.js";
import { validateCustomizations } from "../request/customizations.js";
import type { NetworkResolver } from "../request/network.js";
import {
  applyJobToTemplate,
  checkFargateSize,
  checkOverrideNames,
  containerNames,
  loadTaskDefinition,
  type ReadTextFile,
  type TaskDefinitionTemplate,
} from "../template/loader.js";
import type { ResolvedTaskDefinition, TaskDefinitionRegistry } from "../template/registry.js";

/** What preparation needs from the runner. */
export interface PrepareContext {
  readonly ecs: AwsClient;
  readonly registry: TaskDefinitionRegistry;
  readonly network: NetworkResolver;
  readonly logger?: Logger;
  /** Directory that relative template paths are resolved against. */
  readonly baseDir?: string;
  readonly readFile?: ReadTextFile;
  /** Waits between retries of the cluster check. Default: the system clock. */
  readonly clock?: Clock;
}

/** A job ready to launch. */
export interface PreparedJob {
  readonly job: BatchJob;
  readonly plan: LaunchPlan;
  readonly taskDefinition: ResolvedTaskDefinition;
}

/** What `preview` reports: what would be registered and sent, with nothing registered or launched. */
export interface JobPreview {
  readonly jobId: string;
  readonly cluster: string;
  readonly taskDefinition:
    | { readonly action: "reuse"; readonly taskDefinitionArn: string }
    | { readonly action: "use"; readonly taskDefinitionArn: string }
    | {
        readonly action: "register";
        /** The RegisterTaskDefinition input; RunTask inputs name its family until it is registered. */
        readonly input: TaskDefinitionTemplate;
      };
  readonly network?: AwsVpcConfiguration;
  /** The RunTask input of each task's first attempt, in task order. */
  readonly runTaskInputs: readonly RunTaskCommandInput[];
}

/**
 * Stand-ins for the input-only checks where only AWS can tell the value (the ARN a template
 * gets, an inferred network), shaped like the real ones so patch paths resolve. A customization
 * that fails only on a stand-in is checked again against the real request.
 */
const PLACEHOLDER_ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/placeholder:1";
const PLACEHOLDER_NETWORK: AwsVpcConfiguration = {
  subnets: ["subnet-00000000"],
  securityGroups: ["sg-00000000"],
  assignPublicIp: "ENABLED",
};
/**
 * What the input-only requests cannot know: the task definition's ARN and, when no run id is
 * given (a preparation called on its own), what the run id goes into: the client token and an
 * `ecs-batch:` tag.
 */
function unresolvedBeforeAws(run: RunIdentity): string[] {
  return run.runId === undefined || run.deadline === undefined
    ? ["/taskDefinition", "/clientToken", "/tags"]
    : ["/taskDefinition"];
}
/** With `{ arn }` the definition's containers and network mode come from AWS too. */
const UNRESOLVED_BEFORE_DESCRIBE = ["/networkConfiguration", "/overrides/containerOverrides"];

function maxAttempts(job: BatchJob): number {
  return job.maxFailCount + job.retry.maxLaunchRetries + 1;
}

function planFor(
  job: BatchJob,
  taskDefinitionArn: string,
  names: readonly string[],
  network: AwsVpcConfiguration | undefined,
  taskOverrides: LaunchPlan["taskOverrides"],
): LaunchPlan {
  return {
    jobId: job.jobId,
    cluster: job.cluster,
    taskDefinitionArn,
    containerNames: names,
    taskCount: job.taskCount,
    taskNamePrefix: job.taskNamePrefix,
    containerOverrides: job.containerOverrides,
    taskOverrides,
    launchType: job.launchType,
    ...(job.platformVersion === undefined ? {} : { platformVersion: job.platformVersion }),
    ...(network === undefined ? {} : { network }),
    tags: job.tags,
    taskCustomizations: job.taskCustomizations,
  };
}

/**
 * Checks a plan's requests: override size and customizations. With `stage: "input"` (facts from
 * the input alone) a problem is an `EcsBatchValidationError`; once the plan holds facts from AWS
 * (the containers of an `{ arn }` definition, the inferred network) it is an
 * `EcsBatchSetupError` (DESIGN 3.3a). Either way nothing has been launched. `unresolved`: JSON
 * pointers whose values in the plan are stand-ins (see `validateCustomizations`).
 *
 * Customizations are checked against the first request (task 0, attempt 1) and the one least
 * like it (last task, last possible attempt): an operation applies to every request, and the
 * task name, token, `ecs-batch:` tags and `TASK_*` values differ between them.
 */
function checkPlan(
  plan: LaunchPlan,
  job: BatchJob,
  stage: "input" | "aws",
  unresolved: readonly string[] = [],
): void {
  const bare: LaunchPlan = { ...plan, taskCustomizations: [] };
  const issues: ValidationIssue[] = checkOverridesSize(bare, maxAttempts(job));
  if (job.taskCustomizations.length > 0) {
    const check = (index: number, attempt: number): ValidationIssue[] =>
      validateCustomizations(job.taskCustomizations, buildRunTaskInput(bare, index, attempt), {
        unresolved,
      });
    let found = check(0, 1);
    const [lastIndex, lastAttempt] = [plan.taskCount - 1, maxAttempts(job)];
    if (found.length === 0 && (lastIndex > 0 || lastAttempt > 1)) {
      found = check(lastIndex, lastAttempt).map((i) => ({
        path: i.path,
        message: `${i.message} (in the request of task ${lastIndex}, attempt ${lastAttempt}: an operation applies to every task's requests, whose task name, token, ecs-batch: tags and TASK_* values differ)`,
      }));
    }
    issues.push(...found);
  }
  if (issues.length === 0) return;
  if (stage === "input") throw new EcsBatchValidationError(issues);
  // A preview of a template still to be registered names its family: the ARN is not known yet.
  const definition = plan.taskDefinitionArn.startsWith("arn:")
    ? `task definition ${plan.taskDefinitionArn}`
    : `task definition family ${plan.taskDefinitionArn} (not registered yet, so the requests name the family)`;
  throw new EcsBatchSetupError(
    "INVALID_PARAMETER",
    `the job's RunTask requests, completed with what AWS reported for ${definition}, fail these checks:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")}`,
  );
}

/** The task-level overrides for `{ arn }` sources: the definition is as registered, so sizes and roles go in RunTask. */
function arnTaskOverrides(job: BatchJob): LaunchPlan["taskOverrides"] {
  return {
    ...(job.cpu === undefined ? {} : { cpu: String(job.cpu) }),
    ...(job.memory === undefined ? {} : { memory: String(job.memory) }),
    ...(job.executionRoleArn === undefined ? {} : { executionRoleArn: job.executionRoleArn }),
    ...(job.taskRoleArn === undefined ? {} : { taskRoleArn: job.taskRoleArn }),
  };
}

/** Cluster checks in flight, per client and cluster: jobs submitted together share one call. */
const clusterChecks = new WeakMap<AwsClient, Map<string, Promise<void>>>();

/**
 * Checks that the cluster exists and is ACTIVE. DescribeClusters reports an unknown cluster as
 * a `MISSING` failure rather than an error. Without permission to describe clusters, or when
 * the call is still throttled or failing after 4 sends (backing off on `clock`), the check is
 * skipped: RunTask reports a missing cluster too, and that is also a setup error (DESIGN 3.3a).
 * No credentials, or no answer at all, is a setup error at once: nothing else would work.
 * Concurrent checks of one cluster through one client share a single DescribeClusters call (its
 * bucket holds 50 calls, so a hundred jobs submitted at once would otherwise throttle themselves).
 */
export function checkCluster(
  ecs: AwsClient,
  cluster: string,
  logger: Logger = silentLogger,
  clock: Clock = systemClock,
): Promise<void> {
  let inFlight = clusterChecks.get(ecs);
  if (inFlight === undefined) {
    inFlight = new Map();
    clusterChecks.set(ecs, inFlight);
  }
  const known = inFlight.get(cluster);
  if (known !== undefined) return known;
  const checks = inFlight;
  const check = describeCluster(ecs, cluster, logger, clock).finally(() => checks.delete(cluster));
  checks.set(cluster, check);
  return check;
}

async function describeCluster(
  ecs: AwsClient,
  cluster: string,
  logger: Logger,
  clock: Clock,
): Promise<void> {
  let out: DescribeClustersCommandOutput;
  try {
    out = await withRetries(
      () =>
        sendFor<DescribeClustersCommandOutput>(
          ecs,
          new (ecsSdk().DescribeClustersCommand)({ clusters: [cluster] }),
        ),
      {
        clock,
        onRetry: (error, attempt, delayMs) =>
          logger.debug("DescribeClusters failed; sending it again", {
            cluster,
            error: awsErrorName(error),
            attempt,
            delayMs,
          }),
      },
    );
  } catch (err) {
    const common = commonSetupError("DescribeClusters", err);
    if (common !== undefined) throw common;
    const kind = classifyAwsError(err);
    if (kind === "accessDenied") {
      logger.debug("skipping the cluster check: DescribeClusters was denied", { cluster });
      return;
    }
    if (kind === "throttled" || kind === "transient" || kind === "ambiguous") {
      logger.warn("skipping the cluster check: DescribeClusters failed; RunTask checks it too", {
        cluster,
        error: `${awsErrorName(err)}: ${awsErrorMessage(err)}`,
      });
      return;
    }
    if (awsErrorName(err) === "ClusterNotFoundException") {
      throw clusterNotFound(cluster, err);
    }
    throw new EcsBatchSetupError(
      "AWS_ERROR",
      `DescribeClusters failed: ${awsErrorName(err)}: ${awsErrorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  const found = out.clusters?.[0];
  if (found === undefined || (found.status !== undefined && found.status !== "ACTIVE")) {
    throw clusterNotFound(cluster, undefined, found?.status);
  }
}

/** The setup error for a cluster ECS does not know. */
export function clusterNotFound(
  cluster: string,
  cause?: unknown,
  status?: string,
): EcsBatchSetupError {
  return new EcsBatchSetupError(
    "CLUSTER_NOT_FOUND",
    `cluster "${cluster}" ${status === undefined ? "was not found" : `is ${status}`} in this region; create it or set cluster to an existing cluster name or ARN`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Input-only work: loads the template and runs every check that needs no AWS call. Returns the
 * template to register (after the job is applied), or the ARN to describe.
 */
async function loadAndCheck(
  job: BatchJob,
  ctx: PrepareContext,
  run: RunIdentity,
): Promise<{ kind: "template"; template: TaskDefinitionTemplate } | { kind: "arn"; arn: string }> {
  const loaded = await loadTaskDefinition(job.taskDefinition, {
    ...(ctx.baseDir === undefined ? {} : { baseDir: ctx.baseDir }),
    ...(ctx.readFile === undefined ? {} : { readFile: ctx.readFile }),
  });
  // An explicit network is used as given, so it is checked as the resolver will return it.
  const explicit: AwsVpcConfiguration | undefined =
    job.network?.kind === "explicit"
      ? {
          subnets: [...job.network.subnets],
          securityGroups: [...job.network.securityGroups],
          assignPublicIp: job.network.assignPublicIp,
        }
      : undefined;
  if (loaded.kind === "arn") {
    // Only what the job fixes is checked here (reserved paths, tags, task overrides); the rest
    // once the definition is described.
    checkPlan(
      withRun(
        planFor(job, PLACEHOLDER_ARN, [], explicit ?? PLACEHOLDER_NETWORK, arnTaskOverrides(job)),
        run,
      ),
      job,
      "input",
      [...unresolvedBeforeAws(run), ...UNRESOLVED_BEFORE_DESCRIBE],
    );
    return loaded;
  }
  const template = applyJobToTemplate(loaded.template, job);
  const awsvpc = template.networkMode === "awsvpc";
  const network = awsvpc ? (explicit ?? PLACEHOLDER_NETWORK) : undefined;
  checkPlan(
    withRun(planFor(job, PLACEHOLDER_ARN, containerNames(template), network, {}), run),
    job,
    "input",
    awsvpc && explicit === undefined
      ? [...unresolvedBeforeAws(run), "/networkConfiguration"]
      : unresolvedBeforeAws(run),
  );
  return { kind: "template", template };
}

/** Prepares a job for launch: registers or reuses its task definition and resolves its network. */
export async function prepareJob(
  job: BatchJob,
  ctx: PrepareContext,
  options: RunIdentity = {},
): Promise<PreparedJob> {
  const logger = ctx.logger ?? silentLogger;
  const source = await loadAndCheck(job, ctx, options);
  await checkCluster(ctx.ecs, job.cluster, logger, ctx.clock);
  const resolved =
    source.kind === "template"
      ? await ctx.registry.resolveTemplate(source.template)
      : await describeForJob(job, source.arn, ctx);
  const network = await ctx.network.resolve(job.network, resolved.definition.networkMode);
  const plan = withRun(
    planFor(
      job,
      resolved.taskDefinitionArn,
      containerNames(resolved.definition),
      network,
      source.kind === "arn" ? arnTaskOverrides(job) : {},
    ),
    options,
  );
  checkPlan(plan, job, "aws");
  return { job, plan, taskDefinition: resolved };
}

/** Prepares without registering or launching, and returns the requests a run would send. */
export async function previewJob(
  job: BatchJob,
  ctx: PrepareContext,
  options: RunIdentity = {},
): Promise<JobPreview> {
  const source = await loadAndCheck(job, ctx, options);
  await checkCluster(ctx.ecs, job.cluster, ctx.logger, ctx.clock);
  let taskDefinition: JobPreview["taskDefinition"];
  let arn: string;
  let networkMode: string | undefined;
  let names: string[];
  if (source.kind === "template") {
    const planned = await ctx.registry.planTemplate(source.template);
    if (planned.action === "reuse") {
      arn = planned.resolved.taskDefinitionArn;
      taskDefinition = { action: "reuse", taskDefinitionArn: arn };
    } else {
      arn = String(source.template.family);
      taskDefinition = { action: "register", input: source.template };
    }
    networkMode = source.template.networkMode;
    names = containerNames(source.template);
  } else {
    const described = await describeForJob(job, source.arn, ctx);
    arn = described.taskDefinitionArn;
    taskDefinition = { action: "use", taskDefinitionArn: arn };
    networkMode = described.definition.networkMode;
    names = containerNames(described.definition);
  }
  const network = await ctx.network.resolve(job.network, networkMode);
  const plan = withRun(
    planFor(job, arn, names, network, source.kind === "arn" ? arnTaskOverrides(job) : {}),
    options,
  );
  checkPlan(plan, job, "aws");
  return {
    jobId: job.jobId,
    cluster: job.cluster,
    taskDefinition,
    ...(network === undefined ? {} : { network }),
    // Requests of one plan share their unchanging parts (override and tag entries); a preview's
    // caller may edit what it is given, so each input here is a copy of its own.
    runTaskInputs: Array.from({ length: job.taskCount }, (_, i) =>
      structuredClone(buildRunTaskInput(plan, i, 1)),
    ),
  };
}

/**
 * Which run a plan launches for (DESIGN 3.1, 3.11): its id and deadline go into every task's
 * tags (and the id into the client tokens); without them, requests carry neither.
 */
export interface RunIdentity {
  readonly runId?: string;
  /** The run's deadline, ms since epoch. */
  readonly deadline?: number;
}

function withRun(plan: LaunchPlan, run: RunIdentity): LaunchPlan {
  return {
    ...plan,
    ...(run.runId === undefined ? {} : { runId: run.runId }),
    ...(run.deadline === undefined ? {} : { deadline: run.deadline }),
  };
}

/** What a run that is carried on by another process keeps from its start (DESIGN 3.11). */
export interface ResumedRun extends RunIdentity {
  readonly runId: string;
  readonly deadline: number;
  readonly taskDefinitionArn: string;
  /** The awsvpc configuration its requests carried; resolved again when absent. */
  readonly network?: AwsVpcConfiguration;
}

/**
 * Prepares a job to carry on a run: nothing is registered, the run's own task definition is
 * described, and the plan is built as the run's first process built it (same definition, same
 * network, same tags), so every request, and so every client token, is the same.
 */
export async function resumeJob(
  job: BatchJob,
  ctx: PrepareContext,
  run: ResumedRun,
): Promise<PreparedJob> {
  const loaded = await loadTaskDefinition(job.taskDefinition, {
    ...(ctx.baseDir === undefined ? {} : { baseDir: ctx.baseDir }),
    ...(ctx.readFile === undefined ? {} : { readFile: ctx.readFile }),
  });
  const resolved =
    loaded.kind === "arn"
      ? await describeForJob(job, run.taskDefinitionArn, ctx)
      : await ctx.registry.describe(run.taskDefinitionArn);
  const network =
    run.network ?? (await ctx.network.resolve(job.network, resolved.definition.networkMode));
  const plan = withRun(
    planFor(
      job,
      resolved.taskDefinitionArn,
      containerNames(resolved.definition),
      network,
      loaded.kind === "arn" ? arnTaskOverrides(job) : {},
    ),
    run,
  );
  return { job, plan, taskDefinition: resolved };
}

/**
 * The task definition family of a job, without calling AWS: a template's `family`, or the
 * family named in `taskDefinition.arn`. Finding a run's tasks lists this family only.
 */
export async function familyOf(job: BatchJob, ctx: PrepareContext): Promise<string> {
  const loaded = await loadTaskDefinition(job.taskDefinition, {
    ...(ctx.baseDir === undefined ? {} : { baseDir: ctx.baseDir }),
    ...(ctx.readFile === undefined ? {} : { readFile: ctx.readFile }),
  });
  if (loaded.kind === "template") return String(loaded.template.family);
  const name = loaded.arn.slice(loaded.arn.lastIndexOf("/") + 1);
  return name.includes(":") ? name.slice(0, name.indexOf(":")) : name;
}

/** Describes an `{ arn }` definition and checks the job against it (setup errors: the facts came from AWS). */
async function describeForJob(
  job: BatchJob,
  arn: string,
  ctx: PrepareContext,
): Promise<ResolvedTaskDefinition> {
  const resolved = await ctx.registry.describe(arn);
  const def = resolved.definition;
  const problems: string[] = checkOverrideNames(job, containerNames(def)).map(
    (i) => `${i.path}: ${i.message}`,
  );
  if (job.launchType !== "EC2") {
    if (
      def.requiresCompatibilities !== undefined &&
      !def.requiresCompatibilities.includes("FARGATE")
    ) {
      problems.push(
        `the definition does not list FARGATE in requiresCompatibilities; register a Fargate-compatible revision or use launchType "EC2"`,
      );
    }
    const cpu = job.cpu === undefined ? def.cpu : String(job.cpu);
    const memory = job.memory === undefined ? def.memory : String(job.memory);
    problems.push(...checkFargateSize(cpu, memory).map((i) => `${i.path}: ${i.message}`));
  }
  if (problems.length > 0) {
    throw new EcsBatchSetupError(
      "INVALID_PARAMETER",
      `the job does not fit task definition ${resolved.taskDefinitionArn}:\n  - ${problems.join("\n  - ")}`,
    );
  }
  return resolved;
}
