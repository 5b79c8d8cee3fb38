/**
 * `ecs-batch`: run or preview a job from a file, on AWS or locally. Human output (progress, the
 * summary) goes to stderr, so stdout carries only what a pipeline wants: the logs of a
 * successful job, JSON events with `--json`, or a preview.
 *
 * Exit codes: 0 succeeded, 1 failed, 2 invalid input or setup error, 124 timed out,
 * 130 cancelled (SIGINT/SIGTERM stop the job's tasks first).
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { parse as parseYaml } from "yaml";
import type { AwsClient } from "../aws.js";
import { EcsBatchError, EcsBatchValidationError } from "../errors.js";
import { EVENT_NAMES, type EcsBatchRunnerEvents } from "../events.js";
import type { JobResult, JobStatus } from "../execution/types.js";
import { fromHeimdall, loadHeimdallFiles } from "../job/heimdall.js";
import type { BatchJobInput } from "../job/schema.js";
import { createLocalAws, type LocalAws } from "../local/index.js";
import type { Logger } from "../logger.js";
import { defaultClients, RUNNER_SDK_CLIENT_CONFIG } from "../aws-clients.js";
import { EcsBatchRunner, type EcsBatchRunnerOptions } from "../runner.js";
import { plainLine, ProgressModel, renderFrame, TtyRenderer } from "./progress.js";

declare const __VERSION__: string | undefined;

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
  readonly onSignal: (handler: (signal: "SIGINT" | "SIGTERM") => void) => () => void;
}

/** Exit codes. */
export const EXIT = { succeeded: 0, failed: 1, invalid: 2, timedOut: 124, cancelled: 130 } as const;

const USAGE = `Usage:
  ecs-batch run <job.json|job.yaml> [options]
  ecs-batch run --command <file> --cluster <file> --job <file> [--job-id <id>] [options]
  ecs-batch preview <job file> | --command ... --cluster ... --job ...

Runs a batch job as ECS Fargate tasks, with retries, a timeout and stop semantics.

Options:
  --local                  run the tasks as local processes (no AWS account needed; images are not pulled)
  --region <region>        AWS region (default: the SDK's own: AWS_REGION, profile)
  --endpoint <url>         an AWS-compatible endpoint for ECS, CloudWatch Logs and EC2
  --json                   print events as JSON, one object per line, on stdout
  --job-id <id>            job id for Heimdall files (default: generated)
  --poll-interval <d>      override the job's pollInterval (e.g. 1s for quick local runs)
  --max-concurrent-tasks <n>   --local only: tasks running at once (default 4)
  --launch-failure-rate <p>    --local only: make first launches fail with AGENT at this rate
  -h, --help               show this help
  -v, --version            show the version

Exit codes: 0 succeeded, 1 failed, 2 invalid input or setup error, 124 timed out, 130 cancelled.
`;

function version(): string {
  return typeof __VERSION__ === "string" ? __VERSION__ : "dev";
}

