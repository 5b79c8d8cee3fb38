/** The job stores: leases with fencing, and the file store's atomic writes (DESIGN 3.11). */
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileJobStore, MemoryJobStore, type JobStore } from "../../src/index.js";
import { parseCheckpoint } from "../../src/durable/checkpoint.js";
import { storeContract } from "../helpers/store-contract.js";

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
  storeContract(make);
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

describe("FileJobStore: the temporary file of a save killed midway", () => {
  it("is removed by the run's next save, or when the run is deleted; another run's stays", async () => {
    const dir = tempDir();
    const store = new FileJobStore(dir);
    const lease = await store.acquire(key, "w", 15_000, 0);
    await store.save(key, '{"seq":1}', lease);
    const left = join(dir, "job1", "run1.json.4242.k3j5.tmp");
    const otherRun = join(dir, "job1", "run10.json.4242.k3j5.tmp");
    writeFileSync(left, '{"seq":2,"cut sh');
    writeFileSync(otherRun, "{}");
    await store.save(key, '{"seq":3}', lease);
    expect(readdirSync(join(dir, "job1")).sort()).toEqual([
      "run1.json",
      "run1.lease.json",
      "run10.json.4242.k3j5.tmp",
    ]);
    writeFileSync(left, '{"seq":4,"cut sh');
    await store.delete(key);
    expect(readdirSync(join(dir, "job1"))).toEqual(["run10.json.4242.k3j5.tmp"]);
  });
});

describe("FileJobStore: a lock left by a process killed while holding it", () => {
  it.each([
    ["a lock directory", (path: string) => mkdirSync(path)],
    ["a lock file (earlier versions)", (path: string) => writeFileSync(path, "")],
  ])("%s older than 30 s is broken, and the lease taken", async (_kind, leave) => {
    const dir = tempDir();
    mkdirSync(join(dir, "job1"));
    const lock = join(dir, "job1", "run1.lock");
    leave(lock);
    const longAgo = new Date(Date.now() - 31_000);
    utimesSync(lock, longAgo, longAgo);
    const lease = await new FileJobStore(dir).acquire(key, "worker-b", 15_000, 1000);
    expect(lease.owner).toBe("worker-b");
    expect(readdirSync(join(dir, "job1"))).toEqual(["run1.lease.json"]);
  });
});

/** A file store holding run1's checkpoint `{"seq":1}` under worker-a's lease. */
async function savedRun() {
  const dir = tempDir();
  const store = new FileJobStore(dir);
  const lease = await store.acquire(key, "worker-a", 15_000, 1000);
  await store.save(key, '{"seq":1}', lease);
  return { dir, store, lease };
}

describe("FileJobStore: a change that cannot be appended", () => {
  it("is not written, and the call rejects; the lease it was to renew is renewed first", async () => {
    const { dir, store, lease } = await savedRun();
    // A directory where the changes file goes: appending to it fails.
    mkdirSync(join(dir, "job1", "run1.changes"));
    await expect(
      store.append(key, '{"seq":2}', lease, { ttlMs: 15_000, now: 14_000 }),
    ).rejects.toMatchObject({ code: "STORE_ERROR" });
    await expect(store.acquire(key, "worker-b", 15_000, 20_000)).rejects.toMatchObject({
      code: "LEASE_HELD",
      expiresAt: 29_000,
    });
    rmSync(join(dir, "job1", "run1.changes"), { recursive: true });
    expect(await store.load(key)).toBe('{"seq":1}');
  });
});

describe("FileJobStore: a change cut short", () => {
  it("ends its own line: the next change is read whole", async () => {
    const { dir, store, lease } = await savedRun();
    // What a full disk leaves of an append: the start of a line.
    appendFileSync(join(dir, "job1", "run1.changes"), '\n{"seq":2,"slo');
    await store.append(key, '{"seq":2,"slots":[]}', lease);
    expect((await store.load(key))?.split("\n")).toEqual([
      '{"seq":1}',
      '{"seq":2,"slo',
      '{"seq":2,"slots":[]}',
    ]);
  });
});

