/**
 * The SDK clients a runner builds when it is not given its own. Each is built on first use, and
 * with the SDK's own retry turned off (`maxAttempts: 1`): the runner retries every call itself,
 * RunTask, DescribeTasks, StopTask and the logs calls under its adaptive rate limiters and the
 * preparation calls with `withRetries`, all waiting on the injected clock. Under the SDK's
 * default (3 attempts) each of our retries would hide up to two more sends, the limiters would
 * see throttling only once the SDK had given up on it, and the waits would multiply.
 */
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { EC2Client } from "@aws-sdk/client-ec2";
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { AwsClient, AwsClients } from "./aws.js";
import { ec2Module, ecsSdk, logsSdk } from "./aws/sdk.js";

/**
 * The SDK settings of the clients the runner builds, and the ones recommended for clients you
 * pass: one attempt per send, since the runner retries, rate-limits and backs off itself.
 */
export const RUNNER_SDK_CLIENT_CONFIG = { maxAttempts: 1 } as const;

/** Where the default clients connect. */
export interface DefaultClientsConfig {
  /** Default: the SDK's own resolution (AWS_REGION, the profile's region). */
  readonly region?: string;
  /** A custom endpoint (LocalStack, a proxy), for all three clients. */
  readonly endpoint?: string;
}

/** A client built on its first call. */
export interface LazyClient<C extends AwsClient = AwsClient> extends AwsClient {
  /** The client itself, built now if no call has built it yet (to read its config, or destroy it). */
  client(): C;
}

/** The default clients: SDK v3 clients, each built on first use. */
export interface DefaultClients extends AwsClients {
  readonly ecs: LazyClient<ECSClient>;
  readonly logs: LazyClient<CloudWatchLogsClient>;
  readonly ec2: LazyClient<EC2Client>;
}

/**
 * Builds a client on first use, so a runner that is only given some clients never builds the
 * others (building one reads the environment and config files).
 */
export function lazyClient<C extends AwsClient>(build: () => C): LazyClient<C> {
  let built: C | undefined;
  const client = (): C => (built ??= build());
  return {
    client,
    send(command, options) {
      return client().send(command, options);
    },
  };
}

/**
 * SDK v3 clients for ECS, CloudWatch Logs and EC2, each built on first use with `maxAttempts: 1`.
 * Each SDK module is loaded then too (`src/aws/sdk.ts`): only network inference uses EC2's.
 */
export function defaultClients(config: DefaultClientsConfig = {}): DefaultClients {
  const settings = {
    ...RUNNER_SDK_CLIENT_CONFIG,
    ...(config.region === undefined ? {} : { region: config.region }),
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
  };
  return {
    ecs: lazyClient(() => new (ecsSdk().ECSClient)(settings)),
    logs: lazyClient(() => new (logsSdk().CloudWatchLogsClient)(settings)),
    ec2: lazyClient(() => new (ec2Module().EC2Client)(settings)),
  };
}

/**
 * A CloudWatch Logs client for one region, built on first use with `maxAttempts: 1`: for
 * containers whose `awslogs-region` is not the runner's.
 */
export function defaultLogsClient(region: string): LazyClient<CloudWatchLogsClient> {
  return lazyClient(
    () => new (logsSdk().CloudWatchLogsClient)({ ...RUNNER_SDK_CLIENT_CONFIG, region }),
  );
}
