/**
 * `ecs-batch`: run or preview a job from a file, on AWS or locally. Human output (progress, the
 * summary) goes to stderr, so stdout carries only what a pipeline wants: the logs of a
 * successful job, JSON events with `--json`, or a preview. With `--json`, stderr carries JSON
 * too: warnings, and errors with their issues.
 *
 * Exit codes (`CLI_EXIT_CODES`): 0 succeeded, 1 failed, 2 invalid input or setup error,
 * 124 timed out, 130 cancelled by SIGINT, 143 cancelled by SIGTERM (the job's tasks are
 * stopped first).
 */
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { AwsClient } from "../aws.js";
import {
  EcsBatchDetachedError,
  EcsBatchError,
  EcsBatchSetupError,
  EcsBatchValidationError,
} from "../errors.js";
import { EVENT_NAMES, type EcsBatchRunnerEvents } from "../events.js";
import type { JobResult } from "../result.js";
import { fromHeimdall, loadHeimdallFiles } from "../adapters/heimdall.js";
import type { BatchJobInput } from "../job/schema.js";
import { parseDuration } from "../job/duration.js";
import { createLocalAws, type LocalAws } from "../local/index.js";
import type { Logger } from "../logger.js";
import { defaultClients, RUNNER_SDK_CLIENT_CONFIG } from "../aws-clients.js";
import { logsSdk } from "../aws/sdk.js";
import { FileJobStore } from "../durable/file-store.js";
import {
  EcsBatchRunner,
  type EcsBatchRunnerOptions,
  type JobDescription,
  type JobHandle,
} from "../runner.js";
import {
  parseCommandLine,
  type CliOptions,
  type JanitorCommandLine,
  type JobCommandLine,
  type OverdueCommandLine,
} from "./args.js";
import { CLI_EXIT_CODES, cliExitCode, signalExitCode, type CancelSignal } from "../exit-codes.js";
import { parseJobText } from "./job-file.js";
import { plainLine, ProgressModel, renderFrame, TtyRenderer } from "./progress.js";

/** Where the CLI reads and writes; injectable for tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stderr is a terminal (the live progress view is drawn there). */
  readonly isTty: boolean;
  /** Terminal width and height, for the progress view. */
  readonly columns?: number;
  readonly rows?: number;
  readonly cwd: string;
  /** Subscribes to SIGINT/SIGTERM; returns the unsubscribe function. */
  readonly onSignal: (handler: (signal: CancelSignal) => void) => () => void;
}

/**
 * The demo job `ecs-batch demo` runs: examples/demo/job.yaml of this package, two levels above
 * this module both in the source (src/cli/) and in the build (dist/cli/).
 */
export const DEMO_JOB = fileURLToPath(new URL("../../examples/demo/job.yaml", import.meta.url));

/** Runs the CLI; resolves with the exit code. */
export async function cli(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (parsed.kind === "answered") {
    if (parsed.stdout !== undefined) io.stdout(parsed.stdout);
    if (parsed.stderr !== undefined) io.stderr(parsed.stderr);
    return parsed.code;
  }
  return runCommand(parsed, io);
}

/** Runs a command line `parseCommandLine` has read (not answered at once). */
export async function runCommand(
  parsed: JobCommandLine | JanitorCommandLine | OverdueCommandLine,
  io: CliIo,
): Promise<number> {
  switch (parsed.kind) {
    case "janitor":
      return runJanitor(parsed, io);
    case "overdue":
      return runOverdue(parsed, io);
    case "job":
      return runJobCommand(parsed, io);
  }
}

/** A mistake in the command line found after it was read: exit 2, like the others. */
function commandLineError(message: string): EcsBatchValidationError {
  return new EcsBatchValidationError([{ path: "arguments", message }], {
    intro: "Invalid command line",
  });
}

/** `--local` with a command that finds tasks in ECS: they live only in the process that ran them. */
function localRefused(command: string): EcsBatchValidationError {
  return commandLineError(
    `--local tasks live in the process that ran them; "${command}" finds tasks in ECS`,
  );
}

/**
 * `stop-overdue`: every task of any job that still runs past its run's deadline (and the
 * grace), stopped; with `--dry-run`, listed. Exit 1 when a task could not be stopped.
 */
