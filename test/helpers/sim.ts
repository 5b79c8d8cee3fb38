import type { RegisterTaskDefinitionCommandInput } from "@aws-sdk/client-ecs";
import {
  EcsBatchRunner,
  EVENT_NAMES,
  type BatchJobInput,
  type EcsBatchRunnerEvents,
  type EcsBatchRunnerOptions,
  type Logger,
} from "../../src/index.js";
import {
  createSimulatedAws,
  ManualClock,
  type SimulatedAws,
  type SimulatedAwsOptions,
} from "../../src/testing/index.js";

/** A Fargate template: an essential `main` logging to awslogs, and optionally a non-essential sidecar. */
export function template(
  options: { sidecar?: boolean; family?: string } = {},
): RegisterTaskDefinitionCommandInput {
  return {
    family: options.family ?? "batch-job",
    requiresCompatibilities: ["FARGATE"],
    networkMode: "awsvpc",
    cpu: "256",
    memory: "512",
    containerDefinitions: [
      {
        name: "main",
        image: "alpine:3.20",
        essential: true,
        logConfiguration: {
          logDriver: "awslogs",
          options: {
            "awslogs-group": "/ecs/batch-jobs",
            "awslogs-region": "us-west-2",
            "awslogs-stream-prefix": "ecs",
          },
        },
      },
      ...(options.sidecar === true ? [{ name: "sidecar", image: "envoy", essential: false }] : []),
    ],
  };
}

/** One recorded event, with the clock time it was emitted at. */
export interface Recorded {
  readonly name: keyof EcsBatchRunnerEvents;
  readonly at: number;
  readonly payload: Record<string, unknown> & { jobId: string };
}

/** A logger that keeps what it was told (tests fail on console output). */
export function memoryLogger(): Logger & {
  lines: { level: string; message: string; meta?: Record<string, unknown> }[];
} {
  const lines: { level: string; message: string; meta?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    lines.push({ level, message, ...(meta === undefined ? {} : { meta }) });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A simulated account, a runner on it with a ManualClock, and a record of every event. */
export function setup(options: { aws?: SimulatedAwsOptions; runner?: EcsBatchRunnerOptions } = {}) {
  const clock = new ManualClock();
  const aws: SimulatedAws = createSimulatedAws({ clock, ...options.aws });
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const logger = memoryLogger();
  const runner = new EcsBatchRunner({
    clients: aws.clients,
    clock,
    random,
    logger,
    ...options.runner,
  });
  const events: Recorded[] = [];
  for (const name of EVENT_NAMES) {
    runner.on(name, (payload: unknown) => {
      events.push({ name, at: clock.now(), payload: payload as Recorded["payload"] });
    });
  }
  const run = (job: BatchJobInput, signal?: AbortSignal) =>
    clock.runUntil(runner.run(job, signal === undefined ? {} : { signal }));
  const named = (name: keyof EcsBatchRunnerEvents) =>
    events.filter((e) => e.name === name).map((e) => e.payload);
  return { clock, aws, runner, events, logger, run, named };
}

/** A job on the standard template with fast polling; `extra` overrides anything. */
export function job(extra: Partial<BatchJobInput> = {}): BatchJobInput {
  return {
    jobId: "job1",
    taskDefinition: { definition: template() },
    taskCount: 3,
    pollInterval: "5s",
    ...extra,
  };
}
