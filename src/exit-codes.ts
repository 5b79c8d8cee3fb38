/**
 * The exit codes of `ecs-batch`, for wrappers that run it (a scheduler, a shell script, a
 * program that spawns it) and branch on how the job ended. A signal that cancels the job exits
 * the way shells report a process killed by that signal, 128 + its number: 130 for SIGINT,
 * 143 for SIGTERM, so a supervisor that sent SIGTERM sees its own signal in the code.
 */
import type { JobStatus } from "./result.js";

/** Every exit code of the `ecs-batch` command, by what it means. */
export const CLI_EXIT_CODES = {
  /** The job succeeded (and `preview`, `--help`, `--version` did their work). */
  succeeded: 0,
  /** The job failed: a task exhausted its retries, or an error after tasks started. */
  failed: 1,
  /** Invalid command line or job (naming what to fix), or a setup error before any launch. */
  invalid: 2,
  /** The job's timeout passed; its unfinished tasks were stopped. */
  timedOut: 124,
  /** Cancelled by SIGINT (Ctrl-C): 128 + 2. The job's tasks were stopped first. */
  interrupted: 130,
  /** Cancelled by SIGTERM: 128 + 15. The job's tasks were stopped first. */
  terminated: 143,
} as const;

/** One of `CLI_EXIT_CODES`. */
export type CliExitCode = (typeof CLI_EXIT_CODES)[keyof typeof CLI_EXIT_CODES];

/** The signals the CLI handles by cancelling the job. */
export type CancelSignal = "SIGINT" | "SIGTERM";

/** The exit code of a process that ends on `signal`: 128 + the signal's number. */
export function signalExitCode(signal: CancelSignal): CliExitCode {
  return signal === "SIGTERM" ? CLI_EXIT_CODES.terminated : CLI_EXIT_CODES.interrupted;
}

/**
 * The code `ecs-batch run` exits with for a job that ended with `status`. A cancelled job
 * exits by the signal that cancelled it (SIGINT when none is given, as Ctrl-C is the usual way).
 */
export function cliExitCode(status: JobStatus, signal?: CancelSignal): CliExitCode {
  switch (status) {
    case "succeeded":
      return CLI_EXIT_CODES.succeeded;
    case "failed":
      return CLI_EXIT_CODES.failed;
    case "timedOut":
      return CLI_EXIT_CODES.timedOut;
    case "cancelled":
      return signalExitCode(signal ?? "SIGINT");
  }
}

/** What an exit code of `ecs-batch` means, in a few words; `undefined` for a code it never uses. */
export function describeCliExitCode(code: number): string | undefined {
  switch (code) {
    case CLI_EXIT_CODES.succeeded:
      return "succeeded";
    case CLI_EXIT_CODES.failed:
      return "failed";
    case CLI_EXIT_CODES.invalid:
      return "invalid input or setup error";
    case CLI_EXIT_CODES.timedOut:
      return "timed out";
    case CLI_EXIT_CODES.interrupted:
      return "cancelled by SIGINT";
    case CLI_EXIT_CODES.terminated:
      return "cancelled by SIGTERM";
    default:
      return undefined;
  }
}