async function runOverdue(parsed: OverdueCommandLine, io: CliIo): Promise<number> {
  const { values } = parsed;
  const json = values.json === true;
  try {
    if (values.local === true) throw localRefused("stop-overdue");
    const grace = values.grace;
    const graceMs = grace === undefined ? undefined : parseDuration(grace);
    if (grace !== undefined && graceMs === undefined) {
      throw commandLineError("--grace takes a duration, e.g. 5m or 1h");
    }
    const dryRun = values["dry-run"] === true;
    const runner = new EcsBatchRunner({
      ...awsRunnerOptions(values),
      logger: stderrLogger(io, json),
    });
    const swept = await runner.stopOverdue({
      ...(values.cluster === undefined ? {} : { cluster: values.cluster }),
      ...(values.family === undefined ? {} : { family: values.family }),
      ...(graceMs === undefined ? {} : { graceMs }),
      dryRun,
    });
    if (json) {
      io.stdout(`${JSON.stringify({ event: dryRun ? "overdue" : "stoppedOverdue", ...swept })}\n`);
    } else {
      for (const t of swept.overdue) {
        io.stdout(
          `job ${t.jobId} run ${t.runId} task ${t.taskIndex} attempt ${t.attempt}  deadline ${t.deadline.toISOString()}  ${t.taskArn}\n`,
        );
      }
      const failed = swept.failedTaskArns.length;
      io.stderr(
        `ecs-batch: ${swept.overdue.length} task(s) past their run's deadline in cluster ${swept.cluster}; ${dryRun ? "none stopped (--dry-run)" : `StopTask sent for ${swept.stoppedTaskArns.length}${failed === 0 ? "" : `, ${failed} could not be stopped`}`}\n`,
      );
    }
    return swept.failedTaskArns.length === 0 ? CLI_EXIT_CODES.succeeded : CLI_EXIT_CODES.failed;
  } catch (error) {
    return reportError(error, io, json);
  }
}

/**
 * `stop` and `status`: a job's runs, found in ECS by their tags (and, with `--state-dir` or
 * `--dynamodb-table`, in its checkpoints), from a process that need not be the one that ran them.
 */
async function runJanitor(parsed: JanitorCommandLine, io: CliIo): Promise<number> {
  const { values, jobId } = parsed;
  const json = values.json === true;
  if (values.local === true) return reportError(localRefused(parsed.command), io, json);
  let store: Pick<EcsBatchRunnerOptions, "store">;
  try {
    store = await storeOption(values, io.cwd);
  } catch (error) {
    return reportError(error, io, json);
  }
  const runner = new EcsBatchRunner({
    ...awsRunnerOptions(values),
    ...store,
    // The janitor's info lines say what it waits for: a stop can take minutes.
    logger: stderrLogger(io, json, { info: true }),
  });
  const settle = values.settle;
  const settleMs = settle === undefined ? undefined : parseDuration(settle);
  if (settle !== undefined && (settleMs === undefined || parsed.command !== "stop")) {
    return reportError(
      commandLineError(
        parsed.command === "stop"
          ? "--settle takes a duration, e.g. 30s or 0"
          : '--settle is an option of "stop"',
      ),
      io,
      json,
    );
  }
  const query = {
    jobId,
    ...(settleMs === undefined ? {} : { settleMs }),
    ...(values.cluster === undefined ? {} : { cluster: values.cluster }),
    ...(values["run-id"] === undefined ? {} : { runId: values["run-id"] }),
    ...(values.family === undefined ? {} : { family: values.family }),
  };
  try {
    if (parsed.command === "stop") {
      const stopped = await runner.stopJob(query);
      if (json) io.stdout(`${JSON.stringify({ event: "stopped", jobId, ...stopped })}\n`);
      else {
        const unconfirmed = stopped.unconfirmedRunIds;
        io.stderr(
          `ecs-batch: job ${jobId}: StopTask sent for ${stopped.stoppedTaskArns.length} task(s) of ${stopped.runIds.length} run(s)${stopped.failedTaskArns.length === 0 ? "" : `; ${stopped.failedTaskArns.length} could not be stopped`}${unconfirmed.length === 0 ? "" : `; the cancel of run(s) ${unconfirmed.join(", ")} could not be recorded in the store (see the warnings): run stop again`}\n`,
        );
      }
      const complete =
        stopped.failedTaskArns.length === 0 && stopped.unconfirmedRunIds.length === 0;
      return complete ? CLI_EXIT_CODES.succeeded : CLI_EXIT_CODES.failed;
    }
    const seen = await runner.describeJob(query);
    if (json) io.stdout(`${JSON.stringify(seen)}\n`);
    else io.stdout(statusText(seen));
    return seen.runs.length > 0 ? CLI_EXIT_CODES.succeeded : CLI_EXIT_CODES.failed;
  } catch (error) {
    return reportError(error, io, json);
  }
}

