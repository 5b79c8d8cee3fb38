/**
 * Crash scenarios drawn at random, for the property tests of durable runs: what a task's attempt
 * may do, and `play`, which runs a job through hosts that die one after another.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { expect } from "vitest";
import { FileJobStore, MemoryJobStore, type JobResult, type JobStore } from "../../src/index.js";
import type { TaskScript } from "../../src/testing/index.js";
import { durableJob, world } from "./harness.js";

/** What one attempt of a task does. */
export const outcome = fc.oneof(
  fc.constant<TaskScript>({}),
  fc.integer({ min: 1, max: 255 }).map<TaskScript>((exitCode) => ({ exitCode })),
  fc.constantFrom<TaskScript>(
    { launchFailure: "AGENT" },
    { startFailure: "CannotPullContainerError" },
  ),
  fc.integer({ min: 0, max: 20_000 }).map<TaskScript>((afterMs) => ({ interrupted: { afterMs } })),
);

/** Scripts for some attempts of tasks 0 to `maxIndex`; the others succeed. */
export function taskScripts(maxIndex: number) {
  return fc.array(
    fc.record({
      taskIndex: fc.integer({ min: 0, max: maxIndex }),
      attempt: fc.integer({ min: 1, max: 4 }),
      script: outcome,
    }),
    { maxLength: 8 },
  );
}

/** A run to play: its job, its tasks' scripts and its account's faults. */
export interface CrashScenario {
  readonly taskCount: number;
  readonly maxFailCount: number;
  readonly maxLaunchRetries: number;
  readonly runMs: number;
  /** The share of RunTask calls whose answer is lost after ECS acted on them. */
  readonly lostAnswers: number;
  readonly store: boolean;
  readonly timeout: string;
  readonly scripts: readonly { taskIndex: number; attempt: number; script: TaskScript }[];
  /** When the first host cancels the job (ms after it submitted it), if it is still alive. */
  readonly cancelAtMs?: number;
  /** How long RunTask takes to answer (ms); ECS acts on it when the answer leaves. */
  readonly launchLatencyMs?: number;
  /**
   * With `store`, a `FileJobStore` on a fresh directory, one instance per host (as separate
   * processes on one host have), instead of one `MemoryJobStore` they all share.
   */
  readonly fileStore?: boolean;
  /** The first host hands the run over (`detach`) when its life ends, instead of dying. */
  readonly handOver?: boolean;
  /**
   * With `store` and no `handOver`: the first host is frozen (SIGSTOP) when its life ends,
   * instead of dying, and woken this long after (ms), while or after another host carries the
   * run on.
   */
  readonly freezeForMs?: number;
}

