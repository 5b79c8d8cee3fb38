/**
 * The narrow view of AWS this library needs: clients are anything with `send(command)`, so a
 * real SDK v3 client, an `aws-sdk-client-mock` mock, the simulator of `ecs-batch-runner/testing`
 * or the local backend all fit. Also the one place that classifies AWS errors.
 */

/**
 * Anything that sends SDK v3 commands: `ECSClient`, `CloudWatchLogsClient`, `EC2Client`, or a
 * stand-in. Typed structurally so no particular SDK version is required.
 */
export interface AwsClient {
  send(command: AwsCommand, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/** The part of an SDK v3 command that stand-in clients read: its input. */
export interface AwsCommand {
  readonly input: unknown;
}

/** The three clients a runner uses. */
export interface AwsClients {
  ecs: AwsClient;
  logs: AwsClient;
  ec2: AwsClient;
}

/** The shape SDK v3 service exceptions share; stand-ins use the same fields. */
export interface AwsErrorLike {
  name?: string;
  message?: string;
  $fault?: "client" | "server";
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
  code?: string;
}

/** The error name the SDK gives (`ThrottlingException`, `ClusterNotFoundException`, ...). */
export function awsErrorName(error: unknown): string {
  if (error !== null && typeof error === "object") {
    const e = error as AwsErrorLike;
    if (typeof e.name === "string" && e.name !== "Error") return e.name;
    if (typeof e.code === "string") return e.code;
  }
  return error instanceof Error ? error.name : "UnknownError";
}

/** The error's message, bounded, for results and logs. */
export function awsErrorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 500 ? `${message.slice(0, 497)}...` : message;
}

const THROTTLING_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "RequestThrottled",
  "RequestThrottledException",
  "ProvisionedThroughputExceededException",
  "SlowDown",
]);

const TRANSIENT_NAMES = new Set([
  "ServerException",
  "ServiceUnavailableException",
  "ServiceUnavailable",
  "InternalFailure",
  "InternalError",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "NetworkingError",
]);

const ACCESS_DENIED_NAMES = new Set([
  "AccessDeniedException",
  "AccessDenied",
  "UnauthorizedOperation",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "ExpiredTokenException",
  "ExpiredToken",
  "CredentialsProviderError",
]);

/** The request was refused for rate: back off and send it again. */
export function isThrottlingError(error: unknown): boolean {
  const e = error as AwsErrorLike | null;
  return (
    THROTTLING_NAMES.has(awsErrorName(error)) ||
    e?.$retryable?.throttling === true ||
    e?.$metadata?.httpStatusCode === 429
  );
}

/** A server-side or network fault: the same request may succeed if sent again. */
export function isTransientError(error: unknown): boolean {
  if (isThrottlingError(error)) return true;
  const name = awsErrorName(error);
  if (TRANSIENT_NAMES.has(name)) return true;
  const e = error as AwsErrorLike | null;
  // Node network errors carry their kind in `code` (ECONNRESET, ETIMEDOUT, ...).
  if (typeof e?.code === "string" && TRANSIENT_NAMES.has(e.code)) return true;
  const status = e?.$metadata?.httpStatusCode;
  return e?.$fault === "server" || (status !== undefined && status >= 500);
}

/** The caller lacks permission or credentials: retrying will not help. */
export function isAccessDeniedError(error: unknown): boolean {
  return ACCESS_DENIED_NAMES.has(awsErrorName(error));
}

/** The caller aborted the request through its AbortSignal. */
export function isAbortError(error: unknown): boolean {
  return awsErrorName(error) === "AbortError";
}

/**
 * Ms since epoch of a time in an AWS answer, or `undefined` when it is absent. The SDK parses
 * these into Dates, but a hand-written mock client often answers with the ISO string or the
 * epoch number of the wire format; each reads the same here.
 */
export function timeOf(value: Date | string | number | undefined): number | undefined {
  return value === undefined ? undefined : new Date(value).getTime();
}
