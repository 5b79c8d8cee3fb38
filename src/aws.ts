/**
 * The narrow view of AWS this library needs: clients are anything with `send(command)`, so a
 * real SDK v3 client, an `aws-sdk-client-mock` mock, the simulator of `ecs-batch-runner/testing`
 * or the local backend all fit. Also the one place that classifies AWS errors.
 */
import { textOf } from "./logger.js";
import { systemClock, type Clock } from "./clock.js";
import { EcsBatchSetupError } from "./errors.js";

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
  $metadata?: { httpStatusCode?: number; clockSkewCorrected?: boolean };
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

/** The error's message, bounded, for results and logs; any thrown value has one. */
export function awsErrorMessage(error: unknown): string {
  const message = textOf(error);
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
  // The SDK corrected its clock offset from this answer: the same request now signs in time.
  if (e?.$metadata?.clockSkewCorrected === true) return true;
  const status = e?.$metadata?.httpStatusCode;
  return e?.$fault === "server" || (status !== undefined && status >= 500);
}

/**
 * AWS refused the caller: no permission, or credentials it does not accept (unknown, expired).
 * Credentials that were never found are `isNoCredentialsError` instead: no request was sent.
 */
export function isAccessDeniedError(error: unknown): boolean {
  return ACCESS_DENIED_NAMES.has(awsErrorName(error));
}

/**
 * The SDK found no credentials, so it sent nothing: an IAM grant will not help, setting up
 * credentials will. The SDK's default chain throws `CredentialsProviderError` ("Could not load
 * credentials from any providers").
 */
export function isNoCredentialsError(error: unknown): boolean {
  if (awsErrorName(error) === "CredentialsProviderError") return true;
  const message = error instanceof Error ? error.message : "";
  return /could not load credentials from any providers|credential is missing/i.test(message);
}

/**
 * What an AWS error means for the caller, in one place (every module asks this, rather than
 * keeping its own list of names):
 * - `throttled`: refused for rate before it did anything; send it again later, slower;
 * - `transient`: a server or network fault; the same request may succeed if sent again (a
 *   request that creates something may also have acted: see `ambiguous`);
 * - `ambiguous`: the request reached AWS and its answer could not be read (a 2xx whose body
 *   does not parse, a connection that broke on the way back): it may have acted;
 * - `accessDenied`: IAM refused the caller, or did not accept its credentials;
 * - `noCredentials`: no credentials were found, so nothing was sent;
 * - `notFound`: what the request names does not exist (a cluster, a task, a log stream);
 * - `fatal`: the request itself is wrong or not allowed; sending it again will not help.
 */
export type AwsErrorClass =
  "throttled" | "transient" | "ambiguous" | "accessDenied" | "noCredentials" | "notFound" | "fatal";

/** Names that say the resource a request names does not exist. */
const NOT_FOUND_NAMES = new Set([
  "ClusterNotFoundException",
  "ResourceNotFoundException",
  "ServiceNotFoundException",
  "TargetNotFoundException",
]);

/**
 * Names of refusals that are final whatever status code a stand-in client gives them: the
 * request is wrong, or not allowed, or a client has no answer for it.
 */
const FATAL_NAMES = new Set([
  "InvalidParameterException",
  "ClientException",
  "PlatformUnknownException",
  "PlatformTaskDefinitionIncompatibilityException",
  "UnsupportedFeatureException",
  "BlockedException",
  "ConflictException",
  "ValidationException",
  "EmptyResponseError",
]);

/** Classifies any thrown value (see `AwsErrorClass`). */
export function classifyAwsError(error: unknown): AwsErrorClass {
  if (isNoCredentialsError(error)) return "noCredentials";
  if (isThrottlingError(error)) return "throttled";
  if (isAccessDeniedError(error)) return "accessDenied";
  const name = awsErrorName(error);
  if (NOT_FOUND_NAMES.has(name)) return "notFound";
  // ECS says "The referenced task was not found." (and the like) with InvalidParameterException.
  if (name === "InvalidParameterException" && /not found|does not exist/i.test(textOf(error)))
    return "notFound";
  if (FATAL_NAMES.has(name)) return "fatal";
  if (isUnreadableAnswer(error)) return "ambiguous";
  return isTransientError(error) ? "transient" : "fatal";
}

/** Whether sending the same request again may succeed: throttled, transient or ambiguous. */
export function isRetryableError(error: unknown): boolean {
  const kind = classifyAwsError(error);
  return kind === "throttled" || kind === "transient" || kind === "ambiguous";
}

/**
 * The request reached AWS and an answer came back that could not be read: a 2xx whose body
 * failed to parse (the SDK attaches the raw `$response` and says "Deserialization error"), or
 * the connection broke while the answer was on its way.
 */
function isUnreadableAnswer(error: unknown): boolean {
  if (error === null || typeof error !== "object") return false;
  const e = error as AwsErrorLike & { $response?: { statusCode?: number } };
  const status = e.$response?.statusCode ?? e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 200 && status < 300) return true;
  if (e.name === "SyntaxError") return true;
  if (/Deserialization error|socket hang up/i.test(textOf(error))) return true;
  return typeof e.code === "string" && ["ECONNABORTED", "UND_ERR_SOCKET"].includes(e.code);
}

/**
 * What to say when `action` could not be sent for want of credentials. It names where the SDK's
 * default chain looks, never what it found there: no variable's value, profile name or path is
 * echoed, so the message is safe to log.
 */
