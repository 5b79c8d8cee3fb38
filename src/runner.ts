/**
 * `EcsBatchRunner`: the composition root. It builds the modules once (task definition
 * registry, network resolver, watcher, launcher, log fetcher) and hands each the same clients,
 * clock and logger; each job it runs shares them.
 */
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ECSClient } from "@aws-sdk/client-ecs";
import type { AwsClient, AwsClients } from "./aws.js";
import { systemClock, type Clock, type RandomSource } from "./clock.js";
import { SafeEventEmitter, type EcsBatchRunnerEvents } from "./events.js";
import { previewJob, type JobPreview, type PrepareContext } from "./execution/prepare.js";
import { parseJob, type BatchJobInput } from "./job/schema.js";
import { silentLogger, type Logger } from "./logger.js";
import { NetworkResolver } from "./request/network.js";
import type { ReadTextFile } from "./template/loader.js";
import { TaskDefinitionRegistry } from "./template/registry.js";

/** Options of `new EcsBatchRunner(...)` (DESIGN 2). */
export interface EcsBatchRunnerOptions {
  /** Region for the default clients; ignored for clients you pass. Default: the SDK's own resolution (AWS_REGION, profile). */
  region?: string;
  /**
   * The AWS clients. Anything with `send(command)` fits: SDK v3 clients, `aws-sdk-client-mock`
   * mocks, `createSimulatedAws()` from `ecs-batch-runner/testing`. Missing ones are built from `region`.
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

  constructor(options: EcsBatchRunnerOptions = {}) {
    super();
    this.#options = options;
    this.logger = options.logger ?? silentLogger;
    this.setListenerLogger(this.logger);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.clients = {
      ecs: options.clients?.ecs ?? lazyClient(() => new ECSClient(regionConfig(options.region))),
      logs:
        options.clients?.logs ??
        lazyClient(() => new CloudWatchLogsClient(regionConfig(options.region))),
      ec2: options.clients?.ec2 ?? lazyClient(() => new EC2Client(regionConfig(options.region))),
    };
    this.#registry = new TaskDefinitionRegistry(this.clients.ecs, this.logger);
    this.#network = new NetworkResolver(this.clients.ec2);
  }

  /** The CloudWatch Logs client for `region` (see `logsClientForRegion`). */
  logsClientFor(region: string | undefined): AwsClient {
    if (region === undefined) return this.clients.logs;
    if (this.#options.logsClientForRegion !== undefined)
      return this.#options.logsClientForRegion(region);
    if (this.#options.clients?.logs !== undefined || region === this.#options.region)
      return this.clients.logs;
    let client = this.#regionalLogs.get(region);
    if (client === undefined) {
      client = lazyClient(() => new CloudWatchLogsClient({ region }));
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
    };
  }

  /**
   * What a run would do, with nothing registered or launched: the task definition it would
   * register (or the ARN it would reuse) and the RunTask input of every task's first attempt.
   * Makes read-only calls only (DescribeClusters, DescribeTaskDefinition, EC2 Describe*).
   * Rejects with `EcsBatchValidationError` or `EcsBatchSetupError` as `run` would.
   */
  async preview(input: BatchJobInput): Promise<JobPreview> {
    const job = parseJob(input, { random: this.random });
    return previewJob(job, this.prepareContext);
  }
}

function regionConfig(region: string | undefined): { region?: string } {
  return region === undefined ? {} : { region };
}

/** Builds an SDK client on first use, so a runner that is only given some clients never builds the others. */
function lazyClient(build: () => AwsClient): AwsClient {
  let client: AwsClient | undefined;
  return {
    send(command, options) {
      client ??= build();
      return client.send(command, options);
    },
  };
}
