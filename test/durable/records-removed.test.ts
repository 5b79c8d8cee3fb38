/**
 * A run's records removed from its store while a process drives it (a state directory cleaned
 * up, an item deleted by hand): the process takes its lease again and carries on, rather than
 * leave its tasks running unwatched. Only a process whose lease had lapsed lets go, since
 * another may have carried the run on meanwhile.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileJobStore, MemoryJobStore, parseCheckpoint, type JobStore } from "../../src/index.js";
import { memoryLogger } from "../helpers/sim.js";
import { durableJob, world } from "./harness.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A host driving three ten-minute tasks, every one started. */
async function drivenRun(store: JobStore) {
  const w = world();
  w.aws.script({}, { runMs: 10 * 60_000 });
  const logger = memoryLogger();
  const host = w.host({ store, owner: "worker-a", logger });
  const handle = host.runner.submit(durableJob());
  await w.until(() => host.events.filter((e) => e.name === "taskStarted").length === 3);
  return { ...w, host, handle, logger, key: { jobId: "durable1", runId: handle.runId } };
}

describe("a run whose records are removed from its store while it runs", () => {
  it.each([
    [
      "a memory store (the run deleted)",
      () => {
        const store = new MemoryJobStore();
        return { store, remove: (key: { jobId: string; runId: string }) => store.delete(key) };
      },
    ],
    [
      "a file store (its directory removed)",
      () => {
        const dir = mkdtempSync(join(tmpdir(), "ecs-batch-removed-"));
        dirs.push(dir);
        return {
          store: new FileJobStore(dir),
          remove: () => {
            rmSync(dir, { recursive: true, force: true });
            return Promise.resolve();
          },
        };
      },
    ],
  ])(
    "%s: the process takes its lease again, writes the run anew, and finishes it",
    async (_, make) => {
      const { store, remove } = make();
      const { aws, clock, handle, logger, key } = await drivenRun(store);
      await remove(key);
      const result = await clock.runUntil(handle.result);

      expect(result.status).toBe("succeeded");
      expect(aws.count("RunTask")).toBe(3);
      expect(aws.count("StopTask")).toBe(0);
      expect(logger.lines).toContainEqual(
        expect.objectContaining({
          level: "warn",
          message: expect.stringContaining("took the lease again") as unknown,
        }),
      );
      const text = await store.load(key);
      expect(text).toBeDefined();
      const checkpoint = parseCheckpoint(text ?? "", "in the test");
      expect(checkpoint.state).toBe("finished");
      expect(checkpoint.slots.map((s) => s.phase)).toEqual(["succeeded", "succeeded", "succeeded"]);
      // The lease was given back at the end, as after any run.
      await expect(store.acquire(key, "worker-b", 15_000, clock.now())).resolves.toMatchObject({
        owner: "worker-b",
      });
    },
  );

  it("a process frozen past its lease meanwhile lets go without touching the tasks", async () => {
    const store = new MemoryJobStore();
    const { aws, clock, host, handle, key } = await drivenRun(store);
    const settled = handle.result.then(
      () => undefined,
      (error: unknown) => error,
    );
    host.pause();
    await clock.runUntil(clock.sleep(60_000));
    await store.delete(key);
    host.resume();
    const error = await clock.runUntil(settled);

    expect(error).toMatchObject({ code: "LEASE_LOST", owner: "nobody" });
    expect(aws.count("RunTask")).toBe(3);
    expect(aws.count("StopTask")).toBe(0);
    expect(await store.load(key)).toBeUndefined();
  });
});
