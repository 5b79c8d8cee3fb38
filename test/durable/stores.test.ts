/** The job stores: leases with fencing, and the file store's atomic writes (DESIGN 3.11). */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileJobStore, MemoryJobStore, type JobStore } from "../../src/index.js";
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