export function noCredentialsMessage(action: string): string {
  return (
    `${action} was not sent: no AWS credentials were found. The SDK looked in the environment ` +
    "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), the shared config and " +
    "credentials files (~/.aws/config, ~/.aws/credentials, credential_process), SSO, web identity " +
    "(AWS_WEB_IDENTITY_TOKEN_FILE) and the container or instance metadata; set credentials in one " +
    "of them (aws configure, aws sso login, an instance or task role), or pass clients built with " +
    "credentials of your own in the runner's clients option"
  );
}

/**
 * An AWS call answered with something that is not an object. A real SDK client never does; an
 * `aws-sdk-client-mock` mock does (`undefined`) for a command nobody mocked, and a hand-written
 * stand-in may. Not transient: sending it again gets the same nothing.
 */
export class EmptyResponseError extends Error {
  /** The AWS action that answered nothing: `DescribeClusters`, `RunTask`, ... */
  readonly action: string;

  constructor(action: string, answer: unknown) {
    super(
      `${action} answered ${answer === null ? "null" : typeof answer} instead of a response ` +
        `object. If this client is a mock (aws-sdk-client-mock answers undefined for a command ` +
        `it was not given), mock ${action}Command too; docs/testing.md lists the commands a job sends`,
    );
    this.name = "EmptyResponseError";
    this.action = action;
  }
}

/** Whether `error` is an `EmptyResponseError` (also across copies of this library). */
export function isEmptyResponseError(error: unknown): error is EmptyResponseError {
  return awsErrorName(error) === "EmptyResponseError";
}

/** The AWS action a command sends: `RunTask` for a `RunTaskCommand`. */
export function actionOf(command: AwsCommand): string {
  return command.constructor.name.replace(/Command$/, "");
}

/**
 * `out` when it is an object, else an `EmptyResponseError` for `action`, so a missing answer is
 * reported by the call's name rather than as a `TypeError` reading a field of `undefined`.
 *
 * @example
 * const out = answerOf("RunTask", await ecs.send(runTask)) as RunTaskCommandOutput;
 */
export function answerOf(action: string, out: unknown): object {
  if (out === null || typeof out !== "object") throw new EmptyResponseError(action, out);
  return out;
}

/**
 * Sends `command` and checks that the answer is an object (see `answerOf`). Pass `abortSignal`
 * for reads and StopTask; never for RunTask, whose aborted request may still start a task.
 */
export async function sendFor<T extends object>(
  client: AwsClient,
  command: AwsCommand,
  options?: { abortSignal?: AbortSignal },
): Promise<T> {
  const out = await (options === undefined ? client.send(command) : client.send(command, options));
  // The action's name is only needed for the error: not worked out for every answer.
  if (out !== null && typeof out === "object") return out as T;
  return answerOf(actionOf(command), out) as T;
}

/**
 * The setup error every preparation call shares, whatever the call: no credentials, or an
 * answer that is not an object. `undefined` for any other error, which the caller explains.
 */
export function commonSetupError(action: string, error: unknown): EcsBatchSetupError | undefined {
  if (isNoCredentialsError(error)) {
    return new EcsBatchSetupError("NO_CREDENTIALS", noCredentialsMessage(action), {
      cause: error,
    });
  }
  if (isEmptyResponseError(error)) {
    return new EcsBatchSetupError(
      "EMPTY_RESPONSE",
      `preparing the job failed before anything was launched: ${error.message}`,
      { cause: error },
    );
  }
  return undefined;
}

/** How `withRetries` retries. */
export interface RetryOptions {
  /** Waits go through this clock, so tests skip them. Default: the system clock. */
  readonly clock?: Clock;
  /** Sends at most, the first included. Default: 4. */
  readonly maxAttempts?: number;
  /**
   * Sends at most while the service throttles. Default: 8 (about 25 s of waiting): throttling
   * means other callers share the account's bucket (many runner processes starting at once),
   * and they get through if they keep trying a while longer, spread apart by `random`.
   */
  readonly maxThrottledAttempts?: number;
  /** Spreads each wait over half to all of its length, so callers that collided do not retry in step. Default: no spread. */
  readonly random?: () => number;
  /** Wait before the second send, doubling after each; ms. Default: 500. */
  readonly baseDelayMs?: number;
  /** Longest wait, ms. Default: 5000. */
  readonly maxDelayMs?: number;
  /** Stops waiting: the last error is thrown at once. */
  readonly signal?: AbortSignal;
  /** Called before each wait, e.g. to log. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `call`, sending it again after throttling and transient errors (5xx, network) with
 * exponential backoff, up to `maxAttempts`; rejects with the last error. For the few calls
 * that run outside a rate limiter (preparation: DescribeClusters, DescribeTaskDefinition,
 * RegisterTaskDefinition, EC2 Describe*): the runner builds its SDK clients with
 * `maxAttempts: 1`, so this is their only retry, not one multiplied by the SDK's. The jobs of
 * one runner share these calls (cached or in flight once); `random` spreads the waits of
 * runner processes that started together.
 */
export async function withRetries<T>(
  call: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const max = Math.max(1, options.maxAttempts ?? 4);
  const maxThrottled = Math.max(max, options.maxThrottledAttempts ?? 8);
  const base = options.baseDelayMs ?? 500;
  const cap = options.maxDelayMs ?? 5000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt);
    } catch (error) {
      const limit = isThrottlingError(error) ? maxThrottled : max;
      if (attempt >= limit || !isRetryableError(error) || options.signal?.aborted === true)
        throw error;
      const full = Math.min(cap, base * 2 ** (attempt - 1));
      const delayMs =
        options.random === undefined ? full : Math.round(full * (0.5 + options.random() / 2));
      options.onRetry?.(error, attempt, delayMs);
      try {
        await clock.sleep(delayMs, options.signal);
      } catch {
        throw error;
      }
    }
  }
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
