/**
 * `DynamoDbJobStore` at the request level: what it asks DynamoDB for (the lease's conditions,
 * the fencing of saves, compression, the time to live) and how it reads DynamoDB's refusals.
 * Its behaviour against a real DynamoDB API is in test/interop/dynamodb.test.ts (moto).
 */
import { randomBytes } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type QueryCommandInput,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { EcsBatchLeaseError, EcsBatchStoreError } from "../../src/index.js";
import { DynamoDbJobStore, INLINE_BYTES } from "../../src/dynamodb/store.js";

const key = { jobId: "job1", runId: "run1" };
const lease = { key, owner: "worker-a", expiresAt: 60_000, fence: 3 };

function refused(): Error {
  return Object.assign(new Error("The conditional request failed"), {
    name: "ConditionalCheckFailedException",
    $fault: "client",
  });
}

function store() {
  const client = new DynamoDBClient({ region: "us-west-2" });
  const db = mockClient(client);
  return { db, store: new DynamoDbJobStore({ client, tableName: "runs", retainMs: 1000_000 }) };
}

describe("DynamoDbJobStore requests", () => {
  it("acquires with one conditional update that grows the fence", async () => {
    const { db, store: s } = store();
    db.on(UpdateItemCommand).resolves({ Attributes: { fence: { N: "4" } } });
    const got = await s.acquire(key, "worker-a", 15_000, 100_000);
    expect(got).toEqual({ key, owner: "worker-a", expiresAt: 115_000, fence: 4 });
    const input = db.commandCalls(UpdateItemCommand)[0]?.args[0].input as UpdateItemCommandInput;
    expect(input.Key).toEqual({ pk: { S: "job#job1" }, sk: { S: "run#run1" } });
    expect(input.ConditionExpression).toBe(
      "attribute_not_exists(leaseOwner) OR leaseOwner = :owner OR leaseExpiresAt <= :now",
    );
    expect(input.UpdateExpression).toContain("fence = if_not_exists(fence, :zero) + :one");
    expect(input.ExpressionAttributeValues?.[":now"]).toEqual({ N: "100000" });
  });

  it("a refused acquire names the holder it read back", async () => {
    const { db, store: s } = store();
    db.on(UpdateItemCommand).rejects(refused());
    db.on(GetItemCommand).resolves({
      Item: { leaseOwner: { S: "worker-b" }, leaseExpiresAt: { N: "130000" }, fence: { N: "7" } },
    });
    const error = await s.acquire(key, "worker-a", 15_000, 100_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchLeaseError);
    expect(error).toMatchObject({ code: "LEASE_HELD", owner: "worker-b", expiresAt: 130_000 });
  });

  it("saves a small checkpoint compressed in the run's item, fenced by owner and counter", async () => {
    const { db, store: s } = store();
    db.on(UpdateItemCommand).resolves({});
    const text = JSON.stringify({ startedAt: 5, state: "running", slots: [] });
    await s.save(key, text, lease);
    expect(db.commandCalls(PutItemCommand)).toHaveLength(0);
    const input = db.commandCalls(UpdateItemCommand)[0]?.args[0].input as UpdateItemCommandInput;
    expect(input.ConditionExpression).toBe("leaseOwner = :owner AND fence = :fence");
    const values = input.ExpressionAttributeValues ?? {};
    expect(values[":owner"]).toEqual({ S: "worker-a" });
    expect(values[":fence"]).toEqual({ N: "3" });
    expect(values[":state"]).toEqual({ S: "running" });
    expect(values[":startedAt"]).toEqual({ N: "5" });
    expect(gunzipSync(values[":body"]?.B as Uint8Array).toString("utf8")).toBe(text);
    // Time to live: the lease's expiry plus the retention, in seconds.
    expect(values[":ttl"]).toEqual({ N: String((60_000 + 1000_000) / 1000) });
  });

  it("writes a large checkpoint's parts before the item that names them, and none on refusal", async () => {
    const { db, store: s } = store();
    db.on(PutItemCommand).resolves({});
    db.on(UpdateItemCommand).rejects(refused());
    db.on(GetItemCommand).resolves({
      Item: { leaseOwner: { S: "worker-b" }, leaseExpiresAt: { N: "1" }, fence: { N: "4" } },
    });
    // Random text does not compress: several parts.
    const noise = randomBytes(3 * INLINE_BYTES).toString("base64");
    const error = await s
      .save(key, JSON.stringify({ startedAt: 1, state: "running", noise }), lease)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "LEASE_LOST", owner: "worker-b" });
    const puts = db.commandCalls(PutItemCommand).map((c) => c.args[0].input.Item?.sk?.S);
    expect(puts.length).toBeGreaterThan(0);
    // The refused save's parts were deleted again.
    const deleted = db
      .calls()
      .filter((c) => c.args[0].constructor.name === "DeleteItemCommand")
      .map((c) => (c.args[0].input as { Key: { sk: { S: string } } }).Key.sk.S);
    expect(deleted.sort()).toEqual([...puts].sort());
  });

  it("appends a change: its item first, then one update fenced by the lease and the checkpoint's generation", async () => {
    const { db, store: s } = store();
    db.on(UpdateItemCommand).resolves({});
    db.on(PutItemCommand).resolves({});
    await s.save(key, JSON.stringify({ startedAt: 5, state: "running", slots: [] }), lease);
    const saved = db.commandCalls(UpdateItemCommand)[0]?.args[0].input as UpdateItemCommandInput;
    const gen = saved.ExpressionAttributeValues?.[":gen"]?.S as string;
    // A save starts the count of changes afresh.
    expect(saved.UpdateExpression).toContain("changes = :zero, changeWrites = :none");
    db.resetHistory();

    await s.append(key, '{"seq":2}', lease);
    await s.append(key, '{"seq":3}', lease, { ttlMs: 15_000, now: 50_000 });
    const order = db.calls().map((c) => c.args[0].constructor.name);
    expect(order).toEqual([
      "PutItemCommand",
      "UpdateItemCommand",
      "PutItemCommand",
      "UpdateItemCommand",
    ]);
    const [first, second] = db.commandCalls(PutItemCommand).map((c) => c.args[0].input.Item);
    expect(first?.sk?.S).toMatch(
      new RegExp(`^change#run1#${gen.replace(".", "\\.")}#00000001#3\\.\\d+#0000$`),
    );
    expect(second?.sk?.S).toMatch(/#00000002#3\.\d+#0000$/);
    expect(gunzipSync(first?.body?.B as Uint8Array).toString("utf8")).toBe('{"seq":2}');
    expect(first?.of).toEqual({ N: "1" });
    const [one, two] = db.commandCalls(UpdateItemCommand).map((c) => c.args[0].input);
    expect(one?.ConditionExpression).toBe("leaseOwner = :owner AND fence = :fence AND gen = :gen");
    expect(one?.ExpressionAttributeValues?.[":gen"]).toEqual({ S: gen });
    expect(one?.ExpressionAttributeValues?.[":n"]).toEqual({ N: "1" });
    // The first change starts the map of writes; each names the write whose items it counts in.
    expect(one?.UpdateExpression).toBe("SET changes = :n, changeWrites = :write, #ttl = :ttl");
    const firstWrite = first?.sk?.S?.split("#")[4];
    expect(one?.ExpressionAttributeValues?.[":write"]).toEqual({ M: { "1": { S: firstWrite } } });
    expect(two?.UpdateExpression).toBe(
      "SET changes = :n, changeWrites.#n = :write, #ttl = :ttl, leaseExpiresAt = :expires",
    );
    expect(two?.ExpressionAttributeNames?.["#n"]).toBe("2");
    // The renewal: until now + ttl, as renew would.
    expect(two?.ExpressionAttributeValues?.[":expires"]).toEqual({ N: "65000" });
    expect(s.appends).toBe(2);
  });

  it("reads a run saved before changes existed, and appends to it", async () => {
    const { db, store: s } = store();
    const text = JSON.stringify({ startedAt: 5, state: "running", slots: [] });
    // An item as an earlier version saved it: no count of changes, no map of their writes.
    db.on(GetItemCommand).resolves({
      Item: { gen: { S: "3.1" }, parts: { N: "0" }, body: { B: gzipSync(text) } },
    });
    db.on(PutItemCommand).resolves({});
    db.on(UpdateItemCommand).resolves({});
    expect(await s.load(key)).toBe(text);
    await s.append(key, '{"seq":2}', lease);
    const input = db.commandCalls(UpdateItemCommand)[0]?.args[0].input as UpdateItemCommandInput;
    // The first change starts the map of writes the item did not have.
    expect(input.UpdateExpression).toBe("SET changes = :n, changeWrites = :write, #ttl = :ttl");
    expect(input.ExpressionAttributeValues?.[":gen"]).toEqual({ S: "3.1" });
  });

  it("a refused append deletes its item and reports the lease lost to its holder", async () => {
    const { db, store: s } = store();
    db.on(UpdateItemCommand).resolvesOnce({}).rejects(refused());
    db.on(PutItemCommand).resolves({});
    db.on(GetItemCommand).resolves({
      Item: {
        leaseOwner: { S: "worker-b" },
        leaseExpiresAt: { N: "90000" },
        fence: { N: "4" },
        gen: { S: "4.1" },
      },
    });
    await s.save(key, JSON.stringify({ startedAt: 5, state: "running" }), lease);
    const error = await s.append(key, '{"seq":2}', lease).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchLeaseError);
    expect(error).toMatchObject({ code: "LEASE_LOST", owner: "worker-b", expiresAt: 90_000 });
    const put = db.commandCalls(PutItemCommand)[0]?.args[0].input.Item?.sk?.S;
    const deleted = db.commandCalls(DeleteItemCommand).map((c) => c.args[0].input.Key?.sk?.S);
    expect(deleted).toEqual([put]);
  });

  it("an append refused while the lease is still its own follows the checkpoint that landed", async () => {
    const { db, store: s } = store();
    db.on(PutItemCommand).resolves({});
    // The save's answer is lost, though the table took it (generation 3.9 now).
    db.on(UpdateItemCommand)
      .resolvesOnce({})
      .rejectsOnce(new Error("socket hang up"))
      .rejectsOnce(refused())
      .resolves({});
    db.on(GetItemCommand).resolves({
      Item: {
        leaseOwner: { S: "worker-a" },
        leaseExpiresAt: { N: "60000" },
        fence: { N: "3" },
        gen: { S: "3.9" },
        parts: { N: "0" },
        changes: { N: "0" },
      },
    });
    await s.save(key, JSON.stringify({ startedAt: 5, state: "running" }), lease);
    await expect(
      s.save(key, JSON.stringify({ startedAt: 5, state: "running" }), lease),
    ).rejects.toBeInstanceOf(EcsBatchStoreError);
    const error = await s.append(key, '{"seq":3}', lease).catch((e: unknown) => e);
    // Not a lost lease: this process still drives the run, and writes the change again.
    expect(error).toBeInstanceOf(EcsBatchStoreError);
    expect(error).not.toBeInstanceOf(EcsBatchLeaseError);
    expect((error as Error).message).toContain("is newer than this store knew");
    await s.append(key, '{"seq":3}', lease);
    const last = db.commandCalls(UpdateItemCommand).at(-1)?.args[0].input as UpdateItemCommandInput;
    expect(last.ExpressionAttributeValues?.[":gen"]).toEqual({ S: "3.9" });
  });

  it("deletes a generation's items sixteen at a time, not one after another", async () => {
    const { db, store: s } = store();
    const changes = Array.from(
      { length: 40 },
      (_, i) => `change#run1#3.1#${String(i + 1).padStart(8, "0")}#3.2#0000`,
    );
    db.on(QueryCommand).callsFake((input: QueryCommandInput) => ({
      Items: input.ExpressionAttributeValues?.[":prefix"]?.S?.startsWith("change#")
        ? changes.map((sk) => ({ sk: { S: sk } }))
        : [],
    }));
    let inFlight = 0;
    let most = 0;
    db.on(DeleteItemCommand).callsFake(async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return {};
    });
    await s.delete(key);
    const deleted = db.commandCalls(DeleteItemCommand).map((c) => c.args[0].input.Key?.sk?.S);
    // Every change item, then the run's own item last.
    expect(deleted.slice(0, -1).sort()).toEqual([...changes].sort());
    expect(deleted.at(-1)).toBe("run#run1");
    expect(most).toBe(16);
  });

  it("keeps the parts of a save whose answer was lost: the table may have taken it", async () => {
    const { db, store: s } = store();
    db.on(PutItemCommand).resolves({});
    db.on(UpdateItemCommand).rejects(new Error("socket hang up"));
    const noise = randomBytes(3 * INLINE_BYTES).toString("base64");
    await expect(
      s.save(key, JSON.stringify({ startedAt: 1, state: "running", noise }), lease),
    ).rejects.toBeInstanceOf(EcsBatchStoreError);
    expect(db.commandCalls(PutItemCommand).length).toBeGreaterThan(0);
    expect(db.commandCalls(DeleteItemCommand)).toHaveLength(0);
  });

  it("any other DynamoDB failure is a store error naming the call and the table", async () => {
    const { db, store: s } = store();
    db.on(GetItemCommand).rejects(
      Object.assign(new Error("Requested resource not found"), {
        name: "ResourceNotFoundException",
      }),
    );
    const error = await s.load(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchStoreError);
    expect((error as Error).message).toBe(
      "DynamoDB GetItem on table runs failed: ResourceNotFoundException: Requested resource not found",
    );
  });
});
