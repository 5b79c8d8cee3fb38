/**
 * What the interop tests share: real SDK v3 clients pointed at moto (built as a user builds
 * them), control of moto's task lifecycle, the requests moto received, and small waits on the
 * runner's events. Everything that bends moto towards ECS lives here or in a test, never in
 * the library; docs/testing.md lists each such gap.
 */
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  CreateTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import {
  CreateClusterCommand,
  DescribeTasksCommand,
  ECSClient,
  type RegisterTaskDefinitionCommandInput,
  type Task,
} from "@aws-sdk/client-ecs";
import { afterAll, beforeEach, describe, inject } from "vitest";
import type { EcsBatchRunner, EcsBatchRunnerEvents } from "ecs-batch-runner";
import { jobStoreTable, TTL_ATTRIBUTE } from "ecs-batch-runner/dynamodb";

export const REGION = "us-west-2";
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

const moto = inject("moto");

/** `describe`, skipped (with the reason printed once by the global setup) when moto is missing. */
export const describeInterop: ReturnType<typeof describe.skipIf> = describe.skipIf(
  "skipped" in moto,
);

/** moto's endpoint, e.g. `http://127.0.0.1:40123`. */
export function endpoint(): string {
  if ("skipped" in moto) throw new Error(`moto is not running: ${moto.skipped}`);
  return moto.endpoint;
}

/** The clients a user would build for the runner: endpoint, region, credentials, one attempt. */
export function awsClients(region = REGION): {
  ecs: ECSClient;
  logs: CloudWatchLogsClient;
  ec2: EC2Client;
} {
  const config = { region, endpoint: endpoint(), credentials: CREDENTIALS, maxAttempts: 1 };
  return {
    ecs: new ECSClient(config),
    logs: new CloudWatchLogsClient(config),
    ec2: new EC2Client(config),
  };
}

/** A DynamoDB client as a user builds it, at moto. */
export function dynamoClient(): DynamoDBClient {
  return new DynamoDBClient({
    region: REGION,
    endpoint: endpoint(),
    credentials: CREDENTIALS,
    maxAttempts: 1,
  });
}

/** A new job store table, made from the documented definition, with time to live on. */
export async function createJobTable(client: DynamoDBClient): Promise<string> {
  const name = unique("runs");
  await client.send(new CreateTableCommand(jobStoreTable(name)));
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
    }),
  );
  return name;
}

/**
 * The clients of one test file, closed after it. Every test starts with moto's own task
 * lifecycle (see `motoTasks`), whatever the test before it set.
 */
export function useAws(region = REGION): ReturnType<typeof awsClients> {
  const clients = "skipped" in moto ? undefined : awsClients(region);
  beforeEach(async () => {
    if (!("skipped" in moto)) await motoTasks.progress();
  });
  afterAll(() => {
    if (clients === undefined) return;
    clients.ecs.destroy();
    clients.logs.destroy();
    clients.ec2.destroy();
  });
  return clients as ReturnType<typeof awsClients>;
}

