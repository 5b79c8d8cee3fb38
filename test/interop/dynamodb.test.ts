/**
 * `ecs-batch-runner/dynamodb` against moto's DynamoDB and ECS: the store's lease and fencing
 * over real HTTP, checkpoints of 10,000 slots, and runs that change hands between separate
 * `ecs-batch` processes (killed, racing, paused).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type AttributeValue,
  type DynamoDBClient,
  type QueryCommandOutput,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DynamoDbJobStore, PART_BYTES, TTL_ATTRIBUTE } from "ecs-batch-runner/dynamodb";
import { storeContract } from "../helpers/store-contract.js";
import { dir, ecsBatch, jobFile, lastEvent, type JsonEvent } from "./cli-process.js";
import {
  createCluster,
  createJobTable,
  describeInterop,
  dynamoClient,
  motoTasks,
  received,
  template,
  unique,
  useAws,
} from "./helpers.js";

const aws = useAws();
const clients: DynamoDBClient[] = [];
afterAll(() => {
  for (const c of clients) c.destroy();
});
function client(): DynamoDBClient {
  const c = dynamoClient();
  clients.push(c);
  return c;
}

describeInterop("DynamoDbJobStore on moto: the store contract, two clients on one table", () => {
  storeContract(async () => {
    const tableName = await createJobTable(client());
    return {
      a: new DynamoDbJobStore({ client: client(), tableName }),
      b: new DynamoDbJobStore({ client: client(), tableName }),
    };
  });
});

/** A checkpoint's text as the runner writes it for `slots` slots (ARNs random, as ECS's are). */
function bigCheckpoint(slots: number, state: "running" | "finished" = "running"): string {
  const arn = () =>
    `arn:aws:ecs:us-west-2:123456789012:task/batch/${randomBytes(16).toString("hex")}`;
  return JSON.stringify({
    version: 1,
    jobId: "big",
    runId: "r1",
    startedAt: 1_700_000_000_000,
    state,
    slots: Array.from({ length: slots }, (_, index) => ({
      index,
      taskName: `ecs-batch-big-${index}`,
      phase: "running",
      attempts: index % 33 === 0 ? 2 : 1,
      applicationFailures: index % 33 === 0 ? 1 : 0,
      launchFailures: 0,
      taskArn: arn(),
      lastStatus: "RUNNING",
      failedTaskArns: index % 33 === 0 ? [arn()] : [],
      stopRequested: false,
    })),
  });
}