describe("a checkpoint with changes", () => {
  const base = {
    version: 1,
    jobId: "job1",
    runId: "run1",
    cluster: "default",
    taskDefinitionArn: "arn:aws:ecs:us-west-2:1:task-definition/f:1",
    fingerprint: {},
    startedAt: 1,
    deadline: 2,
    taskCount: 2,
    state: "running",
    slots: [0, 1].map((index) => ({
      index,
      taskName: `t-${index}`,
      phase: "pending",
      attempts: 0,
      applicationFailures: 0,
      launchFailures: 0,
      failedTaskArns: [],
      stopRequested: false,
    })),
    failedTaskArns: [],
    savedAt: 10,
    seq: 5,
  };
  const slot1 = { ...base.slots[1], phase: "running", attempts: 1, taskArn: "arn:task/1" };

  it("applies the changes newer than the checkpoint, in order, and skips older ones and a torn last line", () => {
    const text = [
      JSON.stringify(base),
      JSON.stringify({ seq: 4, savedAt: 4, slots: [{ ...slot1, attempts: 9 }] }),
      JSON.stringify({ seq: 6, savedAt: 11, failedTaskArns: ["arn:x"], slots: [slot1] }),
      '{"seq":7,"savedAt":12,"slots":[{"ind',
    ].join("\n");
    const checkpoint = parseCheckpoint(text, "in the test");
    expect(checkpoint.seq).toBe(6);
    expect(checkpoint.savedAt).toBe(11);
    expect(checkpoint.failedTaskArns).toEqual(["arn:x"]);
    expect(checkpoint.slots.map((s) => [s.phase, s.attempts])).toEqual([
      ["pending", 0],
      ["running", 1],
    ]);
  });

  it("puts back the fields a slot left out at their initial value, and adds each change's failed tasks in order", () => {
    const compact = {
      ...base,
      slots: [0, 1].map((index) => ({ index, phase: "pending", attempts: 0 })),
    };
    const text = [
      JSON.stringify({ ...compact, failedTaskArns: ["arn:a"] }),
      JSON.stringify({
        seq: 6,
        savedAt: 11,
        failedTaskArnsAdded: ["arn:b"],
        slots: [
          {
            index: 1,
            phase: "backoff",
            attempts: 1,
            failedTaskArns: ["arn:b"],
            applicationFailures: 1,
          },
        ],
      }),
      JSON.stringify({
        seq: 7,
        savedAt: 12,
        slots: [{ index: 0, phase: "running", attempts: 1, taskArn: "arn:c" }],
      }),
      JSON.stringify({ seq: 8, savedAt: 13, failedTaskArnsAdded: ["arn:c", "arn:d"], slots: [] }),
    ].join("\n");
    const checkpoint = parseCheckpoint(text, "in the test");
    expect(checkpoint.failedTaskArns).toEqual(["arn:a", "arn:b", "arn:c", "arn:d"]);
    expect(checkpoint.slots).toEqual([
      {
        index: 0,
        phase: "running",
        attempts: 1,
        applicationFailures: 0,
        launchFailures: 0,
        taskArn: "arn:c",
        failedTaskArns: [],
        stopRequested: false,
      },
      {
        index: 1,
        phase: "backoff",
        attempts: 1,
        applicationFailures: 1,
        launchFailures: 0,
        failedTaskArns: ["arn:b"],
        stopRequested: false,
      },
    ]);
  });

  it("stops at a change that does not follow on (read across a newer save): what it has is whole", () => {
    const text = [
      JSON.stringify(base),
      JSON.stringify({ seq: 6, savedAt: 11, slots: [slot1] }),
      JSON.stringify({ seq: 9, savedAt: 14, slots: [{ ...slot1, attempts: 3 }] }),
    ].join("\n");
    const checkpoint = parseCheckpoint(text, "in the test");
    expect(checkpoint.seq).toBe(6);
    expect(checkpoint.slots[1]?.attempts).toBe(1);
  });
});

describe("FileJobStore: the lease file, written in place", () => {
  it("keeps no byte of a longer record it replaces, and one length", async () => {
    const dir = tempDir();
    const store = new FileJobStore(dir);
    const path = join(dir, "job1", "run1.lease.json");
    const short = await store.acquire(key, "w", 15_000, 1000);
    // Every record is padded to one length, so no two writes ever leave each other's bytes.
    expect(readFileSync(path, "utf8")).toHaveLength(512);
    await store.release(short);
    // An owner name past that length (it cannot be one of ours) makes the file longer...
    const long = await store.acquire(key, `worker-${"x".repeat(600)}`, 15_000, 2000);
    const longLength = readFileSync(path, "utf8").length;
    expect(longLength).toBeGreaterThan(600);
    await store.release(long);
    // ...and a shorter record after it is padded to the file's length.
    await store.acquire(key, "w", 15_000, 3000);
    const text = readFileSync(path, "utf8");
    expect(text).toHaveLength(longLength);
    expect(JSON.parse(text)).toEqual({ owner: "w", expiresAt: 18_000, fence: 3 });
  });

  it("left empty by a process killed before its first record, is no lease", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "job1"));
    writeFileSync(join(dir, "job1", "run1.lease.json"), "");
    await expect(new FileJobStore(dir).acquire(key, "w", 15_000, 1000)).resolves.toMatchObject({
      owner: "w",
      fence: 1,
    });
  });

  it("removed under its holder (the run deleted): the holder's next append is refused", async () => {
    const { dir, store, lease } = await savedRun();
    await store.append(key, '{"seq":2}', lease, { ttlMs: 15_000, now: 2000 });
    await new FileJobStore(dir).delete(key);
    await expect(
      store.append(key, '{"seq":3}', lease, { ttlMs: 15_000, now: 3000 }),
    ).rejects.toMatchObject({
      code: "LEASE_LOST",
      owner: "nobody",
      message: expect.stringContaining("has no lease in the store any more") as unknown,
    });
  });

  it("replaced by a rename (as earlier versions wrote it): the holder reads the new one", async () => {
    const { dir, store, lease } = await savedRun();
    await store.renew(lease, 15_000, 2000);
    const path = join(dir, "job1", "run1.lease.json");
    writeFileSync(
      `${path}.tmp`,
      JSON.stringify({ owner: "worker-b", expiresAt: 99_000, fence: 7 }),
    );
    renameSync(`${path}.tmp`, path);
    await expect(store.renew(lease, 15_000, 3000)).rejects.toMatchObject({
      code: "LEASE_LOST",
      owner: "worker-b",
    });
  });
});
