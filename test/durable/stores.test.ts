/** The job stores: leases with fencing, and the file store's atomic writes (DESIGN 3.11). */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  EcsBatchLeaseError,
  FileJobStore,
  MemoryJobStore,
  type JobStore,
} from "../../src/index.js";

const key = { jobId: "job1", runId: "run1" };
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ecs-batch-store-"));
  dirs.push(dir);
  return dir;
}

const stores: [string, () => { a: JobStore; b: JobStore }][] = [
  [
    "MemoryJobStore",
    () => {
      const store = new MemoryJobStore();
      return { a: store, b: store };
    },
  ],
  [
    "FileJobStore (two instances on one directory, as two processes)",
    () => {
      const dir = tempDir();
      return { a: new FileJobStore(dir), b: new FileJobStore(dir) };
    },
  ],
];

describe.each(stores)("%s", (_name, make) => {
  it("grants one owner at a time, naming the holder and its expiry to the other", async () => {
    const { a, b } = make();
    const lease = await a.acquire(key, "worker-a", 15_000, 1000);
    expect(lease).toMatchObject({ owner: "worker-a", expiresAt: 16_000, fence: 1 });
    const refused = await b.acquire(key, "worker-b", 15_000, 2000).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(EcsBatchLeaseError);
    expect(refused).toMatchObject({ code: "LEASE_HELD", owner: "worker-a", expiresAt: 16_000 });
  });

  it("passes a lapsed lease on, and refuses the old owner's saves and renewals (fencing)", async () => {
    const { a, b } = make();
    const old = await a.acquire(key, "worker-a", 15_000, 1000);
    await a.save(key, '{"startedAt":1,"state":"running"}', old);
    const taken = await b.acquire(key, "worker-b", 15_000, 20_000);
    expect(taken.fence).toBe(2);
    const late = await a.save(key, '{"startedAt":1,"state":"late"}', old).catch((e: unknown) => e);
    expect(late).toMatchObject({ code: "LEASE_LOST", owner: "worker-b" });
    await expect(a.renew(old, 15_000, 20_001)).rejects.toMatchObject({ code: "LEASE_LOST" });
    expect(await b.load(key)).toBe('{"startedAt":1,"state":"running"}');
    await b.save(key, '{"startedAt":1,"state":"finished"}', taken);
    expect(await a.load(key)).toBe('{"startedAt":1,"state":"finished"}');
  });

  it("renews a lease it holds, and lists a job's runs", async () => {
    const { a, b } = make();
    const lease = await a.acquire(key, "worker-a", 15_000, 1000);
    const renewed = await a.renew(lease, 15_000, 10_000);
    expect(renewed.expiresAt).toBe(25_000);
    await expect(b.acquire(key, "worker-b", 15_000, 20_000)).rejects.toBeInstanceOf(
      EcsBatchLeaseError,
    );
    await a.save(key, '{"startedAt":42,"state":"running"}', renewed);
    expect(await b.list("job1")).toEqual([
      { jobId: "job1", runId: "run1", startedAt: 42, state: "running" },
    ]);
    expect(await b.list("other")).toEqual([]);
  });

  it("a released lease is free at once", async () => {
    const { a, b } = make();
    const lease = await a.acquire(key, "worker-a", 15_000, 1000);
    await a.release(lease);
    await expect(b.acquire(key, "worker-b", 15_000, 1001)).resolves.toMatchObject({ fence: 2 });
  });
});

describe("FileJobStore", () => {
  it("leaves no temporary or lock file behind, and the checkpoint whole", async () => {
    const dir = tempDir();
    const store = new FileJobStore(dir);
    const lease = await store.acquire(key, "w", 15_000, 0);
    const big = JSON.stringify({ startedAt: 1, state: "running", pad: "x".repeat(1_000_000) });
    await Promise.all([store.save(key, big, lease), store.renew(lease, 15_000, 1)]);
    expect(readdirSync(join(dir, "job1")).sort()).toEqual(["run1.json", "run1.lease.json"]);
    expect(readFileSync(join(dir, "job1", "run1.json"), "utf8")).toBe(big);
  });
});