describeInterop("DynamoDbJobStore on moto: large checkpoints and expiry", () => {
  let tableName = "";
  let db: DynamoDBClient;
  beforeAll(async () => {
    db = client();
    tableName = await createJobTable(db);
  });

  /** A job's items whose sort key starts with `prefix`, every page of them (a page holds 1 MB). */
  const items = async (jobId: string, prefix: string) => {
    const found: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page: QueryCommandOutput = await db.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :p)",
          ExpressionAttributeValues: { ":pk": { S: `job#${jobId}` }, ":p": { S: prefix } },
          ConsistentRead: true,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      );
      found.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return found;
  };
  /** The run's part items. */
  const parts = (jobId: string, runId: string) => items(jobId, `part#${runId}#`);

  const head = async (jobId: string, runId: string) =>
    (
      await db.send(
        new GetItemCommand({
          TableName: tableName,
          Key: { pk: { S: `job#${jobId}` }, sk: { S: `run#${runId}` } },
        }),
      )
    ).Item;

  it("a 10,000-slot checkpoint is compressed into one part; a 40,000-slot one into several; each reads back whole", async () => {
    const store = new DynamoDbJobStore({ client: db, tableName });
    const reader = new DynamoDbJobStore({ client: client(), tableName });
    const key = { jobId: "big", runId: "r1" };
    const lease = await store.acquire(key, "w", 60_000, Date.now());
    const tenThousand = bigCheckpoint(10_000);
    expect(tenThousand.length).toBeGreaterThan(2_500_000);
    await store.save(key, tenThousand, lease);
    expect((await head("big", "r1"))?.parts?.N).toBe("1");
    expect(await parts("big", "r1")).toHaveLength(1);
    expect(await reader.load(key)).toBe(tenThousand);
    expect(await reader.list("big")).toEqual([
      { jobId: "big", runId: "r1", startedAt: 1_700_000_000_000, state: "running" },
    ]);

    const fortyThousand = bigCheckpoint(40_000);
    await store.save(key, fortyThousand, lease);
    const count = Number((await head("big", "r1"))?.parts?.N);
    expect(count).toBeGreaterThan(2);
    // The previous checkpoint's part went once the new one was in place.
    const stored = await parts("big", "r1");
    expect(stored).toHaveLength(count);
    for (const p of stored) expect(p.body?.B?.length).toBeLessThanOrEqual(PART_BYTES);
    expect(await reader.load(key)).toBe(fortyThousand);

    // A small checkpoint lives in the run's item; the parts of the big one are deleted.
    const small = bigCheckpoint(10, "finished");
    await store.save(key, small, lease);
    expect(await parts("big", "r1")).toHaveLength(0);
    expect((await head("big", "r1"))?.body?.B).toBeDefined();
    expect(await reader.load(key)).toBe(small);
    await store.save(key, fortyThousand, lease);
    expect((await head("big", "r1"))?.body).toBeUndefined();
    expect(await reader.load(key)).toBe(fortyThousand);
    await store.delete(key);
    expect(await reader.load(key)).toBeUndefined();
    expect(await parts("big", "r1")).toHaveLength(0);
  });

  it("changes appended to a checkpoint read back in order, a large one from its parts; a save deletes them", async () => {
    const store = new DynamoDbJobStore({ client: db, tableName });
    const reader = new DynamoDbJobStore({ client: client(), tableName });
    const key = { jobId: "changes", runId: "r1" };
    const changes = async () => (await items("changes", "change#r1#")).length;
    const lease = await store.acquire(key, "w", 60_000, Date.now());
    const checkpoint = bigCheckpoint(100);
    await store.save(key, checkpoint, lease);
    const small = JSON.stringify({ seq: 2, state: "running", slots: [] });
    // Random text barely compresses: this change takes several items.
    const large = JSON.stringify({ seq: 3, noise: randomBytes(PART_BYTES).toString("hex") });
    await store.append(key, small, lease);
    await store.append(key, large, lease);
    expect(await changes()).toBeGreaterThan(2);
    expect(await reader.load(key)).toBe([checkpoint, small, large].join("\n"));
    expect((await head("changes", "r1"))?.changes?.N).toBe("2");

    // What a refused (or killed) append leaves: items of change 3 the run's item never named.
    const taken = await reader.acquire(key, "v", 60_000, Date.now() + 120_000);
    await expect(store.append(key, '{"seq":4}', lease)).rejects.toMatchObject({
      code: "LEASE_LOST",
    });
    await db.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: "job#changes" },
          sk: { S: `change#r1#${String((await head("changes", "r1"))?.gen?.S)}#00000003#9.9#0000` },
          of: { N: "1" },
          body: { B: gzipSync('{"seq":"never counted"}') },
        },
      }),
    );
    await reader.append(key, '{"seq":4}', taken);
    expect(await store.load(key)).toBe([checkpoint, small, large, '{"seq":4}'].join("\n"));

    // A save starts a new generation: the changes of the previous one are deleted.
    const next = bigCheckpoint(100);
    await reader.save(key, next, taken);
    expect(await changes()).toBe(0);
    expect(await store.load(key)).toBe(next);
    await reader.delete(key);
  });

  it("a save under a lost lease leaves no part behind", async () => {
    const store = new DynamoDbJobStore({ client: db, tableName });
    const key = { jobId: "fenced", runId: "r1" };
    const old = await store.acquire(key, "a", 1000, 0);
    await store.acquire(key, "b", 60_000, 5000);
    await expect(store.save(key, bigCheckpoint(10_000), old)).rejects.toMatchObject({
      code: "LEASE_LOST",
      owner: "b",
    });
    expect(await parts("fenced", "r1")).toHaveLength(0);
    expect(await store.load(key)).toBeUndefined();
  });

  it("items carry the time-to-live attribute: the lease's expiry plus the retention", async () => {
    const store = new DynamoDbJobStore({ client: db, tableName, retainMs: 3_600_000 });
    const key = { jobId: "ttl", runId: "r1" };
    const lease = await store.acquire(key, "w", 60_000, 1_700_000_000_000);
    await store.save(key, bigCheckpoint(1, "finished"), lease);
    const head = await db.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: "job#ttl" }, sk: { S: "run#r1" } },
      }),
    );
    expect(Number(head.Item?.[TTL_ATTRIBUTE]?.N)).toBe(
      (1_700_000_000_000 + 60_000 + 3_600_000) / 1000,
    );
  });
});

