/**
 * The file store's own cost, without the rest of a run around it (`npm run bench:store`).
 *
 * `bench/durable.ts` reads the store's share of a whole run from V8's samples, which charge a
 * sample to the innermost frame of our code: the promise and thread-pool hand-overs of the file
 * calls land outside it, and the runner's own work around the store moves every figure by
 * several per cent from one run to the next. This replays one recorded run instead: the
 * `1x10000` job runs once in virtual time with a `FileJobStore`; then, `--repeat` times, a
 * `StoreCheckpoints` over a fresh `FileJobStore` is fed the same slot changes, poll by poll,
 * and the JS thread's CPU time is read from `/proc/thread-self/stat` (Linux, 10 ms ticks: hence
 * the mean of several replays). A replay with the checkpoints left out measures the feeding
 * alone, which is subtracted.
 *
 *   npm run bench:store                      # 10,000 tasks, 15 replays
 *   npx tsx bench/store-replay.ts --repeat 5 --tasks 1000
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { shortSlotRecords } from "../src/durable/checkpoint.js";
import { StoreCheckpoints } from "../src/durable/checkpointer.js";
import { FileJobStore } from "../src/durable/file-store.js";
import type { JobState } from "../src/execution/job.js";
import { initialSlot, type SlotState } from "../src/execution/slot.js";
import { silentLogger } from "../src/logger.js";
import { ManualClock } from "../src/simulator/clock.js";
import { runOurs } from "./ours.js";
import { virtualAccount, WORKLOAD, type Scenario } from "./workload.js";

const { values } = parseArgs({
  options: {
    tasks: { type: "string", default: "10000" },
    repeat: { type: "string", default: "15" },
  },
});
const TASKS = Number(values.tasks);
const REPEAT = Number(values.repeat);
const EPOCH = Date.UTC(2026, 0, 1);
const TTL_MS = 3 * WORKLOAD.pollIntervalMs;

/** One poll's write: the slots as they were written, and the tasks that failed since. */
interface Beat {
  readonly slots: readonly Partial<SlotState>[];
  readonly failed: readonly string[];
}

