/**
 * Hosts that can die: a runner on a `killableHost`'s clock and clients, which stop answering at
 * `kill()`, as when its process is killed. The simulated account, the shared clock and the
 * store carry on, for the next host to attach.
 */
import {
  EcsBatchRunner,
  MemoryJobStore,
  type BatchJobInput,
  type EcsBatchRunnerEvents,
  type EcsBatchRunnerOptions,
  type JobStore,
} from "../../src/index.js";
import {
  createSimulatedAws,
  flushMicrotasks,
  killableHost,
  ManualClock,
  type SimulatedAws,
  type SimulatedAwsOptions,
} from "../../src/testing/index.js";
import { setTimeout as realSleep } from "node:timers/promises";
import { ioPending } from "../../src/simulator/clock.js";
import { memoryLogger, template } from "../helpers/sim.js";

/** A host: a runner, its recorded events, and `kill()`. */
export interface Host {
  readonly runner: EcsBatchRunner;
  readonly events: { name: keyof EcsBatchRunnerEvents; payload: Record<string, unknown> }[];
  kill(): void;
  /** Freezes the host (SIGSTOP): see `KillableHost.pause`. */
  pause(): void;
  resume(): void;
}

/** A simulated account and a shared clock, and hosts that run on them. */
export function world(options: { aws?: SimulatedAwsOptions } = {}) {
  const clock = new ManualClock();
  const aws: SimulatedAws = createSimulatedAws({ clock, ...options.aws });
  let seed = 7;
  const host = (runnerOptions: Partial<EcsBatchRunnerOptions> = {}): Host => {
    const mortal = killableHost(clock, aws);
    const s = seed++;
    let state = s;
    const runner = new EcsBatchRunner({
      clients: mortal.clients,
      clock: mortal.clock,
      random: () => {
        state = (state * 1103515245 + 12345) % 2147483648;
        return state / 2147483648;
      },
      logger: memoryLogger(),
      ...runnerOptions,
      // The store as this host sees it: a killed host stops using it, as a dead process would.
      ...(runnerOptions.store === undefined
        ? {}
        : { store: mortal.killableStore(runnerOptions.store) }),
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
      kill: () => mortal.kill(),
      pause: () => mortal.pause(),
      resume: () => mortal.resume(),
    };
  };
  /**
   * Runs the clock until `condition` holds (checked after every timer), or `maxMs` passes. File
   * calls in flight (a `FileJobStore`'s) finish before time moves on, as with `runUntil`: else a
   * lease would lapse in clock time while its renewal is still being written.
   */
  const until = async (condition: () => boolean, maxMs = 3_600_000): Promise<void> => {
    const end = clock.now() + maxMs;
    let idle = 0;
    let waitedForIo = 0;
    while (!condition() && clock.now() < end) {
      await flushMicrotasks();
      if (ioPending() && waitedForIo < 5_000) {
        await realSleep(1);
        waitedForIo++;
        continue;
      }
      waitedForIo = 0;
      const next = clock.nextTimerAt();
      if (next === undefined) {
        // Nothing scheduled yet: a job still being prepared, or a wait in real time (a file
        // store's lock, taken by another host, is tried again a few real ms later). Give up
        // only after a real second of that.
        if (++idle > 100) {
          if (idle > 1_100) break;
          await realSleep(1);
        }
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

/**
 * A world where a host with a `MemoryJobStore` ran `durableJob()` (three tasks of ten minutes)
 * until every task started, then died: the start of every takeover test.
 */
export async function deadOwner(owner = "worker-a") {
  const w = world();
  w.aws.script({}, { runMs: 10 * 60_000 });
  const store = new MemoryJobStore();
  const first = w.host({ store, owner });
  const handle = first.runner.submit(durableJob());
  await w.until(() => first.events.filter((e) => e.name === "taskStarted").length === 3);
  const killedAt = w.clock.now();
  first.kill();
  return { ...w, store, handle, killedAt };
}