/** `status` as text: each run, newest first, and its tasks. */
function statusText(seen: JobDescription): string {
  if (seen.runs.length === 0) {
    return `job ${seen.jobId}: no run found in cluster ${seen.cluster} (ECS forgets stopped tasks after about an hour)\n`;
  }
  const lines: string[] = [];
  for (const run of seen.runs) {
    const state =
      run.checkpoint === undefined
        ? ""
        : ` checkpoint: ${run.checkpoint.state}${run.checkpoint.status === undefined ? "" : ` (${run.checkpoint.status})`}`;
    lines.push(
      `job ${seen.jobId} run ${run.runId}${run.deadline === undefined ? "" : ` deadline ${run.deadline.toISOString()}`}${state}`,
    );
    for (const t of run.tasks) {
      lines.push(
        `  task ${t.taskIndex} attempt ${t.attempt}  ${t.lastStatus ?? "?"}${t.stopCode === undefined ? "" : ` (${t.stopCode})`}  ${t.taskArn}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The runner's `store`: checkpoints in the `--state-dir` directory, or in the `--dynamodb-table`
 * table (loaded only then: the DynamoDB SDK is an optional peer dependency).
 */
async function storeOption(
  values: CliOptions,
  cwd: string,
): Promise<Pick<EcsBatchRunnerOptions, "store">> {
  const dir = values["state-dir"];
  const table = values["dynamodb-table"];
  if (dir !== undefined && table !== undefined) {
    throw commandLineError("give --state-dir or --dynamodb-table, not both");
  }
  if (dir !== undefined) return { store: new FileJobStore(resolve(cwd, dir)) };
  if (table === undefined) return {};
  let sdk: typeof import("@aws-sdk/client-dynamodb");
  try {
    sdk = await import("@aws-sdk/client-dynamodb");
  } catch (error) {
    throw new EcsBatchSetupError(
      "DEPENDENCY_MISSING",
      "--dynamodb-table needs the DynamoDB client: npm install @aws-sdk/client-dynamodb",
      { cause: error },
    );
  }
  const { DynamoDbJobStore } = await import("../dynamodb/store.js");
  const client = new sdk.DynamoDBClient({
    ...(values.region === undefined ? {} : { region: values.region }),
    ...(values.endpoint === undefined ? {} : { endpoint: values.endpoint }),
  });
  return { store: new DynamoDbJobStore({ client, tableName: table }) };
}

/** Runs, previews, demonstrates or attaches a job, from a command line `parseCommandLine` has read. */
async function runJobCommand(parsed: JobCommandLine, io: CliIo): Promise<number> {
  const { command } = parsed;
  const demo = command === "demo";
  const values: CliOptions = demo ? { ...parsed.values, local: true } : parsed.values;
  const file = demo ? DEMO_JOB : parsed.file;
  const json = values.json === true;
  const quiet = values.quiet === true && !json;

  let input: BatchJobInput;
  let baseDir: string;
  try {
    ({ input, baseDir } = await readJob(file, values, io.cwd));
    if (values["poll-interval"] !== undefined)
      input = { ...input, pollInterval: values["poll-interval"] };
  } catch (error) {
    return reportError(error, io, json);
  }

  let local: LocalAws | undefined;
  let aws: AwsRunnerOptions;
  if (values.local === true) {
    const rate =
      values["launch-failure-rate"] === undefined ? 0 : Number(values["launch-failure-rate"]);
    const concurrency =
      values["max-concurrent-tasks"] === undefined
        ? undefined
        : Number(values["max-concurrent-tasks"]);
    if (
      !(rate >= 0 && rate <= 1) ||
      (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0))
    ) {
      return reportError(
        commandLineError(
          "--launch-failure-rate takes 0..1 and --max-concurrent-tasks a positive whole number",
        ),
        io,
        json,
      );
    }
    local = createLocalAws({
      clusters: ["default", clusterName(input)],
      cwd: baseDir,
      ...(rate > 0 ? { launchFailures: { probability: rate } } : {}),
      ...(concurrency === undefined ? {} : { maxConcurrentTasks: concurrency }),
    });
    aws = { clients: local.clients };
  } else {
    aws = awsRunnerOptions(values);
  }

  let store: Pick<EcsBatchRunnerOptions, "store">;
  try {
    store = await storeOption(values, io.cwd);
  } catch (error) {
    return reportError(error, io, json);
  }
  const runner = new EcsBatchRunner({
    ...aws,
    ...store,
    baseDir,
    logger: stderrLogger(io, json),
  });
  try {
    if (command === "preview") {
      const preview = await runner.preview(input);
      io.stdout(`${JSON.stringify(preview, null, 2)}\n`);
      return CLI_EXIT_CODES.succeeded;
    }
    const output: Output = json ? "json" : quiet ? "quiet" : "normal";
    const detachOnSigterm = values["detach-on-sigterm"] === true;
    if (detachOnSigterm && local !== undefined) {
      throw commandLineError(
        "--detach-on-sigterm hands a run over to another process; --local tasks are this process's children and end with it",
      );
    }
    const runId = values["run-id"];
    const options = runId === undefined ? {} : { runId };
    let handle: JobHandle;
    if (command === "attach") {
      const wait = values["wait-for-lease"];
      const waitForLease = wait === undefined ? undefined : parseDuration(wait);
      if (wait !== undefined && waitForLease === undefined) {
        throw commandLineError("--wait-for-lease takes a duration, e.g. 45s or 2m");
      }
      handle = runner.attach(input, {
        ...options,
        ...(waitForLease === undefined ? {} : { waitForLease }),
      });
    } else {
      handle = runner.submit(input, options);
    }
    return await runJob(runner, handle, io, { output, detachOnSigterm }, () => local?.close());
  } catch (error) {
    return reportError(error, io, json);
  } finally {
    local?.close();
  }
}

/**
 * What the CLI prints while a job runs: every event (the live view on a terminal, a line per
 * event elsewhere), only the start, the failures and the summary (`--quiet`), or every event as
 * JSON on stdout (`--json`).
 */
type Output = "normal" | "quiet" | "json";

/** The events `--quiet` prints: the start, each failure with its log tail, a timeout. */
const QUIET_EVENTS: ReadonlySet<string> = new Set(["jobStarted", "taskFailed", "timedOut"]);

/** The runner's AWS options, as `--region` and `--endpoint` ask. */
export type AwsRunnerOptions = Pick<
  EcsBatchRunnerOptions,
  "clients" | "region" | "logsClientForRegion"
>;

/**
 * The AWS side of the runner for `--region` and `--endpoint`. Without either, the runner's own
 * defaults (the SDK's region resolution). With them, a container whose `awslogs-region` is
 * another region is still read there: through a CloudWatch Logs client for that region, built
 * on first use and kept, at the `--endpoint` if one was given.
 */
export function awsRunnerOptions(flags: { region?: string; endpoint?: string }): AwsRunnerOptions {
  if (flags.region === undefined && flags.endpoint === undefined) return {};
  const endpoint = flags.endpoint === undefined ? {} : { endpoint: flags.endpoint };
  const region = flags.region === undefined ? {} : { region: flags.region };
  const regional = new Map<string, AwsClient>();
  return {
    ...region,
    clients: defaultClients({ ...region, ...endpoint }),
    logsClientForRegion: (name) => {
      let client = regional.get(name);
      if (client === undefined) {
        client = new (logsSdk().CloudWatchLogsClient)({
          ...RUNNER_SDK_CLIENT_CONFIG,
          region: name,
          ...endpoint,
        });
        regional.set(name, client);
      }
      return client;
    },
  };
}

async function runJob(
  runner: EcsBatchRunner,
  handle: JobHandle,
  io: CliIo,
  { output, detachOnSigterm }: { output: Output; detachOnSigterm: boolean },
  killLocalTasks: () => void,
): Promise<number> {
  const json = output === "json";
  let model: ProgressModel | undefined;
  const tty = output === "normal" && io.isTty ? new TtyRenderer(io.stderr) : undefined;
  const draw = (): void => {
    if (tty !== undefined && model !== undefined) {
      // Terminals that do not report a size (0) get a sensible default.
      const rows = io.rows !== undefined && io.rows > 0 ? io.rows : 24;
      const width = io.columns !== undefined && io.columns > 0 ? io.columns : 100;
      tty.draw(renderFrame(model, Date.now(), { maxRows: Math.max(3, rows - 4), width }));
    }
  };

  for (const name of EVENT_NAMES) {
    if (name === "jobRejected") continue;
    runner.on(name, (payload: Parameters<EcsBatchRunnerEvents[typeof name]>[0]) => {
      if (payload.jobId !== handle.jobId) return;
      if (json) {
        io.stdout(`${JSON.stringify({ event: name, ...payload })}\n`);
        return;
      }
      if (name === "jobStarted") {
        model = new ProgressModel(
          payload.jobId,
          (payload as { taskCount: number }).taskCount,
          Date.now(),
        );
      }
      model?.apply(name, payload, Date.now());
      if (tty !== undefined) draw();
      else if (output === "normal" || QUIET_EVENTS.has(name)) {
        const line = plainLine(name, payload);
        if (line !== undefined) io.stderr(`${timestamp()} ${line}\n`);
      }
    });
  }
  const timer = tty === undefined ? undefined : setInterval(draw, 250);
  timer?.unref();
  let signals = 0;
  /** The signal that cancelled the job: the job then exits by it (130 or 143). */
  let cancelledBy: CancelSignal | undefined;
  const say = (message: string): void =>
    io.stderr(json ? `${JSON.stringify({ level: "warn", message })}\n` : `ecs-batch: ${message}\n`);
  const unsubscribe = io.onSignal((signal) => {
    signals++;
    if (signals === 1) {
      cancelledBy = signal;
      if (!json) io.stderr("\n");
      if (signal === "SIGTERM" && detachOnSigterm) {
        say(
          `${signal}: handing run ${handle.runId} of job ${handle.jobId} over; its tasks keep running (again to quit at once)`,
        );
        void handle.detach();
        return;
      }
      say(
        `${signal}: cancelling job ${handle.jobId} and stopping its tasks (again to quit at once)`,
      );
      handle.cancel(`received ${signal}`);
    } else {
      say(`${signal} again: quitting without waiting for the tasks to stop`);
      // Local task processes die with us, before the exit: nothing would stop them after it.
      killLocalTasks();
      throw new ForcedExit(signal);
    }
  });
  try {
    const result = await handle.result.catch((error: unknown) => {
      if (!(error instanceof EcsBatchDetachedError)) throw error;
      return error;
    });
    draw();
    if (result instanceof EcsBatchDetachedError) {
      // Not an error: the run goes on, in whichever process attaches to it.
      if (json) {
        io.stdout(
          `${JSON.stringify({ event: "detached", jobId: result.jobId, runId: result.runId, message: result.message })}\n`,
        );
      } else io.stderr(`ecs-batch: ${result.message}\n`);
      return signalExitCode(cancelledBy ?? "SIGTERM");
    }
    printResult(result, io, json);
    return cliExitCode(result.status, cancelledBy);
  } finally {
    if (timer !== undefined) clearInterval(timer);
    unsubscribe();
  }
}

/** Thrown from a signal handler to leave at once on a second signal. */
export class ForcedExit extends Error {
  /** The signal to exit by (130 for SIGINT, 143 for SIGTERM). */
  readonly signal: CancelSignal;

  constructor(signal: CancelSignal = "SIGINT") {
    super("forced exit");
    this.name = "ForcedExit";
    this.signal = signal;
  }
}

function printResult(result: JobResult, io: CliIo, json: boolean): void {
  if (json) return;
  const logs = result.logs;
  if (logs !== undefined) {
    if ("error" in logs) io.stderr(`ecs-batch: no logs: ${logs.error}\n`);
    else {
      const out = logs.stream === "stdout" ? io.stdout : io.stderr;
      // With logs.fetch "all", every task's logs; else the representative task's.
      const texts = result.taskLogs?.map((t) => t.text) ?? [logs.text];
      out(texts.join("\n"));
    }
  }
  const counts = new Map<string, number>();
  for (const t of result.tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(", ");
  const seconds = ((result.finishedAt.getTime() - result.startedAt.getTime()) / 1000).toFixed(1);
  io.stderr(
    `ecs-batch: job ${result.jobId} ${result.status} in ${seconds}s (${summary}; ${result.failedTaskArns.length} failed attempts)${result.error === undefined ? "" : `: ${result.error.message}`}\n`,
  );
}

/**
 * Reports an error that ended the command: as text on stderr, or with `--json` as one JSON
 * object on stderr (stdout keeps only events), with the issues of a validation error. Our own
 * errors (invalid input, setup) exit 2; anything else 1.
 */
function reportError(error: unknown, io: CliIo, json: boolean): number {
  if (error instanceof ForcedExit) return signalExitCode(error.signal);
  if (json) io.stderr(`${JSON.stringify({ event: "error", ...errorJson(error) })}\n`);
  else io.stderr(`ecs-batch: ${error instanceof Error ? error.message : String(error)}\n`);
  return error instanceof EcsBatchError ? CLI_EXIT_CODES.invalid : CLI_EXIT_CODES.failed;
}

/** An error as `--json` prints it: name, code, message, and a validation error's issues. */
export function errorJson(error: unknown): {
  name: string;
  code: string;
  message: string;
  issues?: readonly { path: string; message: string }[];
} {
  if (error instanceof EcsBatchValidationError) return { ...error.toJSON(), issues: error.issues };
  if (error instanceof EcsBatchError) return error.toJSON();
  return {
    name: error instanceof Error ? error.name : "Error",
    code: "ERROR",
    message: error instanceof Error ? error.message : String(error),
  };
}

/** Reads the job: a native job file, or Heimdall command/cluster/job files. */
async function readJob(
  file: string | undefined,
  values: { command?: string; cluster?: string; job?: string; "job-id"?: string },
  cwd: string,
): Promise<{ input: BatchJobInput; baseDir: string }> {
  const heimdall = [values.command, values.cluster, values.job];
  if (heimdall.some((v) => v !== undefined)) {
    if (file !== undefined || heimdall.some((v) => v === undefined)) {
      throw commandLineError(
        "give either a job file, or all three of --command, --cluster and --job",
      );
    }
    const loaded = await loadHeimdallFiles({
      command: resolve(cwd, values.command as string),
      cluster: resolve(cwd, values.cluster as string),
      job: resolve(cwd, values.job as string),
    });
    const jobId = values["job-id"] ?? `heimdall-${Date.now().toString(36)}`;
    return { input: fromHeimdall({ ...loaded, jobId }), baseDir: loaded.baseDir };
  }
  if (file === undefined) {
    throw commandLineError("give a job file (JSON or YAML)");
  }
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new EcsBatchValidationError(
      [
        {
          path: "job file",
          message: `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "unreadable"})`,
        },
      ],
      { intro: "Invalid command line" },
    );
  }
  const shown = relative(cwd, path);
  const value = parseJobText(
    text,
    path,
    shown.startsWith("..") || isAbsolute(shown) || shown === "" ? path : shown,
  );
  if (value === null || value === undefined) {
    throw new EcsBatchValidationError(
      [
        {
          path: "job file",
          message: `${path} is empty; it should hold a job (see configuration.md)`,
        },
      ],
      { intro: "Invalid job file" },
    );
  }
  return { input: withoutSchemaKey(value) as BatchJobInput, baseDir: dirname(path) };
}

/**
 * The job of a file without its `$schema` key: editors read it to find the job file's JSON
 * Schema (`ecs-batch-runner/schema/job.schema.json`); it is not a job field.
 */
function withoutSchemaKey(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  if (!Object.hasOwn(value, "$schema")) return value;
  const { $schema: _schema, ...job } = value as Record<string, unknown>;
  return job;
}

function clusterName(input: BatchJobInput): string {
  const cluster = (input as { cluster?: unknown }).cluster;
  if (typeof cluster !== "string" || cluster === "") return "default";
  return cluster.slice(cluster.lastIndexOf("/") + 1);
}

function timestamp(): string {
  return new Date().toISOString().slice(11, 19);
}

/**
 * Warnings and errors to stderr (as JSON lines with --json, to keep stdout parseable); with
 * `info`, the info lines too.
 */
function stderrLogger(io: CliIo, json: boolean, { info = false } = {}): Logger {
  const write = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    io.stderr(
      json
        ? `${JSON.stringify({ level, message, ...meta })}\n`
        : `ecs-batch ${level}: ${message}${meta === undefined ? "" : ` ${JSON.stringify(meta)}`}\n`,
    );
  };
  return {
    debug: () => undefined,
    info: info ? write("info") : () => undefined,
    warn: write("warn"),
    error: write("error"),
  };
}