/** Plays `s` with hosts that live `lives` ms each (none: one host runs the job to its end). */
export async function play(
  s: CrashScenario,
  lives: readonly number[],
): Promise<{
  result?: JobResult;
  error?: unknown;
  /** Hosts that attached, and those of them killed before the run ended. */
  attaches: number;
  attachersKilled: number;
  /** When the first host took the drawn cancel (alive, its run not over), if it did. */
  cancelledAt?: number;
  /** Whether the first host handed the run over (its result rejected with `DETACHED`). */
  handedOver?: boolean;
  /** How the first host's run ended for it, if it was frozen: after it woke. */
  woken?: { result?: JobResult; error?: unknown };
  world: ReturnType<typeof world>;
}> {
  const latency = s.launchLatencyMs ?? 0;
  const w = world({
    aws: { latency: (_service, action) => (action === "RunTask" ? latency : 0) },
  });
  const { aws, clock, host, until } = w;
  aws.script({}, { runMs: s.runMs });
  for (const { taskIndex, attempt, script } of s.scripts)
    aws.script({ taskIndex, attempt }, script);
  if (s.lostAnswers > 0) {
    aws.inject({
      action: "RunTask",
      error: "ServerException",
      afterProcessing: true,
      probability: s.lostAnswers,
    });
  }
  const dir =
    s.store && s.fileStore === true ? mkdtempSync(join(tmpdir(), "crash-play-")) : undefined;
  const memory = s.store && dir === undefined ? new MemoryJobStore() : undefined;
  /** The store of one host: the shared memory store, or a file store of its own on the directory. */
  const storeOf = (): JobStore | undefined => (dir === undefined ? memory : new FileJobStore(dir));
  const job = durableJob({
    taskCount: s.taskCount,
    maxFailCount: s.maxFailCount,
    timeout: s.timeout,
    retry: { maxLaunchRetries: s.maxLaunchRetries, backoff: { initial: "2s", max: "20s" } },
  });
  const out: {
    result?: JobResult;
    error?: unknown;
    cancelledAt?: number;
    handedOver?: boolean;
    woken?: { result?: JobResult; error?: unknown };
  } = {};
  let frozen = false;
  let attaches = 0;
  let attachersKilled = 0;
  let firstAlive = true;
  for (let life = 0; life <= lives.length; life++) {
    const store = storeOf();
    const current = host(store === undefined ? {} : { store });
    if (life > 0) attaches++;
    // An attacher waits out any run drawn (2 h at most): a host frozen for less than a lease's
    // time to live wakes still owning the run, and may drive it to its end.
    const handle =
      life === 0
        ? current.runner.submit(job)
        : current.runner.attach(job, { waitForLease: 3 * 3_600_000 });
    const settled = { done: false, asleep: false };
    void handle.result.then(
      (value) => {
        if (settled.asleep) out.woken = { result: value };
        else out.result = value;
        settled.done = true;
      },
      (error: unknown) => {
        if (settled.asleep) {
          out.woken = { error };
          return;
        }
        // A run handed over goes on in the next host.
        if ((error as { code?: unknown } | null)?.code === "DETACHED") return;
        out.error = error;
        settled.done = true;
      },
    );
    if (life === 0 && s.cancelAtMs !== undefined) {
      void clock.sleep(s.cancelAtMs).then(() => {
        if (!firstAlive || settled.done) return;
        out.cancelledAt = clock.now();
        handle.cancel("drawn cancel");
      });
    }
    const lifetime = lives[life];
    if (lifetime === undefined) {
      await until(() => settled.done, 6 * 3_600_000);
      break;
    }
    await until(() => settled.done, lifetime + 1);
    if (life === 0 && s.handOver === true && !settled.done) {
      await clock.runUntil(handle.detach());
      out.handedOver = true;
    }
    if (life === 0 && s.freezeForMs !== undefined && s.store && s.handOver !== true) {
      if (!settled.done) {
        frozen = true;
        settled.asleep = true;
        current.pause();
        void clock.sleep(s.freezeForMs).then(() => current.resume());
      }
    } else current.kill();
    if (life === 0) firstAlive = false;
    if (settled.done) break;
    if (life > 0) attachersKilled++;
    // The next host comes a little later; it waits for the dead one's lease to lapse.
    await clock.runUntil(clock.sleep(5_000));
  }
  // The frozen host wakes, if it has not yet, and ends its part: the run's end, or letting go.
  if (frozen) await until(() => out.woken !== undefined, 3_600_000);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  return { ...out, attaches, attachersKilled, world: w };
}

/**
 * Checks what must hold once a played run is over, whoever ended it: no task twice, none left
 * running, every task ECS started in the result, no slot past its budgets. Returns the result,
 * or undefined when there was none: nothing launched, or (without a store) a run ECS no longer
 * showed by the time a host attached.
 */
export function expectSettled(
  played: Awaited<ReturnType<typeof play>>,
  s: CrashScenario,
): JobResult | undefined {
  const { aws } = played.world;
  const result = played.result;
  // A host woken from a freeze finished the run before another took it over, or let it go.
  const woken = played.woken;
  if (woken?.error !== undefined) expect(woken.error).toMatchObject({ code: "LEASE_LOST" });
  if (result === undefined) {
    if (aws.taskHistory.length > 0) expect(played.error).toMatchObject({ code: "RUN_NOT_FOUND" });
    return undefined;
  }
  aws.assert.noDuplicateTasks();
  aws.assert.noUnfinishedTasks();
  const accounted = new Set(result.tasks.flatMap((t) => [t.taskArn, ...t.failedTaskArns]));
  for (const h of aws.taskHistory) expect(accounted.has(h.taskArn)).toBe(true);
  for (const t of result.tasks) {
    expect(t.attempts).toBeLessThanOrEqual(s.maxFailCount + s.maxLaunchRetries + 2);
  }
  expect(result.tasks).toHaveLength(s.taskCount);
  // A cancel whose StopTask stopped a task is the run's cause, whichever host ends the run:
  // after it, nothing is launched. (One that only reached tasks already stopped left no mark in
  // ECS: without a store, the run then ends as its tasks did.)
  const cancelStop = aws
    .callsTo("StopTask")
    .find((c) => c.error === undefined && String(c.input.reason).includes("was cancelled"));
  const cancelTookEffect = aws.tasks().some((t) => t.stoppedReason?.includes("was cancelled"));
  if (cancelStop !== undefined && cancelTookEffect) {
    expect(result.status).toBe("cancelled");
    expect(aws.callsTo("RunTask").filter((c) => c.at > cancelStop.at)).toEqual([]);
  }
  // With a store, a cancel is on record as soon as the host takes it, whether or not any of its
  // StopTasks went out: the run ends cancelled (or for a cause that came before it), and nothing
  // is launched after it.
  const { cancelledAt } = played;
  if (s.store && cancelledAt !== undefined) {
    expect(["CANCELLED", "TASK_FAILED"]).toContain(result.error?.code);
    expect(aws.callsTo("RunTask").filter((c) => c.at > cancelledAt)).toEqual([]);
  }
  return result;
}
