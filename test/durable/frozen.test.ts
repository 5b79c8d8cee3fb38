/**
 * A host frozen (SIGSTOP, a paused VM) past its lease, then woken while another process drives
 * its run, or after that process finished it: what the woken host had queued or in flight must
 * not reach ECS as new work. Its next store call tells it the run is in other hands, but timers
 * and answers that came due while it slept run first.
 */
import { describe, expect, it } from "vitest";
import { MemoryJobStore, type JobStore } from "../../src/index.js";
import { durableJob, world } from "./harness.js";

/** A host frozen mid-launch: ten RunTasks in flight (10 s each), twenty more queued. */
async function frozenMidLaunch(extra: Parameters<typeof durableJob>[0] = {}) {
  const w = world();
  w.aws.script({}, { runMs: 60 * 60_000 });
  w.aws.setLatency((_service, action) => (action === "RunTask" ? 10_000 : 0));
  const store = new MemoryJobStore();
  const job = durableJob({ taskCount: 30, ...extra });
  const first = w.host({ store });
  first.runner.submit(job);
  await w.until(() => w.aws.count("RunTask") >= 10);
  first.pause();
  return { ...w, store, job, first };
}

describe("a host woken after its lease lapsed", () => {
  it("launches nothing for a run that timed out while it slept", async () => {
    const { aws, clock, host, until, store, job, first } = await frozenMidLaunch({
      timeout: "2m",
    });
    await clock.runUntil(clock.sleep(3 * 60_000));
    const second = host({ store });
    const result = await clock.runUntil(second.runner.attach(job).result);
    expect(result.status).toBe("timedOut");
    const launched = aws.count("RunTask");

    first.resume();
    await until(() => false, 10 * 60_000);
    expect(aws.count("RunTask")).toBe(launched);
    aws.assert.noUnfinishedTasks();
  });

  it("launches nothing for a run its successor cancelled meanwhile", async () => {
    const { aws, clock, host, until, store, job, first } = await frozenMidLaunch();
    await clock.runUntil(clock.sleep(30_000));
    const second = host({ store });
    const handle = second.runner.attach(job);
    await until(() => second.events.some((e) => e.name === "jobStarted"));
    handle.cancel("not needed any more");
    const result = await clock.runUntil(handle.result);
    expect(result.status).toBe("cancelled");
    const launched = aws.count("RunTask");

    // ECS answers at once now: the woken host's queue would drain before its next store call.
    aws.setLatency(0);
    first.resume();
    await until(() => false, 10 * 60_000);
    aws.assert.noUnfinishedTasks();
    expect(aws.count("RunTask")).toBe(launched);
    aws.assert.noDuplicateTasks();
  });
});

describe("a store that keeps failing while launches go on", () => {
  it("launches every task, asking the store to renew at most twice per poll interval", async () => {
    const { aws, clock, host } = world();
    aws.script({}, { runMs: 60_000 });
    // Launches of 20 s, ten at a time: a hundred tasks take over three minutes to launch, most of
    // them once the lease (15 s) has lapsed by the runner's clock.
    aws.setLatency((_service, action) => (action === "RunTask" ? 20_000 : 0));
    const memory = new MemoryJobStore();
    let renewals = 0;
    const failing: JobStore = {
      load: (key) => memory.load(key),
      save: (key, checkpoint, lease) => memory.save(key, checkpoint, lease),
      list: (jobId) => memory.list(jobId),
      delete: (key) => memory.delete(key),
      acquire: (key, owner, ttlMs, now) => memory.acquire(key, owner, ttlMs, now),
      release: (lease) => memory.release(lease),
      // The disk is full, the network down: every renewal fails, but not for a lost lease.
      renew: () => {
        renewals++;
        return Promise.reject(new Error("ENOSPC: no space left on device"));
      },
    };
    const first = host({ store: failing });
    const started = clock.now();
    const result = await clock.runUntil(first.runner.submit(durableJob({ taskCount: 100 })).result);
    expect(result.status).toBe("succeeded");
    expect(aws.count("RunTask")).toBe(100);
    const intervals = (clock.now() - started) / 5_000;
    expect(renewals).toBeLessThanOrEqual(2 * intervals + 2);
  });
});
