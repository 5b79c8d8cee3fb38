/**
 * The command line of `ecs-batch`: options, usage, and the answers that need no job (`--help`,
 * `--version`, a mistyped option). Kept apart from the rest of the CLI and free of the AWS SDK,
 * so those answers come back as fast as Node starts: the entry point loads the runner only for
 * a command that runs or previews a job.
 */
import { parseArgs } from "node:util";
import { CLI_EXIT_CODES } from "../exit-codes.js";

declare const __VERSION__: string | undefined;

const COMMANDS = '"run", "preview", "demo", "attach", "stop", "status" or "stop-overdue"';

/** The options of every command, as `node:util` `parseArgs` takes them. */
const OPTIONS = {
  local: { type: "boolean" },
  region: { type: "string" },
  endpoint: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  command: { type: "string" },
  cluster: { type: "string" },
  job: { type: "string" },
  "job-id": { type: "string" },
  "poll-interval": { type: "string" },
  "max-concurrent-tasks": { type: "string" },
  "launch-failure-rate": { type: "string" },
  "state-dir": { type: "string" },
  "dynamodb-table": { type: "string" },
  "wait-for-lease": { type: "string" },
  "detach-on-sigterm": { type: "boolean" },
  "run-id": { type: "string" },
  family: { type: "string" },
  grace: { type: "string" },
  settle: { type: "string" },
  "dry-run": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

/** The option values of a command line. */
export type CliOptions = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>["values"];

/** The commands of `ecs-batch` that take a job. */
export type CliCommand = "run" | "preview" | "demo" | "attach";

/** The commands of `ecs-batch` that find a job's runs in ECS by its id. */
export type JanitorCommand = "stop" | "status";

const SYNOPSIS = `Usage:
  ecs-batch run <job.json|job.yaml> [options]
  ecs-batch run --command <file> --cluster <file> --job <file> [--job-id <id>] [options]
  ecs-batch preview <job file> | --command ... --cluster ... --job ...
  ecs-batch demo [--json | --quiet]
  ecs-batch attach <job file> [--run-id <id>] [--state-dir <dir> | --dynamodb-table <t>] [options]
  ecs-batch stop <jobId> [--cluster <name>] [--run-id <id>] [--family <family>] [--settle <d>] [--state-dir <dir>] [--dynamodb-table <t>]
  ecs-batch status <jobId> [--cluster <name>] [--run-id <id>] [--state-dir <dir>] [--dynamodb-table <t>] [--json]
  ecs-batch stop-overdue [--cluster <name>] [--family <family>] [--grace <d>] [--dry-run] [--json]
`;

/** `ecs-batch --help`. */
export const USAGE = `${SYNOPSIS}
Runs a batch job as ECS Fargate tasks, with retries, a timeout and stop semantics.
"demo" runs a small example job on this machine (no AWS account needed).
"attach" carries on a run whose process died: from its checkpoint in --state-dir or
--dynamodb-table, or from its tasks in ECS. "stop" stops every unfinished task of a job's runs (or of one run) in ECS;
"status" reports them. "stop-overdue" stops every task of any job still running past its run's
deadline (plus --grace): runs nobody carries on; run it on a schedule.

Options:
  --local                  run the tasks as local processes (no AWS account needed; images are not pulled)
  --region <region>        AWS region (default: the SDK's own: AWS_REGION, profile)
  --endpoint <url>         an AWS-compatible endpoint for ECS, CloudWatch Logs and EC2
  --json                   print events as JSON, one object per line, on stdout; errors as JSON on stderr
  -q, --quiet              print only the start, each failure with its log tail, and the summary
  --job-id <id>            job id for Heimdall files (default: generated)
  --poll-interval <d>      override the job's pollInterval (e.g. 1s for quick local runs)
  --max-concurrent-tasks <n>   --local only: tasks running at once (default 4)
  --launch-failure-rate <p>    --local only: make first launches fail with AGENT at this rate
  --state-dir <dir>        checkpoint runs in this directory, so "attach" can carry them on
  --dynamodb-table <t>     checkpoint runs in this DynamoDB table (any host can attach; needs
                           @aws-sdk/client-dynamodb installed; --region and --endpoint apply)
  --wait-for-lease <d>     attach: wait up to this long for a run's lease that another
                           process holds to lapse (default: fail at once)
  --detach-on-sigterm      run, attach: on SIGTERM, hand the run over instead of cancelling it
                           (its tasks run on, the lease is given back for "attach"); exit 143
  --run-id <id>            run: the run's id (default: generated); attach, stop, status: which run
  --cluster <name>         stop, status, stop-overdue: the ECS cluster (default: "default")
  --family <family>        stop, status, stop-overdue: search only this task definition family
  --grace <d>              stop-overdue: how long past its deadline a task must be (default 5m)
  --settle <d>             stop: look for late tasks until none of the run's is this recent
                           (a RunTask sent just before its host died; default 30s, 0 for one look)
  --dry-run                stop-overdue: list the overdue tasks, stop none
  -h, --help               show this help
  -v, --version            show the version

Exit codes: 0 succeeded, 1 failed, 2 invalid input or setup error, 124 timed out,
130 cancelled by SIGINT, 143 cancelled by SIGTERM.
`;

/** The version this build was made from (`dev` when run from source). */
export function cliVersion(): string {
  return typeof __VERSION__ === "string" ? __VERSION__ : "dev";
}

/** A command line that asks for a job to be run, previewed or demonstrated. */
export interface JobCommandLine {
  readonly kind: "job";
  readonly command: CliCommand;
  /** The job file, as given (relative to the working directory). */
  readonly file: string | undefined;
  readonly values: CliOptions;
}

/** A command line that asks to stop or report a job's runs, found by the job's id. */
export interface JanitorCommandLine {
  readonly kind: "janitor";
  readonly command: JanitorCommand;
  readonly jobId: string;
  readonly values: CliOptions;
}

/** `stop-overdue`: every task of any job past its run's deadline, found in ECS. */
export interface OverdueCommandLine {
  readonly kind: "overdue";
  readonly values: CliOptions;
}

/** A command line answered without a job: help, version, or a mistake in it. */
export interface AnsweredCommandLine {
  readonly kind: "answered";
  readonly code: number;
  readonly stdout?: string;
  readonly stderr?: string;
}

/**
 * Reads a command line. Help, the version and every mistake in the command line are answered
 * here (text for stdout or stderr, and the exit code); anything else is a job to run.
 */
export function parseCommandLine(
  argv: readonly string[],
): JobCommandLine | JanitorCommandLine | OverdueCommandLine | AnsweredCommandLine {
  const json = argv.includes("--json");
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: OPTIONS });
  } catch (error) {
    return mistake(argumentError(error), json);
  }
  const { values, positionals } = parsed;
  if (values.version === true) {
    return { kind: "answered", code: CLI_EXIT_CODES.succeeded, stdout: `${cliVersion()}\n` };
  }
  if (values.help === true) {
    return { kind: "answered", code: CLI_EXIT_CODES.succeeded, stdout: USAGE };
  }
  const [command, file, ...extra] = positionals;
  if (command === undefined) {
    return json
      ? mistake(`give a command: ${COMMANDS}`, json)
      : { kind: "answered", code: CLI_EXIT_CODES.invalid, stderr: USAGE };
  }
  if (command === "stop" || command === "status") {
    if (file === undefined) return mistake(`"${command}" needs the job's id`, json);
    if (extra.length > 0) return mistake(`unexpected arguments: ${extra.join(" ")}`, json);
    return { kind: "janitor", command, jobId: file, values };
  }
  if (command === "stop-overdue") {
    if (file !== undefined) {
      return mistake(
        `"stop-overdue" looks at every job's tasks; to stop one job's, use "ecs-batch stop ${file}"`,
        json,
      );
    }
    return { kind: "overdue", values };
  }
  if (command !== "run" && command !== "preview" && command !== "demo" && command !== "attach") {
    return mistake(`unknown command "${command}"; use ${COMMANDS}`, json);
  }
  if (command === "demo" && file !== undefined) {
    return mistake(`"demo" runs its own job; to run ${file}, use "ecs-batch run ${file}"`, json);
  }
  if (extra.length > 0) return mistake(`unexpected arguments: ${extra.join(" ")}`, json);
  return { kind: "job", command, file, values };
}

