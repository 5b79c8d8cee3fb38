/**
 * `DynamoDbJobStore`: checkpoints and leases in one DynamoDB table, for runs that any of many
 * hosts may carry on. DynamoDB's conditional writes are the coordination: the lease is three
 * attributes of the run's item (owner, expiry, a fencing counter that grows on every acquire),
 * and every save is conditional on the saver's owner and fence still being the item's, so an
 * owner that paused past its lease and wakes up late is refused instead of overwriting its
 * successor.
 *
 * Checkpoints are always gzip-compressed (a run's JSON repeats the same keys for every slot:
 * 10,000 slots, 2.8 MB of JSON, shrink to about 270 KB). One that compresses to `INLINE_BYTES` or
 * less lives in the run's item: a save is one conditional UpdateItem. A larger one is split into
 * parts of at most `PART_BYTES`, each an item of its own keyed by a generation that is new on
 * every save: the parts are written first, then the run's item is switched to their generation
 * (the conditional write), then the previous generation's parts are deleted. A reader never
 * mixes two checkpoints: it reads the run's item, then that generation's parts, and starts again
 * if a newer save removed them meanwhile. Parts a crash leaves behind expire with the TTL.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type GetItemCommandOutput,
  type QueryCommandOutput,
  type UpdateItemCommandOutput,
} from "@aws-sdk/client-dynamodb";
import { awsErrorMessage, awsErrorName, type AwsClient } from "../aws.js";
import {
  EcsBatchLeaseError,
  EcsBatchStoreError,
  type JobStore,
  type Lease,
  type LeaseRecord,
  type RunKey,
  type StoredRunInfo,
} from "../durable/store.js";
import { infoOf } from "../durable/memory-store.js";

/**
 * The largest part of a checkpoint in one item. DynamoDB's limit is 400 KB of raw bytes; moto
 * counts a binary attribute at its base64 length, and 300,000 bytes (400,000 in base64) fits
 * under the limit either way, with room for the item's keys.
 */
export const PART_BYTES = 300_000;
/**
 * The largest compressed checkpoint kept in the run's item itself. Small enough that an update
 * of the item stays far from the limit whatever it held before (moto counts the old value and
 * the new one together).
 */
export const INLINE_BYTES = 100_000;
/** How long items are kept after their last write unless told otherwise: 30 days. */
const DEFAULT_RETAIN_MS = 30 * 24 * 3_600_000;
/** Attempts at reading a checkpoint whose parts a concurrent save replaced. */
const LOAD_ATTEMPTS = 3;

/** How to reach the table. */
export interface DynamoDbJobStoreOptions {
  /** A DynamoDB client (`new DynamoDBClient({...})`), or anything with its `send`. */
  readonly client: AwsClient;
  /** The table: partition key `pk` and sort key `sk`, both strings (see `jobStoreTable`). */
  readonly tableName: string;
  /**
   * How long a run's items are kept after their last write, in ms, through the table's TTL
   * attribute `ttl` (seconds since epoch). A run being driven is written every poll, so only
   * finished or abandoned runs expire. Default 30 days.
   */
  readonly retainMs?: number;
}

/** The attribute DynamoDB's time to live reads: enable TTL on it. */
export const TTL_ATTRIBUTE = "ttl";

/**
 * The table's definition, for `CreateTableCommand` (on-demand capacity). Enable time to live on
 * `TTL_ATTRIBUTE` afterwards (`UpdateTimeToLiveCommand`) so finished runs are removed.
 */
export function jobStoreTable(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: "pk", AttributeType: "S" },
      { AttributeName: "sk", AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ],
    BillingMode: "PAY_PER_REQUEST",
  };
}

/** A `JobStore` in a DynamoDB table (many hosts). */
export class DynamoDbJobStore implements JobStore {
  readonly #client: AwsClient;
  readonly #table: string;
  readonly #retainMs: number;
  /** Each run's current generation and its count of parts, as this store last wrote or read it. */
  readonly #parts = new Map<string, { gen: string; count: number }>();
  #saveSeq = 0;
  /** Checkpoints saved, for tests and benchmarks. */
  saves = 0;

