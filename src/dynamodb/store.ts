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
 *
 * Between saves the runner appends changes (`append`), so a poll writes what moved, not the
 * whole run: each change is compressed into items of its own, keyed by the checkpoint's
 * generation, the change's number and an id of the write, written first; then one fenced
 * UpdateItem of the run's item counts the change in and names the write (the commit). A reader
 * takes the changes the run's item counts, each from the write it names, so the items of a
 * write that was refused or cut short are never read. A save starts a new generation and
 * deletes the previous one's changes.
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
  isCurrent,
  NO_OWNER,
  renewed,
  type JobStore,
  type Lease,
  type LeaseRecord,
  type LeaseRenewal,
  type RunKey,
  type StoredRunInfo,
} from "../durable/store.js";
import { infoOf, stateOfChange } from "../durable/memory-store.js";

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
/** DeleteItem calls in flight at once when a generation's items go (a table on demand takes them). */
const DELETES_AT_ONCE = 16;
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

/** A run's item as this store last wrote or read it. */
interface RunItem {
  /** The generation of the last checkpoint saved. */
  readonly gen: string;
  /** How many parts that checkpoint has (0: it is in the run's item). */
  readonly parts: number;
  /** How many changes were appended to it. */
  readonly changes: number;
}

/** A `JobStore` in a DynamoDB table (many hosts). */
export class DynamoDbJobStore implements JobStore {
  readonly #client: AwsClient;
  readonly #table: string;
  readonly #retainMs: number;
  readonly #runs = new Map<string, RunItem>();
  /** Numbers this store's writes (generations, change writes) apart from one another. */
  #writeSeq = 0;
  /** Checkpoints saved, for tests and benchmarks. */
  saves = 0;
  /** Changes appended, for tests and benchmarks. */
  appends = 0;

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
      if (item === undefined) return undefined;
      const run = runItemOf(item);
      if (run === undefined) return undefined;
      this.#runs.set(id(key), run);
      const checkpoint = await this.#checkpointOf(key, run, item.body?.B);
      const changes = checkpoint === undefined ? undefined : await this.#changesOf(key, run, item);
      if (checkpoint !== undefined && changes !== undefined) {
        return [checkpoint, ...changes].join("\n");
      }
      // A newer save replaced the parts between the reads: read the run's item again.
      if (attempt >= LOAD_ATTEMPTS) {
        throw new EcsBatchStoreError(
          "STORE_ERROR",
          `the checkpoint of run ${key.runId} of job ${key.jobId} in table ${this.#table} misses items (its parts or changes): read ${LOAD_ATTEMPTS} times, each time a save had replaced them`,
        );
      }
    }
  }

  /** The checkpoint `run` names: in its item, or its parts; `undefined` when parts are missing. */
  async #checkpointOf(
    key: RunKey,
    run: RunItem,
    inline: Uint8Array | undefined,
  ): Promise<string | undefined> {
    if (inline !== undefined) return gunzipSync(inline).toString("utf8");
    const found = await this.#queryAll(key.jobId, partPrefix(key.runId, run.gen), "sk, body");
    const byIndex = new Map(found.map((p) => [p.sk?.S, p.body?.B]));
    const parts: Uint8Array[] = [];
    for (let i = 0; i < run.parts; i++) {
      const part = byIndex.get(partKey(key.runId, run.gen, i));
      if (part === undefined) return undefined;
      parts.push(part);
    }
    return gunzipSync(Buffer.concat(parts)).toString("utf8");
  }

  /**
   * The changes `run` counts, oldest first, each read from the write its item names; items of
   * other writes (refused, or cut short by a crash) are left out. `undefined` when some are
   * missing (a newer save deleted them).
   */
  async #changesOf(
    key: RunKey,
    run: RunItem,
    item: Record<string, AttributeValue>,
  ): Promise<string[] | undefined> {
    if (run.changes === 0) return [];
    const writes = item.changeWrites?.M ?? {};
    const found = await this.#queryAll(
      key.jobId,
      changePrefix(key.runId, run.gen),
      "sk, body, #of",
      { "#of": "of" },
    );
    const bySk = new Map(found.map((p) => [p.sk?.S, p]));
    const changes: string[] = [];
    for (let n = 1; n <= run.changes; n++) {
      const write = writes[String(n)]?.S;
      if (write === undefined) return undefined;
      const first = bySk.get(changeKey(key.runId, run.gen, n, write, 0));
      const count = Number(first?.of?.N ?? "0");
      const parts: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const part = bySk.get(changeKey(key.runId, run.gen, n, write, i))?.body?.B;
        if (part === undefined) return undefined;
        parts.push(part);
      }
      if (parts.length === 0) return undefined;
      changes.push(gunzipSync(Buffer.concat(parts)).toString("utf8"));
    }
    return changes;
  }

  async save(key: RunKey, checkpoint: string, lease: Lease): Promise<void> {
    const info = infoOf(key, checkpoint);
    const compressed = gzipSync(checkpoint);
    const inline = compressed.length <= INLINE_BYTES;
    const gen = `${lease.fence}.${++this.#writeSeq}`;
    const ttl = this.#ttl(lease.expiresAt);
    const count = inline ? 0 : Math.ceil(compressed.length / PART_BYTES);
    // The parts first: invisible until the run's item names their generation.
    const keys = Array.from({ length: count }, (_, i) => partKey(key.runId, gen, i));
    await this.#putPieces(key.jobId, keys, compressed, ttl);
    const values: Record<string, AttributeValue> = {
      ":gen": { S: gen },
      ":parts": { N: String(count) },
      ":startedAt": { N: String(info.startedAt) },
      ":state": { S: info.state },
      ":ttl": ttl,
      ":owner": { S: lease.owner },
      ":fence": { N: String(lease.fence) },
      ":zero": { N: "0" },
      ":none": { M: {} },
    };
    if (inline) values[":body"] = { B: compressed };
    try {
      await this.#send(
        "UpdateItem",
        new UpdateItemCommand({
          TableName: this.#table,
          Key: runKey(key),
          UpdateExpression: `SET gen = :gen, parts = :parts, changes = :zero, changeWrites = :none, startedAt = :startedAt, #state = :state, #ttl = :ttl${inline ? ", body = :body" : " REMOVE body"}`,
          // The fencing: only the current owner's save lands.
          ConditionExpression: "leaseOwner = :owner AND fence = :fence",
          ExpressionAttributeNames: { "#state": "state", "#ttl": TTL_ATTRIBUTE },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      // Refused, the parts are no one's. A write that failed otherwise may have landed and
      // named them: they stay (the time to live removes them if it did not).
      if (!isConditionFailure(error)) throw error;
      await this.#deleteKeys(key.jobId, keys);
      throw await this.#lost(key);
    }
    const previous = this.#runs.get(id(key));
    this.#runs.set(id(key), { gen, parts: count, changes: 0 });
    this.saves++;
    // The previous generation's parts and changes: a failure here leaves them to the TTL.
    if (previous !== undefined && previous.gen !== gen) {
      await this.#deleteParts(key, previous.gen, previous.parts).catch(() => undefined);
      if (previous.changes > 0) {
        await this.#deleteAll(key.jobId, changePrefix(key.runId, previous.gen)).catch(
          () => undefined,
        );
      }
    }
  }

  /**
   * Appends a change to the run's last checkpoint: its items first (compressed, in parts of
   * `PART_BYTES`), then the run's item counts it in, fenced by the lease and the checkpoint's
   * generation, and, given `renewal`, extends the lease in the same write. Refused, it deletes
   * its items again; a write that fails otherwise may have landed, so its items stay (a reader
   * only reads the write the run's item names, and the next try writes the same change anew).
   */
  async append(key: RunKey, change: string, lease: Lease, renewal?: LeaseRenewal): Promise<void> {
    const run = this.#runs.get(id(key)) ?? (await this.#read(key)).run;
    if (run === undefined) {
      throw new EcsBatchStoreError(
        "STORE_ERROR",
        `run ${key.runId} of job ${key.jobId} has no checkpoint in table ${this.#table} to append a change to; save one first`,
      );
    }
    const n = run.changes + 1;
    const write = `${lease.fence}.${++this.#writeSeq}`;
    const compressed = gzipSync(change);
    const count = Math.max(1, Math.ceil(compressed.length / PART_BYTES));
    const expiresAt = renewal === undefined ? lease.expiresAt : renewed(lease, renewal).expiresAt;
    const ttl = this.#ttl(expiresAt);
    const keys = Array.from({ length: count }, (_, i) =>
      changeKey(key.runId, run.gen, n, write, i),
    );
    await this.#putPieces(key.jobId, keys, compressed, ttl, { of: { N: String(count) } });
    const values: Record<string, AttributeValue> = {
      ":n": { N: String(n) },
      // The first change starts the map (an item saved by an earlier version has none).
      ":write": n === 1 ? { M: { "1": { S: write } } } : { S: write },
      ":owner": { S: lease.owner },
      ":fence": { N: String(lease.fence) },
      ":gen": { S: run.gen },
      ":ttl": ttl,
    };
    if (renewal !== undefined) values[":expires"] = { N: String(expiresAt) };
    // The run's last change says it finished: `list` reads that from the item.
    const state = stateOfChange(change);
    if (state !== undefined) values[":state"] = { S: state };
    try {
      await this.#send(
        "UpdateItem",
        new UpdateItemCommand({
          TableName: this.#table,
          Key: runKey(key),
          UpdateExpression: `SET changes = :n, ${n === 1 ? "changeWrites" : "changeWrites.#n"} = :write, #ttl = :ttl${renewal === undefined ? "" : ", leaseExpiresAt = :expires"}${state === undefined ? "" : ", #state = :state"}`,
          // The fencing, and the checkpoint the change follows.
          ConditionExpression: "leaseOwner = :owner AND fence = :fence AND gen = :gen",
          ExpressionAttributeNames: {
            ...(n === 1 ? {} : { "#n": String(n) }),
            "#ttl": TTL_ATTRIBUTE,
            ...(state === undefined ? {} : { "#state": "state" }),
          },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      await this.#deleteKeys(key.jobId, keys).catch(() => undefined);
      const now = await this.#read(key);
      if (!isCurrent(lease, now.lease)) throw this.#lostTo(key, now.lease);
      // Still this owner's run: what changed is the checkpoint, a save of this store that
      // failed here but landed in the table. The next poll appends to it.
      if (now.run !== undefined) this.#runs.set(id(key), now.run);
      throw new EcsBatchStoreError(
        "STORE_ERROR",
        `the checkpoint of run ${key.runId} of job ${key.jobId} in table ${this.#table} is newer than this store knew (a save whose answer was lost had landed); the change is written again on the next poll`,
      );
    }
    this.#runs.set(id(key), { ...run, changes: n });
    this.appends++;
  }

  /** Writes `compressed` in pieces of `PART_BYTES`, one item per sort key, in order. */
  async #putPieces(
    jobId: string,
    sortKeys: readonly string[],
    compressed: Uint8Array,
    ttl: AttributeValue,
    fields: Record<string, AttributeValue> = {},
  ): Promise<void> {
    for (const [i, sk] of sortKeys.entries()) {
      await this.#send(
        "PutItem",
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            pk: { S: jobPk(jobId) },
            sk: { S: sk },
            ...fields,
            body: { B: compressed.subarray(i * PART_BYTES, (i + 1) * PART_BYTES) },
            [TTL_ATTRIBUTE]: ttl,
          },
        }),
      );
    }
  }

  /** Deletes every item of a job whose sort key starts with `prefix`. */
  async #deleteAll(jobId: string, prefix: string): Promise<void> {
    const items = await this.#queryAll(jobId, prefix, "sk");
    await this.#deleteKeys(
      jobId,
      items.flatMap((item) => (item.sk?.S === undefined ? [] : [item.sk.S])),
    );
  }

  /**
   * Deletes items, `DELETES_AT_ONCE` at a time: a save that ends a long generation of changes
   * (hundreds of items) runs on the poll's beat, before the lease is renewed, so it must not
   * wait on each delete in turn.
   */
  async #deleteKeys(jobId: string, sortKeys: readonly string[]): Promise<void> {
    let next = 0;
    const deleter = async (): Promise<void> => {
      for (let sk = sortKeys[next++]; sk !== undefined; sk = sortKeys[next++]) {
        await this.#send(
          "DeleteItem",
          new DeleteItemCommand({
            TableName: this.#table,
            Key: { pk: { S: jobPk(jobId) }, sk: { S: sk } },
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETES_AT_ONCE, sortKeys.length) }, deleter));
  }

  async #deleteParts(key: RunKey, gen: string, count: number): Promise<void> {
    await this.#deleteKeys(
      key.jobId,
      Array.from({ length: count }, (_, i) => partKey(key.runId, gen, i)),
    );
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
    await this.#deleteAll(key.jobId, `part#${key.runId}#`);
    await this.#deleteAll(key.jobId, `change#${key.runId}#`);
    await this.#send(
      "DeleteItem",
      new DeleteItemCommand({ TableName: this.#table, Key: runKey(key) }),
    );
    this.#runs.delete(id(key));
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
            ":ttl": this.#ttl(now + ttlMs),
          },
          ReturnValues: "ALL_NEW",
        }),
      );
      const item = out.Attributes ?? {};
      const run = runItemOf(item);
      if (run !== undefined) this.#runs.set(id(key), run);
      return { key, owner, expiresAt: now + ttlMs, fence: Number(item.fence?.N ?? "1") };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const holder = (await this.#read(key)).lease ?? { owner: "unknown", expiresAt: 0, fence: 0 };
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
            ":ttl": this.#ttl(now + ttlMs),
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
    return this.#lostTo(key, (await this.#read(key)).lease);
  }

  #lostTo(key: RunKey, holder: LeaseRecord | undefined): EcsBatchLeaseError {
    return new EcsBatchLeaseError(
      "LEASE_LOST",
      key,
      holder ?? { owner: NO_OWNER, expiresAt: 0, fence: 0 },
    );
  }

  /** When an item expires: `retainMs` after the lease's expiry, in seconds (the TTL attribute). */
  #ttl(expiresAt: number): AttributeValue {
    return { N: String(Math.ceil((expiresAt + this.#retainMs) / 1000)) };
  }

  /** The run's lease and checkpoint as its item holds them now (a consistent read). */
  async #read(key: RunKey): Promise<{ lease?: LeaseRecord; run?: RunItem }> {
    const out = await this.#send<GetItemCommandOutput>(
      "GetItem",
      new GetItemCommand({
        TableName: this.#table,
        Key: runKey(key),
        ConsistentRead: true,
        ProjectionExpression: "leaseOwner, leaseExpiresAt, fence, gen, parts, changes",
      }),
    );
    const item = out.Item;
    if (item === undefined) return {};
    const run = runItemOf(item);
    return {
      ...(item.leaseOwner?.S === undefined
        ? {}
        : {
            lease: {
              owner: item.leaseOwner.S,
              expiresAt: Number(item.leaseExpiresAt?.N ?? 0),
              fence: Number(item.fence?.N ?? 0),
            },
          }),
      ...(run === undefined ? {} : { run }),
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

function changePrefix(runId: string, gen: string): string {
  return `change#${runId}#${gen}#`;
}

/** A change's item: numbers padded so that a query returns them in order. */
function changeKey(runId: string, gen: string, n: number, write: string, part: number): string {
  return `${changePrefix(runId, gen)}${String(n).padStart(8, "0")}#${write}#${String(part).padStart(4, "0")}`;
}

/** What a run's item says of its checkpoint; `undefined` when it has none yet. */
function runItemOf(item: Record<string, AttributeValue>): RunItem | undefined {
  const gen = item.gen?.S;
  if (gen === undefined) return undefined;
  return { gen, parts: Number(item.parts?.N ?? "0"), changes: Number(item.changes?.N ?? "0") };
}

function id(key: RunKey): string {
  return `${key.jobId}\u0000${key.runId}`;
}

/** A write refused by its condition: the lease is no longer the writer's. */
function isConditionFailure(error: unknown): boolean {
  return awsErrorName(error) === "ConditionalCheckFailedException";
}