describeInterop("one run, several processes, one DynamoDB table", () => {
  let tableName = "";
  beforeAll(async () => {
    tableName = await createJobTable(client());
  });

  /** A job of three tasks; its leases last three poll intervals. */
  async function newJob(jobId: string, pollInterval = "200ms") {
    const cluster = await createCluster(aws.ecs);
    const path = jobFile({
      jobId,
      cluster,
      taskDefinition: { definition: template(unique("multi")) },
      taskCount: 3,
      pollInterval,
      logs: { fetch: "none" },
    });
    return { cluster, path };
  }

  /** `ecs-batch run` with the table, until its third task started; then `act` on the process. */
  async function startThenAct(
    path: string,
    act: "SIGKILL" | "SIGSTOP",
  ): Promise<{ runId: string; actedAt: number; pid: number; done: ReturnType<typeof ecsBatch> }> {
    let runId = "";
    let started = 0;
    let actedAt = 0;
    let pid = 0;
    let resolveActed: () => void = () => undefined;
    const acted = new Promise<void>((resolve) => (resolveActed = resolve));
    const done = ecsBatch(
      ["run", path, "--json", "--dynamodb-table", tableName],
      (event, child) => {
        pid = child.pid ?? 0;
        if (event.event === "jobStarted") runId = String(event.runId);
        if (event.event === "taskStarted" && ++started === 3) {
          child.kill(act);
          actedAt = Date.now();
          resolveActed();
        }
      },
    );
    await Promise.race([acted, done]);
    return { runId, actedAt, pid, done };
  }

  it("a SIGKILLed owner is taken over once its lease lapses; nothing is launched twice", async () => {
    await motoTasks.hold();
    const { cluster, path } = await newJob("multi-kill");
    const owner = await startThenAct(path, "SIGKILL");
    expect((await owner.done).code).toBeNull();
    let tookOverAt = 0;
    const attached = ecsBatch(
      ["attach", path, "--json", "--dynamodb-table", tableName, "--wait-for-lease", "30s"],
      (event) => {
        if (event.event === "jobStarted") {
          tookOverAt = Date.now();
          void motoTasks.progress();
        }
      },
    );
    const run = await attached;
    expect(run.code).toBe(0);
    expect(lastEvent(run)).toMatchObject({ event: "jobCompleted", runId: owner.runId });
    expect(received("RunTask").filter((q) => q.body.cluster === cluster)).toHaveLength(3);
    // The lease lasts three poll intervals (600 ms): the new process waited it out, no more.
    const takeover = tookOverAt - owner.actedAt;
    expect(takeover).toBeGreaterThan(0);
    expect(takeover).toBeLessThan(15_000);
    mkdirSync(join(dir, "..", "figures"), { recursive: true });
    writeFileSync(
      join(dir, "..", "figures", "takeover.json"),
      JSON.stringify({ takeoverMs: takeover }),
    );
  });

  it("two processes attach one run at once: exactly one drives it, the other gets LEASE_HELD", async () => {
    await motoTasks.hold();
    // Leases of 3 s: each racer must hold the lease it won through its own start-up (a process
    // starting a second later on a loaded machine would otherwise find it lapsed, and take over).
    const { cluster, path } = await newJob("multi-race", "1s");
    const owner = await startThenAct(path, "SIGKILL");
    await owner.done;
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const onEvent = (event: JsonEvent) => {
      if (event.event === "jobStarted") void motoTasks.progress();
    };
    const runs = await Promise.all([
      ecsBatch(["attach", path, "--json", "--dynamodb-table", tableName], onEvent),
      ecsBatch(["attach", path, "--json", "--dynamodb-table", tableName], onEvent),
    ]);
    const won = runs.filter((r) => r.code === 0);
    const lost = runs.filter((r) => r.code !== 0);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.code).toBe(2);
    expect(lost[0]?.stderr).toContain("LEASE_HELD");
    expect(lastEvent(won[0]!)).toMatchObject({ event: "jobCompleted", runId: owner.runId });
    expect(received("RunTask").filter((q) => q.body.cluster === cluster)).toHaveLength(3);
  });

  it("an owner paused past its lease wakes up to a lost lease: its writes refused, its tasks left to the new owner", async () => {
    await motoTasks.hold();
    const { cluster, path } = await newJob("multi-pause");
    const paused = await startThenAct(path, "SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let successorStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (successorStarted = resolve));
    const successor = ecsBatch(["attach", path, "--json", "--dynamodb-table", tableName], (e) => {
      if (e.event === "jobStarted") successorStarted();
    });
    await started;
    process.kill(paused.pid, "SIGCONT");
    const woken = await paused.done;
    expect(woken.code).toBe(2);
    expect(woken.stderr).toContain("LEASE_LOST");
    // It let go without stopping anything: the tasks are still running, for the successor.
    expect(received("StopTask").filter((q) => q.body.cluster === cluster)).toHaveLength(0);
    await motoTasks.progress();
    const run = await successor;
    expect(run.code).toBe(0);
    expect(lastEvent(run)).toMatchObject({ event: "jobCompleted", runId: paused.runId });
    expect(received("RunTask").filter((q) => q.body.cluster === cluster)).toHaveLength(3);
  });
});