  constructor(options: DynamoDbJobStoreOptions) {
    if (typeof options.tableName !== "string" || options.tableName === "") {
      throw new EcsBatchStoreError(
        "STORE_ERROR",
        "DynamoDbJobStore needs tableName: the table made from jobStoreTable(name)",
      );
    }
    this.#client = options.client;
    this.#table = options.tableName;
    this.#retainMs = options.retainMs ?? DEFAULT_RETAIN_MS;
  }

  async load(key: RunKey): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      const out = await this.#send<GetItemCommandOutput>(
        "GetItem",
        new GetItemCommand({ TableName: this.#table, Key: runKey(key), ConsistentRead: true }),
      );
      const item = out.Item;
      // An item with a lease and no checkpoint yet (acquired, then the process died).
      if (item?.gen?.S === undefined) return undefined;
      const gen = item.gen.S;
      const count = Number(item.parts?.N ?? "0");
      this.#parts.set(id(key), { gen, count });
      const inline = item.body?.B;
      if (inline !== undefined) return gunzipSync(inline).toString("utf8");
      const found = await this.#queryAll(key.jobId, partPrefix(key.runId, gen), "sk, body");
      const byIndex = new Map(found.map((p) => [p.sk?.S, p.body?.B]));
      const parts: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const part = byIndex.get(partKey(key.runId, gen, i));
        if (part !== undefined) parts.push(part);
      }
      if (parts.length === count) return gunzipSync(Buffer.concat(parts)).toString("utf8");
      // A newer save replaced the parts between the two reads: read the run's item again.
      if (attempt >= LOAD_ATTEMPTS) {
        throw new EcsBatchStoreError(
          "STORE_ERROR",
          `the checkpoint of run ${key.runId} of job ${key.jobId} in table ${this.#table} misses parts (${parts.length} of ${count} found)`,
        );
      }
    }
  }

  async save(key: RunKey, checkpoint: string, lease: Lease): Promise<void> {
    const info = infoOf(key, checkpoint);
    const compressed = gzipSync(checkpoint);
    const inline = compressed.length <= INLINE_BYTES;
    const gen = `${lease.fence}.${++this.#saveSeq}`;
    const ttl = { N: String(Math.ceil((lease.expiresAt + this.#retainMs) / 1000)) };
    const count = inline ? 0 : Math.ceil(compressed.length / PART_BYTES);
    // The parts first: invisible until the run's item names their generation.
    for (let i = 0; i < count; i++) {
      await this.#send(
        "PutItem",
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            pk: { S: jobPk(key.jobId) },
            sk: { S: partKey(key.runId, gen, i) },
            body: { B: compressed.subarray(i * PART_BYTES, (i + 1) * PART_BYTES) },
            [TTL_ATTRIBUTE]: ttl,
          },
        }),
      );
    }
    const values: Record<string, AttributeValue> = {
      ":gen": { S: gen },
      ":parts": { N: String(count) },
      ":startedAt": { N: String(info.startedAt) },
      ":state": { S: info.state },
      ":ttl": ttl,
      ":owner": { S: lease.owner },
      ":fence": { N: String(lease.fence) },
    };
    if (inline) values[":body"] = { B: compressed };
    try {
      await this.#send(
        "UpdateItem",
        new UpdateItemCommand({
          TableName: this.#table,
          Key: runKey(key),
          UpdateExpression: `SET gen = :gen, parts = :parts, startedAt = :startedAt, #state = :state, #ttl = :ttl${inline ? ", body = :body" : " REMOVE body"}`,
          // The fencing: only the current owner's save lands.
          ConditionExpression: "leaseOwner = :owner AND fence = :fence",
          ExpressionAttributeNames: { "#state": "state", "#ttl": TTL_ATTRIBUTE },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      await this.#deleteParts(key, gen, count);
      if (isConditionFailure(error)) throw await this.#lost(key);
      throw error;
    }
    const previous = this.#parts.get(id(key));
    this.#parts.set(id(key), { gen, count });
    this.saves++;
    // The previous generation's parts: a failure here leaves them to the TTL.
    if (previous !== undefined && previous.gen !== gen) {
      await this.#deleteParts(key, previous.gen, previous.count).catch(() => undefined);
    }
  }

  async #deleteParts(key: RunKey, gen: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await this.#send(
        "DeleteItem",
        new DeleteItemCommand({
          TableName: this.#table,
          Key: { pk: { S: jobPk(key.jobId) }, sk: { S: partKey(key.runId, gen, i) } },
        }),
      );
    }
  }

  async list(jobId: string): Promise<StoredRunInfo[]> {
    const items = await this.#queryAll(jobId, "run#", "runId, startedAt, #state", {
      "#state": "state",
    });
    const runs: StoredRunInfo[] = [];
    for (const item of items) {
      const runId = item.runId?.S;
      // An item with a lease and no checkpoint yet (an acquire, then a crash) is no run to list.
      if (runId === undefined || item.state?.S === undefined) continue;
      runs.push({
        jobId,
        runId,
        startedAt: Number(item.startedAt?.N ?? 0),
        state: item.state.S === "finished" ? "finished" : "running",
      });
    }
    return runs;
  }

  async delete(key: RunKey): Promise<void> {
    const parts = await this.#queryAll(key.jobId, `part#${key.runId}#`, "sk");
    for (const part of parts) {
      await this.#send(
        "DeleteItem",
        new DeleteItemCommand({
          TableName: this.#table,
          Key: { pk: { S: jobPk(key.jobId) }, sk: part.sk as AttributeValue },
        }),
      );
    }
    await this.#send(
      "DeleteItem",
      new DeleteItemCommand({ TableName: this.#table, Key: runKey(key) }),
    );
    this.#parts.delete(id(key));
  }

  async acquire(key: RunKey, owner: string, ttlMs: number, now: number): Promise<Lease> {
    try {
      const out = await this.#send<UpdateItemCommandOutput>(
        "UpdateItem",
        new UpdateItemCommand({
          TableName: this.#table,
          Key: runKey(key),
          UpdateExpression:
            "SET leaseOwner = :owner, leaseExpiresAt = :expires, fence = if_not_exists(fence, :zero) + :one, jobId = :jobId, runId = :runId, #ttl = :ttl",
          // Granted when nobody holds the lease, its holder asks again, or it has lapsed.
          ConditionExpression:
            "attribute_not_exists(leaseOwner) OR leaseOwner = :owner OR leaseExpiresAt <= :now",
          ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ":owner": { S: owner },
            ":expires": { N: String(now + ttlMs) },
            ":zero": { N: "0" },
            ":one": { N: "1" },
            ":jobId": { S: key.jobId },
            ":runId": { S: key.runId },
            ":now": { N: String(now) },
            ":ttl": { N: String(Math.ceil((now + ttlMs + this.#retainMs) / 1000)) },
          },
          ReturnValues: "ALL_NEW",
        }),
      );
      const item = out.Attributes ?? {};
      const gen = item.gen?.S;
      if (gen !== undefined) this.#parts.set(id(key), { gen, count: Number(item.parts?.N ?? "0") });
      return { key, owner, expiresAt: now + ttlMs, fence: Number(item.fence?.N ?? "1") };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const holder = (await this.#leaseOf(key)) ?? { owner: "unknown", expiresAt: 0, fence: 0 };
      throw new EcsBatchLeaseError("LEASE_HELD", key, holder);
    }
  }

  async renew(lease: Lease, ttlMs: number, now: number): Promise<Lease> {
    try {
      await this.#send(
        "UpdateItem",
        new UpdateItemCommand({
          TableName: this.#table,
          Key: runKey(lease.key),
          UpdateExpression: "SET leaseExpiresAt = :expires, #ttl = :ttl",
          ConditionExpression: "leaseOwner = :owner AND fence = :fence",
          ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ":expires": { N: String(now + ttlMs) },
            ":ttl": { N: String(Math.ceil((now + ttlMs + this.#retainMs) / 1000)) },
            ":owner": { S: lease.owner },
            ":fence": { N: String(lease.fence) },
          },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw await this.#lost(lease.key);
      throw error;
    }
    return { ...lease, expiresAt: now + ttlMs };
  }

  async release(lease: Lease): Promise<void> {
    try {
      await this.#send(
        "UpdateItem",
        new UpdateItemCommand({
          TableName: this.#table,
          Key: runKey(lease.key),
          UpdateExpression: "SET leaseExpiresAt = :zero",
          ConditionExpression: "leaseOwner = :owner AND fence = :fence",
          ExpressionAttributeValues: {
            ":zero": { N: "0" },
            ":owner": { S: lease.owner },
            ":fence": { N: String(lease.fence) },
          },
        }),
      );
    } catch (error) {
      // A lease already lost is its new holder's: nothing to give up.
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** The lease-lost error, naming whoever holds the lease now. */
  async #lost(key: RunKey): Promise<EcsBatchLeaseError> {
    const holder = (await this.#leaseOf(key)) ?? { owner: "nobody", expiresAt: 0, fence: 0 };
    return new EcsBatchLeaseError("LEASE_LOST", key, holder);
  }

  async #leaseOf(key: RunKey): Promise<LeaseRecord | undefined> {
    const out = await this.#send<GetItemCommandOutput>(
      "GetItem",
      new GetItemCommand({
        TableName: this.#table,
        Key: runKey(key),
        ConsistentRead: true,
        ProjectionExpression: "leaseOwner, leaseExpiresAt, fence",
      }),
    );
    const item = out.Item;
    if (item?.leaseOwner?.S === undefined) return undefined;
    return {
      owner: item.leaseOwner.S,
      expiresAt: Number(item.leaseExpiresAt?.N ?? 0),
      fence: Number(item.fence?.N ?? 0),
    };
  }

  /** Every item of a job whose sort key starts with `prefix` (consistent reads, all pages). */
  async #queryAll(
    jobId: string,
    prefix: string,
    projection: string,
    names?: Record<string, string>,
  ): Promise<Record<string, AttributeValue>[]> {
    const items: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out: QueryCommandOutput = await this.#send<QueryCommandOutput>(
        "Query",
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": { S: jobPk(jobId) }, ":prefix": { S: prefix } },
          ProjectionExpression: projection,
          ...(names === undefined ? {} : { ExpressionAttributeNames: names }),
          ConsistentRead: true,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  /** One call to the table; failures other than a refused condition become store errors. */
  async #send<T>(action: string, command: { readonly input: unknown }): Promise<T> {
    try {
      return (await this.#client.send(command)) as T;
    } catch (error) {
      if (isConditionFailure(error)) throw error;
      throw new EcsBatchStoreError(
        "STORE_ERROR",
        `DynamoDB ${action} on table ${this.#table} failed: ${awsErrorName(error)}: ${awsErrorMessage(error)}`,
        { cause: error },
      );
    }
  }
}

function jobPk(jobId: string): string {
  return `job#${jobId}`;
}

function runKey(key: RunKey): Record<string, AttributeValue> {
  return { pk: { S: jobPk(key.jobId) }, sk: { S: `run#${key.runId}` } };
}

function partPrefix(runId: string, gen: string): string {
  return `part#${runId}#${gen}#`;
}

function partKey(runId: string, gen: string, index: number): string {
  return `${partPrefix(runId, gen)}${index}`;
}

function id(key: RunKey): string {
  return `${key.jobId}\u0000${key.runId}`;
}

/** A write refused by its condition: the lease is no longer the writer's. */
function isConditionFailure(error: unknown): boolean {
  return awsErrorName(error) === "ConditionalCheckFailedException";
}