/**
 * The message of a `parseArgs` error, in our words: Node's own ("Unknown option '--bogus'. To
 * specify a positional argument starting with a '-', place it at the end of the command after
 * '--', as in '-- "--bogus"") is long, and its last quote is never closed.
 */
function argumentError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const option = /^Option '(-[^' ]+)/.exec(message)?.[1] ?? /'(-[^' ]+)'/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option !== undefined) {
    return `unknown option ${option}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option !== undefined) {
    return /argument missing/.test(message)
      ? `option ${option} needs a value`
      : `option ${option} takes no value`;
  }
  return message;
}

/**
 * A mistake in the command line: the problem and the usage on stderr, or with `--json` one JSON
 * object on stderr (`event: "error"`, as for every other error), and exit code 2.
 */
function mistake(message: string, json: boolean): AnsweredCommandLine {
  if (json) {
    const error = {
      event: "error",
      name: "EcsBatchValidationError",
      code: "VALIDATION",
      message: `Invalid command line: ${message}`,
      issues: [{ path: "arguments", message }],
    };
    return { kind: "answered", code: CLI_EXIT_CODES.invalid, stderr: `${JSON.stringify(error)}\n` };
  }
  return {
    kind: "answered",
    code: CLI_EXIT_CODES.invalid,
    stderr: `ecs-batch: ${message}\n${SYNOPSIS}Run "ecs-batch --help" for the options.\n`,
  };
}
