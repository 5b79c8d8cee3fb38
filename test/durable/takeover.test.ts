/**
 * A run changes hands: the owner that lost its lease lets go without touching the tasks, and
 * what attaching costs in ListTasks and DescribeTasks calls.
 */
import { describe, expect, it } from "vitest";
import {
  EcsBatchLeaseError,
  MemoryJobStore,
  type JobStore,
  type Lease,
  type RunKey,
} from "../../src/index.js";
import { deadOwner, durableJob, world } from "./harness.js";

/** A store whose renewals fail while `down` is set, as over a network that is gone for a while. */
class FlakyRenewals implements JobStore {
  down = false;
  readonly #inner: JobStore;
  constructor(inner: JobStore) {
    this.#inner = inner;
  }
  load(key: RunKey) {
    return this.#inner.load(key);
  }
  save(key: RunKey, checkpoint: string, lease: Lease) {
    return this.down
      ? Promise.reject(new Error("store unreachable"))
      : this.#inner.save(key, checkpoint, lease);
  }
  list(jobId: string) {
    return this.#inner.list(jobId);
  }
  delete(key: RunKey) {
    return this.#inner.delete(key);
  }
  acquire(key: RunKey, owner: string, ttlMs: number, now: number) {
    return this.#inner.acquire(key, owner, ttlMs, now);
  }
  renew(lease: Lease, ttlMs: number, now: number) {
    return this.down
      ? Promise.reject(new Error("store unreachable"))
      : this.#inner.renew(lease, ttlMs, now);
  }
  release(lease: Lease) {
    return this.#inner.release(lease);
  }
}

describe("a lease lost mid-run", () => {
  it("the old owner stops driving, stops no task, and rejects with LEASE_LOST; the new one finishes", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 10 * 60_000 });
    aws.script({ taskIndex: 2, attempt: 1 }, { exitCode: 1, runMs: 4 * 60_000 });
    const shared = new MemoryJobStore();
    const flaky = new FlakyRenewals(shared);
    const job = durableJob({ maxFailCount: 1 });
    const a = host({ store: flaky, owner: "worker-a" });
    const handle = a.runner.submit(job);
    const settledA = handle.result.then(
      (r) => ({ ok: true as const, r }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    await until(() => a.events.filter((e) => e.name === "taskStarted").length === 3);
    // worker-a cannot reach the store past its lease's time to live (three polls).
    flaky.down = true;
    await clock.runUntil(clock.sleep(30_000));
    const b = host({ store: shared, owner: "worker-b" });
    const attached = b.runner.attach(job, { runId: handle.runId });
    await until(() => b.events.some((e) => e.name === "jobStarted"));
    flaky.down = false;
    const lost = await clock.runUntil(settledA);
    expect(lost.ok).toBe(false);
    expect(lost.ok ? undefined : lost.error).toBeInstanceOf(EcsBatchLeaseError);
    expect(lost.ok ? undefined : lost.error).toMatchObject({
      code: "LEASE_LOST",
      owner: "worker-b",
    });
    // worker-a let go without a StopTask: the tasks are worker-b's now.
    expect(aws.count("StopTask")).toBe(0);
    expect(a.events.some((e) => e.name === "jobCompleted")).toBe(false);
    const result = await clock.runUntil(attached.result);
    expect(result.status).toBe("succeeded");
    expect(result.tasks.map((t) => t.attempts)).toEqual([1, 1, 2]);
    // The retry of task 2 was launched once, by whichever owner came to it first.
    expect(aws.count("RunTask")).toBe(4);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });
});

describe("the lease's renewals", () => {
  it("one lease-extending store call per poll: a poll that writes a change renews with it", async () => {
    const { aws, clock, host } = world();
    aws.script({}, { runMs: 60_000 });
    aws.script({ taskIndex: 1, attempt: 1 }, { exitCode: 1, runMs: 30_000 });
    const inner = new MemoryJobStore();
    const extended: { at: number; by: "renew" | "append" }[] = [];
    const store: JobStore = {
      load: (key) => inner.load(key),
      save: (key, text, lease) => inner.save(key, text, lease),
      list: (jobId) => inner.list(jobId),
      delete: (key) => inner.delete(key),
      acquire: (key, owner, ttlMs, now) => inner.acquire(key, owner, ttlMs, now),
      release: (lease) => inner.release(lease),
      renew: (lease, ttlMs, now) => {
        extended.push({ at: now, by: "renew" });
        return inner.renew(lease, ttlMs, now);
      },
      append: (key, change, lease, renewal) => {
        if (renewal !== undefined) extended.push({ at: renewal.now, by: "append" });
        return inner.append(key, change, lease, renewal);
      },
    };
    const h = host({ store });
    const result = await clock.runUntil(h.runner.submit(durableJob({ maxFailCount: 1 })).result);
    expect(result.status).toBe("succeeded");
    // Polls with a change to write and polls without both occurred, each extending the lease once.
    expect(new Set(extended.map((e) => e.by))).toEqual(new Set(["renew", "append"]));
    const gaps = extended.slice(1).map((e, i) => e.at - (extended[i]?.at ?? 0));
    expect(new Set(gaps)).toEqual(new Set([5000]));
  });
});

