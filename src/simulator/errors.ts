/**
 * Errors shaped like the SDK's service exceptions: `name`, `message`, `$fault`,
 * `$metadata.httpStatusCode`, and for throttling `$retryable.throttling`. Code that handles
 * real SDK errors by these fields handles the simulator's the same way.
 */

/** The fields of an SDK v3 service exception. */
export class SimulatedServiceError extends Error {
  readonly $fault: "client" | "server";
  readonly $metadata: {
    httpStatusCode: number;
    requestId: string;
    attempts: number;
    totalRetryDelay: number;
  };
  readonly $retryable?: { throttling: boolean };
  /** EC2 puts its error code here as well as in `name`. */
  readonly Code: string;

  constructor(name: string, message: string, status: number, requestId: string) {
    super(message);
    this.name = name;
    this.Code = name;
    this.$fault = status >= 500 ? "server" : "client";
    this.$metadata = { httpStatusCode: status, requestId, attempts: 1, totalRetryDelay: 0 };
    if (
      name === "ThrottlingException" ||
      name === "RequestLimitExceeded" ||
      name === "Throttling"
    ) {
      this.$retryable = { throttling: true };
    }
  }
}

/** HTTP status the services answer each error with. */
const STATUS: Record<string, number> = {
  ServerException: 500,
  ServiceUnavailableException: 503,
  InternalError: 500,
  ThrottlingException: 400,
  RequestLimitExceeded: 503,
  AccessDeniedException: 400,
  UnauthorizedOperation: 403,
};

/** Builds a service error with the status the real service uses for `name`. */
export function serviceError(
  name: string,
  message: string,
  extra: Record<string, unknown> = {},
  requestId = "00000000-0000-0000-0000-000000000000",
): SimulatedServiceError {
  return Object.assign(
    new SimulatedServiceError(name, message, STATUS[name] ?? 400, requestId),
    extra,
  );
}