/** Runs the CLI; resolves with the exit code. */
export async function cli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        local: { type: "boolean" },
        region: { type: "string" },
        endpoint: { type: "string" },
        json: { type: "boolean" },
        command: { type: "string" },
        cluster: { type: "string" },
        job: { type: "string" },
        "job-id": { type: "string" },
        "poll-interval": { type: "string" },
        "max-concurrent-tasks": { type: "string" },
        "launch-failure-rate": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (error) {
    io.stderr(`ecs-batch: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT.invalid;
  }
  const { values, positionals } = parsed;
  if (values.version === true) {
    io.stdout(`${version()}\n`);
    return EXIT.succeeded;
  }
  const [command, file, ...extra] = positionals;
  if (values.help === true || command === undefined) {
    (values.help === true ? io.stdout : io.stderr)(USAGE);
    return values.help === true ? EXIT.succeeded : EXIT.invalid;
  }
  if (command !== "run" && command !== "preview") {
    io.stderr(`ecs-batch: unknown command "${command}"; use "run" or "preview"\n\n${USAGE}`);
    return EXIT.invalid;
  }
  if (extra.length > 0) {
    io.stderr(`ecs-batch: unexpected arguments: ${extra.join(" ")}\n`);
    return EXIT.invalid;
  }

  let input: BatchJobInput;
  let baseDir: string;
  try {
    ({ input, baseDir } = await readJob(file, values, io.cwd));
    if (values["poll-interval"] !== undefined)
      input = { ...input, pollInterval: values["poll-interval"] };
  } catch (error) {
    return reportError(error, io, values.json === true);
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
      io.stderr(
        "ecs-batch: --launch-failure-rate takes 0..1 and --max-concurrent-tasks a positive whole number\n",
      );
      return EXIT.invalid;
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

  const runner = new EcsBatchRunner({
    ...aws,
    baseDir,
    logger: stderrLogger(io, values.json === true),
  });
  try {
    if (command === "preview") {
      const preview = await runner.preview(input);
      io.stdout(`${JSON.stringify(preview, null, 2)}\n`);
      return EXIT.succeeded;
    }
    return await runJob(runner, input, io, values.json === true, () => local?.close());
  } catch (error) {
    return reportError(error, io, values.json === true);
  } finally {
    local?.close();
  }
}

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
        client = new CloudWatchLogsClient({
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
  input: BatchJobInput,
  io: CliIo,
  json: boolean,
  killLocalTasks: () => void,
): Promise<number> {
  const handle = runner.submit(input);
  let model: ProgressModel | undefined;
  const tty = !json && io.isTty ? new TtyRenderer(io.stderr) : undefined;
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
      else {
        const line = plainLine(name, payload);
        if (line !== undefined) io.stderr(`${timestamp()} ${line}\n`);
      }
    });
  }
  const timer = tty === undefined ? undefined : setInterval(draw, 250);
  timer?.unref();
  let signals = 0;
  const unsubscribe = io.onSignal((signal) => {
    signals++;
    if (signals === 1) {
      io.stderr(
        `\necs-batch: ${signal}: cancelling job ${handle.jobId} and stopping its tasks (again to quit at once)\n`,
      );
      handle.cancel(`received ${signal}`);
    } else {
      io.stderr(`ecs-batch: ${signal} again: quitting without waiting for the tasks to stop\n`);
      // Local task processes die with us, before the exit: nothing would stop them after it.
      killLocalTasks();
      throw new ForcedExit();
    }
  });
  try {
    const result = await handle.result;
    draw();
    printResult(result, io, json);
    return exitCode(result.status);
  } finally {
    if (timer !== undefined) clearInterval(timer);
    unsubscribe();
  }
}

/** Thrown from a signal handler to leave at once on a second signal. */
export class ForcedExit extends Error {
  constructor() {
    super("forced exit");
    this.name = "ForcedExit";
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

function exitCode(status: JobStatus): number {
  return EXIT[status];
}

function reportError(error: unknown, io: CliIo, json: boolean): number {
  if (error instanceof ForcedExit) return EXIT.cancelled;
  if (json) {
    const e =
      error instanceof EcsBatchError
        ? error.toJSON()
        : { name: "Error", code: "ERROR", message: String(error) };
    io.stdout(`${JSON.stringify({ event: "error", ...e })}\n`);
  }
  if (error instanceof EcsBatchError) {
    io.stderr(`ecs-batch: ${error.message}\n`);
    return EXIT.invalid;
  }
  io.stderr(`ecs-batch: ${error instanceof Error ? error.message : String(error)}\n`);
  return EXIT.failed;
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
      throw new EcsBatchValidationError(
        [
          {
            path: "arguments",
            message: "give either a job file, or all three of --command, --cluster and --job",
          },
        ],
        { intro: "Invalid command line" },
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
    throw new EcsBatchValidationError(
      [{ path: "arguments", message: "give a job file (JSON or YAML)" }],
      {
        intro: "Invalid command line",
      },
    );
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
  let value: unknown;
  try {
    value = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new EcsBatchValidationError(
      [
        {
          path: "job file",
          message: `${path} is not valid JSON or YAML: ${(error as Error).message.split("\n")[0] ?? ""}`,
        },
      ],
      {
        intro: "Invalid job file",
      },
    );
  }
  return { input: value as BatchJobInput, baseDir: dirname(path) };
}

function clusterName(input: BatchJobInput): string {
  const cluster = (input as { cluster?: unknown }).cluster;
  if (typeof cluster !== "string" || cluster === "") return "default";
  return cluster.slice(cluster.lastIndexOf("/") + 1);
}

function timestamp(): string {
  return new Date().toISOString().slice(11, 19);
}

/** Warnings and errors to stderr (as JSON lines with --json, to keep stdout parseable). */
function stderrLogger(io: CliIo, json: boolean): Logger {
  const write = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    io.stderr(
      json
        ? `${JSON.stringify({ level, message, ...meta })}\n`
        : `ecs-batch ${level}: ${message}${meta === undefined ? "" : ` ${JSON.stringify(meta)}`}\n`,
    );
  };
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: write("warn"),
    error: write("error"),
  };
}
