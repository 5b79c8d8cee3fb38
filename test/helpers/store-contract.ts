/**
 * What every \`JobStore\` must do, whatever it keeps its records in: one owner at a time, fencing
 * of an owner that lost its lease, renewals, listing, release, and changes appended to a
 * checkpoint. \`make\` gives two handles on one store (two instances where the store is shared
 * between processes).
 */
import { expect, it } from "vitest";
import {
  EcsBatchLeaseError,
  type JobStore,
  type Lease,
  type LeaseRenewal,
} from "../../src/index.js";

const key = { jobId: "job1", runId: "run1" };

/** Two handles on one store. */
export interface StorePair {
  a: JobStore;
  b: JobStore;
}

export function storeContract(make: () => StorePair | Promise<StorePair>): void {
  it("grants one owner at a time, naming the holder and its expiry to the other", async () => {
    const { a, b } = await make();
    const lease = await a.acquire(key, "worker-a", 15_000, 1000);
    expect(lease).toMatchObject({ owner: "worker-a", expiresAt: 16_000, fence: 1 });
    const refused = await b.acquire(key, "worker-b", 15_000, 2000).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(EcsBatchLeaseError);
    expect(refused).toMatchObject({ code: "LEASE_HELD", owner: "worker-a", expiresAt: 16_000 });
  });

  it("passes a lapsed lease on, and refuses the old owner's saves and renewals (fencing)", async () => {
    const { a, b } = await make();
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
    expect((late as Error).message).toContain("was taken over by worker-b (lease until");
    // Given back by its new owner: the old one is told so, not shown an expiry of 1970.
    await b.release(taken);
    const after = await a.renew(old, 15_000, 20_002).catch((e: unknown) => e);
    expect(after).toMatchObject({ code: "LEASE_LOST", owner: "worker-b" });
    expect((after as Error).message).toContain(
      "was taken over by worker-b, which has since given it back",
    );
  });

  it("renews a lease it holds, and lists a job's runs", async () => {
    const { a, b } = await make();
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
    const { a, b } = await make();
    const lease = await a.acquire(key, "worker-a", 15_000, 1000);
    await a.release(lease);
    await expect(b.acquire(key, "worker-b", 15_000, 1001)).resolves.toMatchObject({ fence: 2 });
  });

  it("loads the checkpoint then its changes; a save starts afresh; a lost lease appends nothing", async () => {
    const { a, b } = await make();
    const lease = await a.acquire(key, "worker-a", 15_000, 1000);
    await a.save(key, '{"seq":1}', lease);
    await append(a, '{"seq":2}', lease);
    await append(a, '{"seq":3}', lease);
    expect(await b.load(key)).toBe('{"seq":1}\n{"seq":2}\n{"seq":3}');
    await a.save(key, '{"seq":4}', lease);
    expect(await b.load(key)).toBe('{"seq":4}');
    const taken = await b.acquire(key, "worker-b", 15_000, 20_000);
    await expect(append(a, '{"seq":5}', lease)).rejects.toMatchObject({
      code: "LEASE_LOST",
      owner: "worker-b",
    });
    await append(b, '{"seq":5}', taken);
    expect(await a.load(key)).toBe('{"seq":4}\n{"seq":5}');
  });

  it("lists a run finished once a change says so", async () => {
    const { a, b } = await make();
    const lease = await a.acquire(key, "worker-a", 15_000, 1000);
    await a.save(key, '{"startedAt":42,"state":"running"}', lease);
    await append(a, '{"seq":2,"state":"running"}', lease);
    expect(await b.list("job1")).toEqual([
      { jobId: "job1", runId: "run1", startedAt: 42, state: "running" },
    ]);
    await append(a, '{"seq":3,"state":"finished","slots":[]}', lease);
    expect(await b.list("job1")).toEqual([
      { jobId: "job1", runId: "run1", startedAt: 42, state: "finished" },
    ]);
  });

  it("a run deleted under its owner: its lease is lost to nobody, and can be taken afresh", async () => {
    const { a, b } = await make();
    const lease = await a.acquire(key, "worker-a", 15_000, 1000);
    await a.save(key, '{"seq":1}', lease);
    await append(a, '{"seq":2}', lease);
    await b.delete(key);
    await expect(a.renew(lease, 15_000, 2000)).rejects.toMatchObject({
      code: "LEASE_LOST",
      owner: "nobody",
    });
    await expect(append(a, '{"seq":3}', lease)).rejects.toMatchObject({
      code: "LEASE_LOST",
      owner: "nobody",
    });
    expect(await b.load(key)).toBeUndefined();
    const again = await a.acquire(key, "worker-a", 15_000, 3000);
    await a.save(key, '{"seq":3}', again);
    await append(a, '{"seq":4}', again);
    expect(await b.load(key)).toBe('{"seq":3}\n{"seq":4}');
  });

  it("renews the lease with a change when asked, as renew would", async () => {
    const { a, b } = await make();
    const lease = await a.acquire(key, "worker-a", 15_000, 1000);
    await a.save(key, '{"seq":1}', lease);
    await append(a, '{"seq":2}', lease, { ttlMs: 15_000, now: 14_000 });
    // Held until 29,000 now, not 16,000: another owner is refused at 20,000.
    await expect(b.acquire(key, "worker-b", 15_000, 20_000)).rejects.toMatchObject({
      code: "LEASE_HELD",
      owner: "worker-a",
      expiresAt: 29_000,
    });
    expect(await b.load(key)).toBe('{"seq":1}\n{"seq":2}');
  });
}

/** `store.append`, which every store of the contract has. */
function append(
  store: JobStore,
  change: string,
  lease: Lease,
  renewal?: LeaseRenewal,
): Promise<void> {
  if (store.append === undefined) throw new Error("the store has no append");
  return store.append(key, change, lease, renewal);
}
