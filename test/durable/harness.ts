/**
 * Hosts that can die: a runner whose clock and clients stop answering at `kill()`, as when its
 * process is killed. Everything it was waiting for never comes back; the simulated account,
 * the shared clock and the store carry on, for the next host to attach.
 */
import {
  EcsBatchRunner,
  type AwsClient,
  type BatchJobInput,
  type Clock,
  type EcsBatchRunnerEvents,
  type EcsBatchRunnerOptions,
  type JobStore,
} from "../../src/index.js";
import {
  createSimulatedAws,
  flushMicrotasks,
  ManualClock,
  type SimulatedAws,
  type SimulatedAwsOptions,
} from "../../src/testing/index.js";
import { memoryLogger, template } from "../helpers/sim.js";

const NEVER = new Promise<never>(() => undefined);

/** A host: a runner, its recorded events, and `kill()`. */
export interface Host {
  readonly runner: EcsBatchRunner;
  readonly events: { name: keyof EcsBatchRunnerEvents; payload: Record<string, unknown> }[];
  kill(): void;
}

/** A simulated account and a shared clock, and hosts that run on them. */
export function world(options: { aws?: SimulatedAwsOptions } = {}) {
  const clock = new ManualClock();
  const aws: SimulatedAws = createSimulatedAws({ clock, ...options.aws });
  let seed = 7;
  const host = (runnerOptions: Partial<EcsBatchRunnerOptions> = {}): Host => {
    let dead = false;
    const hostClock: Clock = {
      now: () => clock.now(),
      sleep: (ms, signal) =>
        dead
          ? NEVER
          : clock.sleep(ms, signal).then(
              () => (dead ? NEVER : undefined),
              (error: unknown) => (dead ? NEVER : Promise.reject(error as Error)),
            ),
    };
    const wrap = (client: AwsClient): AwsClient => ({
      send: (command, opts) =>
        dead
          ? NEVER
          : client.send(command, opts).then(
              (out) => (dead ? NEVER : out),
              (error: unknown) => (dead ? NEVER : Promise.reject(error as Error)),
            ),
    });
    const s = seed++;
    let state = s;
    const runner = new EcsBatchRunner({
      clients: { ecs: wrap(aws.ecs), logs: wrap(aws.logs), ec2: wrap(aws.ec2) },
      clock: hostClock,
      random: () => {
        state = (state * 1103515245 + 12345) % 2147483648;
        return state / 2147483648;
      },
      logger: memoryLogger(),
      ...runnerOptions,
    });
    const events: Host["events"] = [];
    for (const name of [
      "jobStarted",
      "taskStarted",
      "taskSucceeded",
      "taskFailed",
      "retried",
      "timedOut",
      "jobCompleted",
      "jobRejected",
    ] as const) {
      runner.on(name, (payload: unknown) => {
        events.push({ name, payload: payload as Record<string, unknown> });
      });
    }
    return {
      runner,
      events,
      kill: () => {
        dead = true;
      },
    };
  };
  /** Runs the clock until `condition` holds (checked after every timer), or `maxMs` passes. */
  const until = async (condition: () => boolean, maxMs = 3_600_000): Promise<void> => {
    const end = clock.now() + maxMs;
    let idle = 0;
    while (!condition() && clock.now() < end) {
      await flushMicrotasks();
      const next = clock.nextTimerAt();
      if (next === undefined) {
        // Nothing scheduled yet (a job still being prepared): let its promises run first.
        if (++idle > 100) break;
        continue;
      }
      idle = 0;
      if (condition()) break;
      await clock.advanceTo(Math.min(next, end));
    }
  };
  return { clock, aws, host, until };
}

/** A job on the standard template with fast polling; `extra` overrides anything. */
export function durableJob(extra: Partial<BatchJobInput> = {}): BatchJobInput {
  return {
    jobId: "durable1",
    taskDefinition: { definition: template() },
    taskCount: 3,
    pollInterval: "5s",
    timeout: "2h",
    ...extra,
  };
}

export type { JobStore };
