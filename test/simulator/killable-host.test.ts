import { describe, expect, it } from "vitest";
import { ListTasksCommand } from "@aws-sdk/client-ecs";
import { EcsBatchRunner, MemoryJobStore } from "../../src/index.js";
import {
  createSimulatedAws,
  flushMicrotasks,
  killableHost,
  ManualClock,
} from "../../src/testing/index.js";
import { memoryLogger, template } from "../helpers/sim.js";

/** Whether `promise` has settled once every pending continuation ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await flushMicrotasks();
  return done;
}

describe("killableHost", () => {
  it("answers as the shared clock and clients do while the host lives", async () => {
    const clock = new ManualClock({ start: 1000 });
    const aws = createSimulatedAws({ clock });
    const host = killableHost(clock, aws);
    expect(host.clock.now()).toBe(1000);
    const sleeping = host.clock.sleep(50);
    await clock.advance(50);
    expect(await settled(sleeping)).toBe(true);
    const listed = host.clients.ecs.send(new ListTasksCommand({ cluster: "default" }));
    await clock.advance(0);
    await expect(listed).resolves.toMatchObject({ taskArns: [] });
    expect(host.killed).toBe(false);
  });

  it("pause() holds what the host waits for and sends nothing; resume() delivers it in order", async () => {
    const clock = new ManualClock({ start: 0 });
    const aws = createSimulatedAws({ clock, latency: 10 });
    const host = killableHost(clock, aws);
    const order: string[] = [];
    const timer = host.clock.sleep(100).then(() => order.push("timer"));
    const inFlight = host.clients.ecs
      .send(new ListTasksCommand({ cluster: "default" }))
      .then(() => order.push("answer"));
    host.pause();
    const later = host.clients.ecs.send(new ListTasksCommand({ cluster: "default" }));
    await clock.advance(1000);
    expect(await settled(timer)).toBe(false);
    expect(await settled(inFlight)).toBe(false);
    // A frozen process sends nothing: only the call made before the pause reached the account.
    expect(aws.count("ListTasks")).toBe(1);

    host.resume();
    await flushMicrotasks();
    expect(order).toEqual(["answer", "timer"]);
    await clock.advance(10);
    await expect(later).resolves.toMatchObject({ taskArns: [] });
    expect(aws.count("ListTasks")).toBe(2);
    expect(host.clock.now()).toBe(1010);
  });

  it("after kill() no timer fires and no call settles, even one already answered", async () => {
    const clock = new ManualClock({ start: 0 });
    const aws = createSimulatedAws({ clock, latency: 10 });
    const host = killableHost(clock, aws);
    const timer = host.clock.sleep(100);
    const inFlight = host.clients.ecs.send(new ListTasksCommand({ cluster: "default" }));
    host.kill();
    expect(host.killed).toBe(true);
    await clock.advance(1000);
    expect(await settled(timer)).toBe(false);
    expect(await settled(inFlight)).toBe(false);

    const later = host.clients.ecs.send(new ListTasksCommand({ cluster: "default" }));
    await clock.advance(1000);
    expect(await settled(later)).toBe(false);
    // The call made after the kill never reached the account; the one in flight did.
    expect(aws.count("ListTasks")).toBe(1);
    // The clock itself carries on for everyone else.
    const other = clock.sleep(10);
    await clock.advance(10);
    expect(await settled(other)).toBe(true);
  });

  it("after kill() the host's calls into a store never start, and those in flight never settle for it", async () => {
    const clock = new ManualClock({ start: 0 });
    const host = killableHost(clock, createSimulatedAws({ clock }));
    const shared = new MemoryJobStore();
    const store = host.killableStore(shared);
    const key = { jobId: "j", runId: "r" };
    const lease = await store.acquire(key, "host-a", 15_000, 0);
    const inFlight = store.renew(lease, 15_000, 1);
    host.kill();
    expect(await settled(inFlight)).toBe(false);
    const later = store.acquire({ jobId: "j", runId: "other" }, "host-a", 15_000, 2);
    expect(await settled(later)).toBe(false);
    // The renewal in flight reached the store; the acquire made after the kill never did.
    await expect(shared.acquire(key, "host-b", 15_000, 10_000)).rejects.toMatchObject({
      code: "LEASE_HELD",
      expiresAt: 15_001,
    });
    await expect(
      shared.acquire({ jobId: "j", runId: "other" }, "host-b", 15_000, 3),
    ).resolves.toMatchObject({ owner: "host-b" });
  });

  it("lets a crash test kill a host mid-job and attach from another", async () => {
    const clock = new ManualClock({ start: 0 });
    const aws = createSimulatedAws({ clock });
    aws.script({}, { runMs: 60_000 });
    const store = new MemoryJobStore();
    const job = {
      jobId: "crash-me",
      taskDefinition: { definition: template() },
      taskCount: 4,
      pollInterval: "5s",
      logs: { fetch: "none" as const },
    };
    const first = killableHost(clock, aws);
    const doomed = new EcsBatchRunner({ ...first, store, logger: memoryLogger() });
    const started: number[] = [];
    doomed.on("taskStarted", (e) => started.push(e.taskIndex));
    void doomed.submit(job, { runId: "r1" }).result;
    while (started.length < 4) await clock.advance(1000);
    first.kill();

    // Once the dead host's lease has lapsed, another host carries the run on to its end.
    await clock.advance(60_000);
    const second = killableHost(clock, aws);
    const heir = new EcsBatchRunner({ ...second, store, logger: memoryLogger() });
    const result = await clock.runUntil(heir.attach(job, { runId: "r1" }).result);
    expect(result.status).toBe("succeeded");
    expect(result.tasks.map((t) => t.attempts)).toEqual([1, 1, 1, 1]);
    expect(aws.count("RunTask")).toBe(4);
    aws.assert.noDuplicateTasks();
    aws.assert.noUnfinishedTasks();
  });
});