describe("what attaching costs", () => {
  const listAndDescribe = (aws: ReturnType<typeof world>["aws"]) =>
    aws.count("ListTasks") + aws.count("DescribeTasks");

  it("with a checkpoint: the run's task listing, and describes only of what the checkpoint does not hold", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const store = new MemoryJobStore();
    const job = durableJob({ taskCount: 1000, pollInterval: "10s" });
    const first = host({ store });
    first.runner.submit(job);
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 1000);
    await clock.runUntil(clock.sleep(30_000));
    first.kill();
    await clock.runUntil(clock.sleep(30_000));
    const second = host({ store });
    const before = listAndDescribe(aws);
    let atStart = Number.NaN;
    second.runner.on("jobStarted", () => {
      atStart = listAndDescribe(aws) - before;
    });
    const attached = second.runner.attach(job);
    await until(() => !Number.isNaN(atStart));
    // 1,000 running tasks: ListTasks RUNNING (10 pages) and STOPPED (1), nothing to describe.
    expect(atStart).toBe(11);
    expect(atStart).toBeLessThanOrEqual(2 * Math.ceil(1000 / 100));
    attached.cancel();
    await clock.runUntil(attached.result);
    aws.assert.noUnfinishedTasks();
  });

  it("from ECS alone: every task listed and described, 100 per call", async () => {
    const { aws, clock, host, until } = world();
    aws.script({}, { runMs: 60 * 60_000 });
    const job = durableJob({ taskCount: 1000, pollInterval: "10s" });
    const first = host();
    first.runner.submit(job);
    await until(() => first.events.filter((e) => e.name === "taskStarted").length === 1000);
    first.kill();
    const second = host();
    const before = listAndDescribe(aws);
    let atStart = Number.NaN;
    second.runner.on("jobStarted", () => {
      atStart = listAndDescribe(aws) - before;
    });
    const attached = second.runner.attach(job);
    await until(() => !Number.isNaN(atStart));
    // ListTasks RUNNING (10 pages), STOPPED (1, empty), DescribeTasks (10).
    expect(atStart).toBe(21);
    attached.cancel();
    await clock.runUntil(attached.result);
    aws.assert.noUnfinishedTasks();
  });
});

describe("waiting for a lease", () => {
  it("an attach that may wait takes the run over once the dead owner's lease lapses", async () => {
    const { aws, clock, host, store, killedAt } = await deadOwner();
    const impatient = host({ store, owner: "worker-b" });
    const refused = await clock.runUntil(
      impatient.runner.attach(durableJob(), { waitForLease: 2000 }).result.catch((e: unknown) => e),
    );
    expect(refused).toMatchObject({ code: "LEASE_HELD", owner: "worker-a" });
    const patient = host({ store, owner: "worker-c" });
    let tookOverAt = Number.NaN;
    patient.runner.on("jobStarted", () => {
      tookOverAt = clock.now();
    });
    const result = await clock.runUntil(
      patient.runner.attach(durableJob(), { waitForLease: 60_000 }).result,
    );
    expect(result.status).toBe("succeeded");
    // The lease lasts three poll intervals (15 s) from its last renewal, at most 5 s before the kill.
    expect(tookOverAt - killedAt).toBeGreaterThan(10_000);
    expect(tookOverAt - killedAt).toBeLessThanOrEqual(15_000 + 1100);
    expect(aws.count("RunTask")).toBe(3);
    aws.assert.noDuplicateTasks();
  });

  it("refuses a waitForLease that is not a duration in ms, before any call", async () => {
    const { aws, clock, host } = world();
    const h = host({ store: new MemoryJobStore() });
    const error = await clock.runUntil(
      h.runner.attach(durableJob(), { waitForLease: -1 }).result.catch((e: unknown) => e),
    );
    expect(error).toMatchObject({ code: "VALIDATION" });
    expect((error as Error).message).toContain("waitForLease");
    expect(aws.calls).toHaveLength(0);
  });
});

describe("an attach or a start that fails after taking the lease", () => {
  it("gives the lease back: the next attach, from another process, takes the run at once", async () => {
    const { aws, clock, host, store } = await deadOwner();
    await clock.runUntil(clock.sleep(20_000));
    // worker-b takes the lapsed lease, then cannot list the run's tasks.
    const healed = aws.inject({
      service: "ecs",
      action: "ListTasks",
      error: "AccessDeniedException",
    });
    const failed = host({ store, owner: "worker-b" });
    const error = await clock.runUntil(
      failed.runner.attach(durableJob()).result.catch((e: unknown) => e),
    );
    expect(error).toMatchObject({ name: "AccessDeniedException" });
    healed();
    const next = host({ store, owner: "worker-c" });
    const result = await clock.runUntil(next.runner.attach(durableJob()).result);
    expect(result.status).toBe("succeeded");
    expect(aws.count("RunTask")).toBe(3);
    aws.assert.noDuplicateTasks();
  });

  it("a new run whose first checkpoint cannot be saved launches nothing and holds no lease", async () => {
    const { aws, clock, host } = world();
    const shared = new MemoryJobStore();
    const flaky = new FlakyRenewals(shared);
    flaky.down = true;
    const h = host({ store: flaky, owner: "worker-a" });
    const handle = h.runner.submit(durableJob());
    const error = await clock.runUntil(handle.result.catch((e: unknown) => e));
    expect((error as Error).message).toContain("store unreachable");
    expect(aws.count("RunTask")).toBe(0);
    // The run's lease went back: another process may take it without waiting.
    const key = { jobId: "durable1", runId: handle.runId };
    await expect(shared.acquire(key, "worker-b", 15_000, clock.now())).resolves.toMatchObject({
      owner: "worker-b",
    });
  });
});