/** Runs the job once with a file store and reads back the changes it appended, poll by poll. */
async function record(): Promise<Beat[]> {
  const scenario: Scenario = { name: `1x${String(TASKS)}`, jobs: 1, tasksPerJob: TASKS };
  const { env } = virtualAccount(scenario, EPOCH);
  const dir = await mkdtemp(join(tmpdir(), "ecs-batch-replay-"));
  try {
    await runOurs(env, scenario, new FileJobStore(dir));
    const runDir = join(dir, "job-0");
    const changes = (await readdir(runDir)).find((name) => name.endsWith(".changes"));
    if (changes === undefined) throw new Error("the run appended no changes");
    const beats: Beat[] = [];
    for (const line of (await readFile(join(runDir, changes), "utf8")).split("\n")) {
      if (line === "") continue;
      const change = JSON.parse(line) as {
        taskArnPrefix?: string;
        failedTaskArnsAdded?: string[];
        slots?: (Partial<SlotState> & { index: number })[];
        started?: unknown;
        exited0?: unknown;
      };
      // As the job holds them: task ARNs in full.
      const full = (arn: string): string =>
        arn.startsWith("arn:") ? arn : `${change.taskArnPrefix ?? ""}${arn}`;
      beats.push({
        failed: (change.failedTaskArnsAdded ?? []).map(full),
        slots: [...(change.slots ?? []), ...shortSlotRecords(change, changes)].map((slot) => ({
          ...slot,
          ...(slot.taskArn === undefined ? {} : { taskArn: full(slot.taskArn) }),
          failedTaskArns: (slot.failedTaskArns ?? []).map(full),
        })),
      });
    }
    return beats;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The JS thread's CPU time so far, ms (10 ms ticks). */
function threadCpuMs(): number {
  const fields = readFileSync("/proc/thread-self/stat", "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The process's CPU time so far (every thread: the file calls on the thread pool too), ms. */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * A file store that keeps its last write's promise, so the replay waits for a poll's write
 * without going round the event loop (which would charge the wait to the store).
 */
class AwaitedFileStore extends FileJobStore {
  written: Promise<void> = Promise.resolve();
  override append(...args: Parameters<FileJobStore["append"]>): Promise<void> {
    this.written = super.append(...args);
    return this.written;
  }
}

/** CPU a replay took, ms. */
interface Used {
  readonly thread: number;
  readonly process: number;
}

/** Feeds the recorded beats to a fresh store's checkpoints (or to none); the CPU it took. */
async function replay(beats: readonly Beat[], withStore: boolean): Promise<Used> {
  const dir = await mkdtemp(join(tmpdir(), "ecs-batch-replay-"));
  const store = new AwaitedFileStore(dir);
  const clock = new ManualClock({ start: EPOCH });
  const key = { jobId: "job-0", runId: "replay" };
  const taskDefinitionArn = "arn:aws:ecs:us-west-2:123456789012:task-definition/bench:1";
  const lease = await store.acquire(key, "replay", TTL_MS, clock.now());
  const state: JobState = {
    ...key,
    cluster: "default",
    taskDefinitionArn,
    startedAt: clock.now(),
    slots: Array.from({ length: TASKS }, (_, i) => initialSlot(i, `t-${String(i)}`)),
    failedTaskArns: [],
  };
  const checkpoints = new StoreCheckpoints(
    {
      store,
      clock,
      logger: silentLogger,
      lease,
      leaseTtlMs: TTL_MS,
      intervalMs: WORKLOAD.pollIntervalMs,
    },
    {
      ...key,
      cluster: "default",
      taskDefinitionArn,
      fingerprint: { job: "replay" },
      startedAt: clock.now(),
      deadline: clock.now() + 24 * 3_600_000,
    },
  );
  const start = { thread: threadCpuMs(), process: processCpuMs() };
  if (withStore) await checkpoints.started(state, () => undefined);
  for (const beat of beats) {
    state.failedTaskArns.push(...beat.failed);
    for (const written of beat.slots) {
      const index = written.index as number;
      const slot = state.slots[index] as SlotState;
      // In place, as the job changes its slots; fields a record leaves out are initial.
      Object.assign(slot, initialSlot(index, slot.taskName), written);
      if (withStore) checkpoints.changed(index);
    }
    if (!withStore) continue;
    const writes = checkpoints.writes;
    await clock.advance(WORKLOAD.pollIntervalMs);
    // The write's file calls run in real time: a few microtasks until it has begun, then its end.
    while (checkpoints.writes === writes) {
      await store.written;
      await Promise.resolve();
    }
  }
  if (withStore) await checkpoints.finished(state, undefined);
  const used = { thread: threadCpuMs() - start.thread, process: processCpuMs() - start.process };
  await rm(dir, { recursive: true, force: true });
  return used;
}

async function measure(beats: readonly Beat[], withStore: boolean): Promise<Used[]> {
  await replay(beats, withStore); // warm-up, not counted
  const runs: Used[] = [];
  for (let i = 0; i < REPEAT; i++) runs.push(await replay(beats, withStore));
  return runs;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const beats = await record();
const records = beats.reduce((n, beat) => n + beat.slots.length, 0);
const fed = await measure(beats, false);
const stored = await measure(beats, true);
console.log(
  `store replay, 1x${String(TASKS)}: ${String(beats.length)} changes, ${String(records)} slot records; ${String(REPEAT)} replays each`,
);
for (const [what, of] of [
  ["JS-thread", (u: Used) => u.thread],
  ["process (thread pool included)", (u: Used) => u.process],
] as const) {
  const alone = fed.map(of);
  const withIt = stored.map(of);
  const cost = mean(withIt) - mean(alone);
  console.log(`  ${what} CPU:`);
  console.log(`    feeding alone: mean ${mean(alone).toFixed(1)} ms`);
  console.log(
    `    with the file store: mean ${mean(withIt).toFixed(1)} ms (${[...withIt]
      .sort((a, b) => a - b)
      .map((x) => x.toFixed(0))
      .join(", ")})`,
  );
  console.log(
    `    the store's own cost per run: ${cost.toFixed(1)} ms, ${((cost * 1000) / TASKS).toFixed(2)} µs per task`,
  );
}
