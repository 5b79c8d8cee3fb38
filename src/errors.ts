/**
 * Every error this library raises. One root class with a stable `code`, a `cause`, and a few
 * subclasses a host can branch on with `instanceof` (or on `code`, which survives serialisation).
 *
 * Messages name the field or the AWS call and say what to do about it. They never contain
 * environment variable values or secrets: input values are echoed only for fields that cannot
 * hold secrets (durations, sizes, names).
 */

/** Stable machine-readable codes. New codes may be added; existing ones never change meaning. */
export type EcsBatchErrorCode =
  | "VALIDATION"
  | "TEMPLATE_UNREADABLE"
  | "TASK_DEFINITION_NOT_FOUND"
  | "TASK_DEFINITION_NOT_REGISTRABLE"
  | "CLUSTER_NOT_FOUND"
  | "ACCESS_DENIED"
  | "NO_CREDENTIALS"
  | "EMPTY_RESPONSE"
  | "NETWORK_NOT_INFERABLE"
  | "INVALID_PARAMETER"
  | "AWS_ERROR"
  | "CHECKPOINT_INVALID"
  | "CHECKPOINT_VERSION"
  | "LEASE_HELD"
  | "LEASE_LOST"
  | "RUN_NOT_FOUND"
  | "RUN_EXISTS"
  | "RUN_IN_PROGRESS"
  | "RUNNER_CLOSED"
  | "DETACHED"
  | "STORE_ERROR"
  | "DEPENDENCY_MISSING";

/** Root of every error raised by ecs-batch-runner. */
export class EcsBatchError extends Error {
  /** A stable code that survives serialisation; branch on it rather than on the message. */
  readonly code: EcsBatchErrorCode;

  constructor(code: EcsBatchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    // Subclasses get their own name without repeating this line; `error.name` is the class name.
    this.name = new.target.name;
  }

  /** A plain-object form for logs and results: no stack, no cause chain. */
  toJSON(): { name: string; code: EcsBatchErrorCode; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** One problem found in a job's input. */
export interface ValidationIssue {
  /** Dotted field path with array indexes, e.g. `containerOverrides[0].environment[2].name`. */
  readonly path: string;
  /** What is wrong and how to fix it; never includes the value of an environment variable. */
  readonly message: string;
}

/**
 * The job's input is invalid. Raised before any AWS call (or, for checks that need the
 * template, before any task is launched), so an invalid job launches nothing.
 */
export class EcsBatchValidationError extends EcsBatchError {
  /** Every problem found, not just the first. */
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[], options?: { cause?: unknown; intro?: string }) {
    const intro = options?.intro ?? "Invalid batch job";
    const lines = issues.map((i) => `  - ${i.path === "" ? "(job)" : i.path}: ${i.message}`);
    super(
      "VALIDATION",
      `${intro} (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n${lines.join("\n")}`,
      options,
    );
    this.issues = issues;
  }
}

/**
 * Preparing the job failed before any task was launched: the task definition could not be
 * found or registered, the cluster does not exist, access was denied, or the network could
 * not be inferred. Nothing is left running.
 */
export class EcsBatchSetupError extends EcsBatchError {}

/** Formats a field path from zod-style segments: `["a", 0, "b"]` becomes `a[0].b`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of segments) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (typeof seg === "string" && !/^[A-Za-z_$][\w$]*$/.test(seg))
      out += `[${JSON.stringify(seg)}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** Shorthand for a validation error with a single issue. */
export function validationError(
  path: string,
  message: string,
  cause?: unknown,
): EcsBatchValidationError {
  return new EcsBatchValidationError(
    [{ path, message }],
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The run was handed over (`handle.detach()`, `runner.close({ jobs: "detach" })`): this process
 * stopped driving it and left its tasks running, for a process that attaches to carry it on.
 * The handle's `result` rejects with it.
 */
export class EcsBatchDetachedError extends EcsBatchError {
  readonly jobId: string;
  readonly runId: string;

  /**
   * @param stage where the run was: `running` (launched), `unlaunched` (before its first
   * launch), or `waiting` (an attach still waiting for another process's lease)
   */
  constructor(jobId: string, runId: string, stage: "running" | "unlaunched" | "waiting") {
    super("DETACHED", detachedMessage(`run ${runId} of job ${jobId}`, runId, stage));
    this.jobId = jobId;
    this.runId = runId;
  }
}

function detachedMessage(
  run: string,
  runId: string,
  stage: "running" | "unlaunched" | "waiting",
): string {
  switch (stage) {
    case "running":
      return `${run} was handed over: this process stopped driving it and left its tasks running; attach to it (runId ${runId}) to carry it on`;
    case "unlaunched":
      return `${run} was handed over before its first launch: attach to it (runId ${runId}) with the same store to carry it on; without a store nothing of it is in ECS, so submit the job again`;
    case "waiting":
      return `${run} was handed over while this process waited for its lease: this process never drove it, and it goes on in the process that holds the lease`;
  }
}