async function setTaskTransition(transition: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${endpoint()}/moto-api/state-manager/set-transition`, {
    method: "POST",
    body: JSON.stringify({ model_name: "ecs::task", transition }),
  });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`moto refused the task transition: ${response.status}`);
}

/**
 * moto's ECS tasks have no containers that run. Each DescribeTasks that names a task moves it
 * one status on (RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED), every container
 * reporting exit code 0. Tests pick how their tasks live through moto's state manager (global
 * to the server: the interop files run one at a time).
 */
export const motoTasks = {
  /**
   * moto's default: a task is STOPPED, exit 0, on the fourth DescribeTasks that names it; with
   * `times`, each status lasts that many DescribeTasks.
   */
  progress: (times = 1) => setTaskTransition({ progression: "manual", times }),
  /** Tasks stay RUNNING until someone calls StopTask (or `progress()` lets them finish). */
  hold: () => setTaskTransition({ progression: "manual", times: 1_000_000_000 }),
};

/** A name no other test uses: moto's state lives as long as the suite. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Creates a cluster (moto has none, not even `default`). */
export async function createCluster(
  ecs: ECSClient,
  options: { name?: string; capacityProviders?: string[] } = {},
): Promise<string> {
  const name = options.name ?? unique("cluster");
  await ecs.send(
    new CreateClusterCommand({
      clusterName: name,
      ...(options.capacityProviders === undefined
        ? {}
        : { capacityProviders: options.capacityProviders }),
    }),
  );
  return name;
}

/**
 * A Fargate template whose `main` container logs to awslogs. The container carries `memory`:
 * moto's RunTask fails (HTTP 500) on a container without `memory` or `memoryReservation`,
 * which Fargate allows (docs/testing.md, moto's gaps).
 */
export function template(
  family: string,
  options: { logGroup?: string; image?: string } = {},
): RegisterTaskDefinitionCommandInput {
  return {
    family,
    requiresCompatibilities: ["FARGATE"],
    networkMode: "awsvpc",
    cpu: "256",
    memory: "512",
    containerDefinitions: [
      {
        name: "main",
        image: options.image ?? "public.ecr.aws/docker/library/alpine:3.20",
        essential: true,
        memory: 512,
        environment: [{ name: "GREETING", value: "hello" }],
        logConfiguration: {
          logDriver: "awslogs",
          options: {
            "awslogs-group": options.logGroup ?? "/ecs/interop",
            "awslogs-region": REGION,
            "awslogs-stream-prefix": "ecs",
          },
        },
      },
    ],
  };
}

/** One request as moto received it. */
export interface Received {
  /** The API action, e.g. `RunTask`, `DescribeVpcs`. */
  readonly action: string;
  /** The JSON body (ECS, CloudWatch Logs) or the form fields (EC2). */
  readonly body: Record<string, unknown>;
}

interface RecorderEntry {
  headers: Record<string, string>;
  body: string | null;
  body_encoded: boolean;
}

/** Every request moto received since it started, from its recorder, in order. */
export function received(action?: string): Received[] {
  if ("skipped" in moto) return [];
  const lines = readFileSync(moto.recording, "utf8").split("\n");
  // The last line is empty, or an entry moto is still writing.
  lines.pop();
  const all: Received[] = [];
  for (const line of lines) {
    if (line === "") continue;
    const entry = JSON.parse(line) as RecorderEntry;
    const raw =
      entry.body === null
        ? ""
        : entry.body_encoded
          ? Buffer.from(entry.body, "base64").toString("utf8")
          : entry.body;
    const target = Object.entries(entry.headers).find(
      ([name]) => name.toLowerCase() === "x-amz-target",
    )?.[1];
    if (target !== undefined) {
      all.push({
        action: target.slice(target.lastIndexOf(".") + 1),
        body: raw === "" ? {} : (JSON.parse(raw) as Record<string, unknown>),
      });
    } else {
      const form = Object.fromEntries(new URLSearchParams(raw));
      all.push({ action: form.Action ?? "(unknown)", body: form });
    }
  }
  return action === undefined ? all : all.filter((r) => r.action === action);
}

type Payload<K extends keyof EcsBatchRunnerEvents> = Parameters<EcsBatchRunnerEvents[K]>[0];

/** Every payload of one event, as it is emitted. */
export function collect<K extends keyof EcsBatchRunnerEvents>(
  runner: EcsBatchRunner,
  name: K,
): Payload<K>[] {
  const seen: Payload<K>[] = [];
  (runner.on as (name: K, listener: (payload: Payload<K>) => void) => unknown)(name, (payload) => {
    seen.push(payload);
  });
  return seen;
}

/** Resolves once `count` events named `name` (matching `match`) were emitted. */
export function nextEvents<K extends keyof EcsBatchRunnerEvents>(
  runner: EcsBatchRunner,
  name: K,
  count: number,
  match: (payload: Payload<K>) => boolean = () => true,
): Promise<Payload<K>[]> {
  return new Promise((resolve) => {
    const seen: Payload<K>[] = [];
    const listener = (payload: Payload<K>): void => {
      if (!match(payload)) return;
      seen.push(payload);
      if (seen.length === count) {
        (runner.off as (name: K, listener: (payload: Payload<K>) => void) => unknown)(
          name,
          listener,
        );
        resolve(seen);
      }
    };
    (runner.on as (name: K, listener: (payload: Payload<K>) => void) => unknown)(name, listener);
  });
}

/** The tasks as moto describes them now (with tags), read from the test's side. */
export async function describeInMoto(
  ecs: ECSClient,
  cluster: string,
  taskArns: readonly string[],
): Promise<Task[]> {
  const out: Task[] = [];
  for (let i = 0; i < taskArns.length; i += 100) {
    const page = await ecs.send(
      new DescribeTasksCommand({
        cluster,
        tasks: taskArns.slice(i, i + 100),
        include: ["TAGS"],
      }),
    );
    out.push(...(page.tasks ?? []));
  }
  return out;
}

/** Writes lines into a task container's awslogs stream, as the awslogs driver would. */
export async function writeTaskLogs(
  logs: CloudWatchLogsClient,
  target: { group: string; container: string; taskArn: string },
  lines: readonly string[],
): Promise<void> {
  const stream = `ecs/${target.container}/${target.taskArn.slice(target.taskArn.lastIndexOf("/") + 1)}`;
  await logs.send(new CreateLogGroupCommand({ logGroupName: target.group })).catch(ignoreExists);
  await logs
    .send(new CreateLogStreamCommand({ logGroupName: target.group, logStreamName: stream }))
    .catch(ignoreExists);
  const now = Date.now();
  // PutLogEvents takes at most 10,000 events per call.
  for (let i = 0; i < lines.length; i += 10_000) {
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: target.group,
        logStreamName: stream,
        logEvents: lines
          .slice(i, i + 10_000)
          .map((message, j) => ({ timestamp: now + i + j, message })),
      }),
    );
  }
}

function ignoreExists(error: unknown): void {
  if ((error as { name?: string }).name !== "ResourceAlreadyExistsException") throw error;
}
