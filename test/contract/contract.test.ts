/**
 * The contract suite: the same requests and the same expectations, run against two backends:
 *  - `aws-sdk-client-mock`, replaying responses shaped from the AWS API reference
 *    (test/contract/fixtures, each with its sources), and
 *  - the simulator of `ecs-batch-runner/testing`.
 * The first proves the expectations hold for what AWS documents; the second that the simulator
 * behaves the same. On top, every field the simulator returns must be a documented field with
 * the documented type, so its shapes are not invented.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import {
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import {
  DeregisterTaskDefinitionCommand,
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  type RegisterTaskDefinitionCommandInput,
} from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import type { AwsClient, AwsCommand } from "../../src/index.js";
import { createSimulatedAws, ManualClock, type SimulatedAws } from "../../src/testing/index.js";

type Json = Record<string, unknown>;

interface Fixture {
  service: "ecs" | "logs" | "ec2";
  action: string;
  request: Json;
  response: Json;
  scenarios?: {
    name: string;
    request: Json;
    response?: Json;
    error?: { name: string; message?: string } & Json;
  }[];
  responseFields: Record<string, string>;
}

const dir = join(import.meta.dirname, "fixtures");
const fixture = (service: string, action: string): Fixture =>
  JSON.parse(readFileSync(join(dir, `${service}.${action}.json`), "utf8")) as Fixture;

// ---- shapes --------------------------------------------------------------------------------

/** ECS fixtures write timestamps as ISO strings; the SDK hands out Dates. */
function revive(service: string, value: unknown, key = ""): unknown {
  if (Array.isArray(value)) return value.map((v) => revive(service, v, key));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(service, v, k)]));
  }
  if (
    service === "ecs" &&
    typeof value === "string" &&
    /At$/.test(key) &&
    !Number.isNaN(Date.parse(value))
  ) {
    return new Date(value);
  }
  return value;
}

function typeOf(v: unknown): string {
  if (v instanceof Date) return "date";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Every path in a value (`tasks[].containers[].exitCode`) with its type. */
function shape(value: unknown, path = "", out = new Map<string, string>()): Map<string, string> {
  if (value === null || value === undefined) return out;
  if (path !== "") out.set(path, typeOf(value));
  if (Array.isArray(value)) for (const v of value) shape(v, `${path}[]`, out);
  else if (typeof value === "object" && !(value instanceof Date)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === "$metadata") continue;
      shape(v, path === "" ? k : `${path}.${k}`, out);
    }
  }
  return out;
}

/**
 * The same structure appears under several actions (a Task in RunTask, DescribeTasks and
 * StopTask; a TaskDefinition in Describe/Register/Deregister): paths are keyed by structure.
 */
function canonical(path: string): string {
  return path
    .replace(/^(tasks\[\]|task)(?=\.|$)/, "Task")
    .replace(/^taskDefinition(?=\.|$)/, "TaskDefinition");
}

let documentedCache: Map<string, string | undefined> | undefined;

/** Every documented path: all fixture responses plus the paths the references list. */
function documented(): Map<string, string | undefined> {
  if (documentedCache !== undefined) return documentedCache;
  const paths = new Map<string, string | undefined>();
  for (const file of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
    const f = JSON.parse(readFileSync(join(dir, file), "utf8")) as Fixture;
    const key = (p: string): string => `${f.service}:${canonical(p)}`;
    for (const r of [f.response, ...(f.scenarios ?? []).map((s) => s.response)]) {
      for (const [p, t] of shape(revive(f.service, r))) paths.set(key(p), t);
    }
    for (const p of Object.keys(f.responseFields)) {
      let prefix = "";
      for (const part of p.split(".")) {
        prefix = prefix === "" ? part : `${prefix}.${part}`;
        if (!paths.has(key(prefix))) paths.set(key(prefix), undefined);
        if (prefix.endsWith("[]") && !paths.has(key(prefix.slice(0, -2))))
          paths.set(key(prefix.slice(0, -2)), "array");
      }
    }
  }
  documentedCache = paths;
  return paths;
}

/** Fails when `output` carries a field the reference does not document, or a documented field with another type. */
function expectDocumentedShape(f: Fixture, output: unknown): void {
  const known = documented();
  const problems: string[] = [];
  for (const [path, type] of shape(output)) {
    const key = `${f.service}:${canonical(path)}`;
    if (!known.has(key)) problems.push(`${path} (${type}) is not a documented field`);
    else {
      const want = known.get(key);
      if (want !== undefined && want !== type)
        problems.push(`${path} is ${type}, documented as ${want}`);
    }
  }
  expect(problems, `${f.service}:${f.action}`).toEqual([]);
}

// ---- backends ------------------------------------------------------------------------------

interface Backend {
  readonly kind: "fixture" | "simulator";
  send(service: Fixture["service"], command: object): Promise<Json>;
  /** For the simulator: the account, prepared for the fixtures' requests. */
  readonly aws?: SimulatedAws;
  readonly clock?: ManualClock;
}

type Outcome = { ok: true; out: Json } | { ok: false; error: Error & Json };

async function attempt(p: Promise<Json>): Promise<Outcome> {
  try {
    return { ok: true, out: await p };
  } catch (e) {
    return { ok: false, error: e as Error & Json };
  }
}

/** Replays one documented response or error for any request. */
function fixtureBackend(f: Fixture, scenario?: string): Backend {
  const s = scenario === undefined ? undefined : f.scenarios?.find((x) => x.name === scenario);
  if (scenario !== undefined && s === undefined)
    throw new Error(`no scenario "${scenario}" in ${f.action}`);
  const clients = {
    ecs: new ECSClient({ region: "us-east-1" }),
    logs: new CloudWatchLogsClient({ region: "us-east-1" }),
    ec2: new EC2Client({ region: "us-east-1" }),
  };
  const mock = mockClient(clients[f.service] as ECSClient);
  if (s?.error !== undefined) {
    const err = Object.assign(new Error(s.error.message ?? s.error.name), s.error, {
      $fault: "client",
      $metadata: { httpStatusCode: (s.error.httpStatusCode as number | undefined) ?? 400 },
    });
    err.name = s.error.name;
    mock.onAnyCommand().rejects(err);
  } else {
    mock.onAnyCommand().resolves(revive(f.service, s?.response ?? f.response) as never);
  }
  return {
    kind: "fixture",
    send: (service, command) =>
      (clients[service] as unknown as AwsClient).send(command as AwsCommand) as Promise<Json>,
  };
}

const reportJob = (revision: number): RegisterTaskDefinitionCommandInput => ({
  family: "report-job",
  networkMode: "awsvpc",
  requiresCompatibilities: ["FARGATE"],
  cpu: "512",
  memory: "1024",
  containerDefinitions: [
    {
      name: "report",
      image: `012345678910.dkr.ecr.us-east-1.amazonaws.com/report:1.${revision}.0`,
      logConfiguration: {
        logDriver: "awslogs",
        options: {
          "awslogs-group": "/ecs/report-job",
          "awslogs-region": "us-east-1",
          "awslogs-stream-prefix": "ecs",
        },
      },
    },
  ],
});

/** A simulated account in which the fixtures' requests are valid as written. */
function simulatorBackend(options: { defaultVpc?: boolean } = {}): Backend {
  const clock = new ManualClock({ start: Date.UTC(2024, 0, 15, 10) });
  const aws = createSimulatedAws({
    clock,
    region: "us-east-1",
    accountId: "012345678910",
    clusters: ["default", "batch", "MyCluster"],
    defaultVpc: false,
    vpcs: [
      ...(options.defaultVpc === false
        ? []
        : [
            {
              vpcId: "vpc-a01106c2",
              isDefault: true,
              cidrBlock: "172.31.0.0/16",
              subnets: Array.from({ length: 6 }, (_, i) => ({
                subnetId: `subnet-${(0x9d4a7b60 + i).toString(16)}`,
                availabilityZone: `us-east-1${"abcdef"[i] ?? "a"}`,
                cidrBlock: `172.31.${i * 16}.0/20`,
              })),
              securityGroups: [{ groupId: "sg-903004f8", groupName: "default" }],
            },
          ]),
      {
        vpcId: "vpc-1a2b3c4d",
        isDefault: false,
        cidrBlock: "10.0.0.0/16",
        subnets: [],
        securityGroups: [{ groupId: "sg-1a2b3c4d", groupName: "my-sg" }],
      },
    ],
  });
  for (let r = 1; r <= 3; r++) aws.registerTaskDefinition(reportJob(r));
  aws.registerTaskDefinition({ ...reportJob(1), family: "fargate-task" });
  aws.registerTaskDefinition({ ...reportJob(1), family: "wordpress" });
  aws.registerTaskDefinition({ ...reportJob(2), family: "wordpress" });
  aws.registerTaskDefinition({
    family: "big-job",
    containerDefinitions: [{ name: "big", image: "big", memory: 4096 }],
  });
  return {
    kind: "simulator",
    aws,
    clock,
    send: (service, command) => aws.clients[service].send(command as never) as Promise<Json>,
  };
}

// ---- contracts -----------------------------------------------------------------------------

interface Contract {
  readonly service: Fixture["service"];
  readonly action: string;
  /** Which documented scenario the fixture backend replays; the main response when absent. */
  readonly scenario?: string;
  readonly name: string;
  /** Builds the command; on the simulator it may first create the state the request refers to. */
  command(f: Fixture, b: Backend): Promise<object>;
  /** The shared expectation. */
  expect(outcome: Outcome, f: Fixture): void;
}

const ok = (o: Outcome): Json => {
  if (!o.ok) throw o.error;
  return o.out;
};
const failsWith = (name: string, message?: RegExp) => (o: Outcome) => {
  expect(o.ok, "expected an error").toBe(false);
  if (o.ok) return;
  expect(o.error.name).toBe(name);
  expect((o.error.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode).toBe(400);
  if (message !== undefined) expect(o.error.message).toMatch(message);
};
const TASK_ARN = /^arn:aws:ecs:[a-z0-9-]+:\d{12}:task\/[A-Za-z0-9_-]+\/[A-Za-z0-9-]+$/;

/** Runs the fixture's RunTask on the simulator and returns the task ARN. */
async function simTask(
  b: Backend,
  script: Parameters<SimulatedAws["script"]>[1] = {},
  cluster = "batch",
): Promise<string> {
  const f = fixture("ecs", "RunTask");
  const aws = b.aws as SimulatedAws;
  aws.script({}, script, { times: 1 });
  const out = (await aws.ecs.send(
    new RunTaskCommand({ ...f.request, cluster, clientToken: undefined } as never),
  )) as Json;
  return ((out.tasks as Json[])[0] as Json).taskArn as string;
}

const contracts: Contract[] = [
  // ECS
  {
    service: "ecs",
    action: "RunTask",
    name: "a placed task: PROVISIONING or PENDING, desired RUNNING, request echoed",
    command: (f) => Promise.resolve(new RunTaskCommand(f.request as never)),
    expect(o, f) {
      const out = ok(o);
      const task = (out.tasks as Json[])[0] as Json;
      expect(task.taskArn).toMatch(TASK_ARN);
      expect(["PROVISIONING", "PENDING"]).toContain(task.lastStatus);
      expect(task.desiredStatus).toBe("RUNNING");
      expect(task.startedBy).toBe(f.request.startedBy);
      expect(task.taskDefinitionArn).toMatch(/task-definition\/report-job:3$/);
      expect((task.containers as Json[]).map((c) => c.name)).toEqual(["report"]);
      expect(task.stopCode).toBeUndefined();
      expect(out.failures).toEqual([]);
    },
  },
  {
    service: "ecs",
    action: "RunTask",
    scenario: "placement failure reported in failures[] (HTTP 200, not an exception)",
    name: "a placement failure is returned in failures[], not thrown",
    command(f, b) {
      b.aws?.failLaunch({ family: "big-job" }, "RESOURCE:MEMORY");
      return Promise.resolve(
        new RunTaskCommand(f.scenarios?.find((s) => s.name === this.scenario)?.request as never),
      );
    },
    expect(o) {
      const out = ok(o);
      expect(out.tasks).toEqual([]);
      const failure = (out.failures as Json[])[0] as Json;
      expect(failure.reason).toBe("RESOURCE:MEMORY");
      expect(typeof failure.arn).toBe("string");
    },
  },
  {
    service: "ecs",
    action: "RunTask",
    scenario: "clientToken reused with different parameters",
    name: "a clientToken reused with other parameters is a ConflictException naming the task",
    async command(f, b) {
      if (b.aws !== undefined) await b.aws.ecs.send(new RunTaskCommand(f.request as never));
      return new RunTaskCommand({ ...f.request, taskDefinition: "report-job:2" });
    },
    expect(o) {
      failsWith("ConflictException")(o);
      if (!o.ok) expect((o.error.resourceIds as string[])[0]).toMatch(TASK_ARN);
    },
  },
  {
    service: "ecs",
    action: "DescribeTasks",
    name: "known tasks in tasks[], unknown ones in failures[] as MISSING",
    async command(f, b) {
      const tasks = f.request.tasks as string[];
      if (b.aws === undefined) return new DescribeTasksCommand(f.request as never);
      const arn = await simTask(b, { exitCode: 1 });
      await b.clock?.advance(60_000);
      return new DescribeTasksCommand({ ...f.request, tasks: [arn, tasks[1]] } as never);
    },
    expect(o) {
      const out = ok(o);
      const task = (out.tasks as Json[])[0] as Json;
      expect(task).toMatchObject({
        lastStatus: "STOPPED",
        desiredStatus: "STOPPED",
        stopCode: "EssentialContainerExited",
      });
      expect(((task.containers as Json[])[0] as Json).exitCode).toBe(1);
      expect(task.stoppedAt).toBeInstanceOf(Date);
      expect(Array.isArray(task.tags)).toBe(true);
      expect(out.failures).toEqual([
        { arn: expect.stringMatching(TASK_ARN) as unknown, reason: "MISSING" },
      ]);
    },
  },
  {
    service: "ecs",
    action: "DescribeTasks",
    scenario: "task stopped via StopTask (user initiated)",
    name: "a task stopped with StopTask: UserInitiated, reason kept, containers killed",
    async command(f, b) {
      if (b.aws === undefined) return new DescribeTasksCommand({ cluster: "batch", tasks: ["x"] });
      const arn = await simTask(b);
      await b.clock?.advance(10_000);
      await b.aws.ecs.send(
        new StopTaskCommand({
          cluster: "batch",
          task: arn,
          reason: "cancelled by ecs-batch-runner",
        }),
      );
      await b.clock?.advance(60_000);
      return new DescribeTasksCommand({ cluster: "batch", tasks: [arn] });
    },
    expect(o) {
      const task = (ok(o).tasks as Json[])[0] as Json;
      expect(task).toMatchObject({
        lastStatus: "STOPPED",
        stopCode: "UserInitiated",
        stoppedReason: "cancelled by ecs-batch-runner",
      });
      expect(((task.containers as Json[])[0] as Json).exitCode).toBe(143);
    },
  },
  {
    service: "ecs",
    action: "DescribeTasks",
    scenario: "task failed to start (image pull)",
    name: "a task that failed to start: TaskFailedToStart, no exit code, the reason on the container",
    async command(_f, b) {
      if (b.aws === undefined) return new DescribeTasksCommand({ cluster: "batch", tasks: ["x"] });
      const reason =
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref report:9.9.9: not found";
      const arn = await simTask(b, { startFailure: reason });
      await b.clock?.advance(60_000);
      return new DescribeTasksCommand({ cluster: "batch", tasks: [arn] });
    },
    expect(o) {
      const task = (ok(o).tasks as Json[])[0] as Json;
      expect(task).toMatchObject({ lastStatus: "STOPPED", stopCode: "TaskFailedToStart" });
      expect(task.stoppedReason).toMatch(/^CannotPullContainerError/);
      const container = (task.containers as Json[])[0] as Json;
      expect(container.exitCode).toBeUndefined();
      expect(container.reason).toMatch(/^CannotPullContainerError/);
    },
  },
  {
    service: "ecs",
    action: "DescribeTasks",
    scenario: "empty tasks list",
    name: "an empty task list is an InvalidParameterException",
    command: () => Promise.resolve(new DescribeTasksCommand({ cluster: "batch", tasks: [] })),
    expect: failsWith("InvalidParameterException", /Tasks cannot be empty/),
  },
  {
    service: "ecs",
    action: "StopTask",
    name: "StopTask answers at once: desired STOPPED, not yet STOPPED, reason echoed",
    async command(f, b) {
      if (b.aws === undefined) return new StopTaskCommand(f.request as never);
      const arn = await simTask(b, {}, "MyCluster");
      await b.clock?.advance(10_000);
      return new StopTaskCommand({ ...f.request, task: arn.split("/").pop() });
    },
    expect(o, f) {
      const task = ok(o).task as Json;
      expect(task.desiredStatus).toBe("STOPPED");
      expect(task.lastStatus).toBe("RUNNING");
      expect(task.stoppedReason).toBe(f.request.reason);
    },
  },
  {
    service: "ecs",
    action: "StopTask",
    scenario: "stop an unknown / already-expired task",
    name: "stopping an unknown task is an InvalidParameterException",
    command: () =>
      Promise.resolve(
        new StopTaskCommand({ cluster: "batch", task: "ffffffff-ffff-ffff-ffff-ffffffffffff" }),
      ),
    expect: failsWith("InvalidParameterException", /referenced task was not found/),
  },
  {
    service: "ecs",
    action: "StopTask",
    scenario: "malformed task identifier",
    name: "a malformed task id is an InvalidParameterException",
    command: () =>
      Promise.resolve(new StopTaskCommand({ cluster: "batch", task: "not a task id" })),
    expect: failsWith("InvalidParameterException", /Task Identifier is invalid/),
  },
  {
    service: "ecs",
    action: "ListTasks",
    name: "ListTasks by startedBy returns task ARNs only",
    async command(f, b) {
      if (b.aws !== undefined) await simTask(b);
      return new ListTasksCommand(f.request);
    },
    expect(o) {
      const arns = ok(o).taskArns as string[];
      expect(arns.length).toBeGreaterThan(0);
      for (const a of arns) expect(a).toMatch(TASK_ARN);
    },
  },
  {
    service: "ecs",
    action: "ListTasks",
    scenario: "paginated page with nextToken",
    name: "ListTasks pages with nextToken",
    async command(f, b) {
      if (b.aws !== undefined) {
        await simTask(b);
        await simTask(b);
        await b.clock?.advance(60_000);
      }
      return new ListTasksCommand(
        f.scenarios?.find((s) => s.name === this.scenario)?.request as never,
      );
    },
    expect(o) {
      const out = ok(o);
      expect(out.taskArns).toHaveLength(1);
      expect(typeof out.nextToken).toBe("string");
    },
  },
  {
    service: "ecs",
    action: "DescribeTaskDefinition",
    name: "a family resolves to its latest ACTIVE revision, with AWS defaults and tags",
    command: (f) => Promise.resolve(new DescribeTaskDefinitionCommand(f.request as never)),
    expect(o) {
      const out = ok(o);
      const def = out.taskDefinition as Json;
      expect(def).toMatchObject({ family: "report-job", status: "ACTIVE" });
      expect(typeof def.revision).toBe("number");
      expect(((def.containerDefinitions as Json[])[0] as Json).essential).toBe(true);
      expect(Array.isArray(out.tags)).toBe(true);
    },
  },
  {
    service: "ecs",
    action: "DescribeTaskDefinition",
    scenario: "unknown family / revision",
    name: "an unknown family is a ClientException",
    command: () => Promise.resolve(new DescribeTaskDefinitionCommand({ taskDefinition: "foobar" })),
    expect: failsWith("ClientException", /^Unable to describe task definition\.$/),
  },
  {
    service: "ecs",
    action: "RegisterTaskDefinition",
    name: "registration returns an ACTIVE revision with defaults filled in",
    command: (f) => Promise.resolve(new RegisterTaskDefinitionCommand(f.request as never)),
    expect(o) {
      const def = ok(o).taskDefinition as Json;
      expect(def.status).toBe("ACTIVE");
      expect(typeof def.revision).toBe("number");
      expect(def.taskDefinitionArn).toMatch(/:task-definition\/report-job:\d+$/);
      expect(def.registeredAt).toBeInstanceOf(Date);
    },
  },
  {
    service: "ecs",
    action: "RegisterTaskDefinition",
    scenario: "invalid family name",
    name: "an invalid family is a ClientException",
    command: (f) =>
      Promise.resolve(
        new RegisterTaskDefinitionCommand(
          f.scenarios?.find((s) => s.name === "invalid family name")?.request as never,
        ),
      ),
    expect: failsWith("ClientException", /Family contains invalid characters/),
  },
  {
    service: "ecs",
    action: "RegisterTaskDefinition",
    scenario: "missing family",
    name: "a missing family is a ClientException",
    command: (f) =>
      Promise.resolve(
        new RegisterTaskDefinitionCommand(
          f.scenarios?.find((s) => s.name === "missing family")?.request as never,
        ),
      ),
    expect: failsWith("ClientException", /Family can not be blank/),
  },
  {
    service: "ecs",
    action: "DeregisterTaskDefinition",
    name: "deregistering makes the revision INACTIVE",
    command: (f) => Promise.resolve(new DeregisterTaskDefinitionCommand(f.request as never)),
    expect(o) {
      expect((ok(o).taskDefinition as Json).status).toBe("INACTIVE");
    },
  },
  {
    service: "ecs",
    action: "ListTaskDefinitions",
    name: "ListTaskDefinitions returns ARNs of a family",
    command: (f) => Promise.resolve(new ListTaskDefinitionsCommand(f.request as never)),
    expect(o) {
      const arns = ok(o).taskDefinitionArns as string[];
      expect(arns.length).toBeGreaterThan(0);
      for (const a of arns) expect(a).toMatch(/:task-definition\/wordpress:\d+$/);
    },
  },
  {
    service: "ecs",
    action: "DescribeClusters",
    name: "known clusters in clusters[], unknown ones in failures[] as MISSING",
    command: (f) => Promise.resolve(new DescribeClustersCommand(f.request as never)),
    expect(o) {
      const out = ok(o);
      expect((out.clusters as Json[])[0]).toMatchObject({ clusterName: "batch", status: "ACTIVE" });
      expect(out.failures).toEqual([
        { arn: expect.stringMatching(/:cluster\/does-not-exist$/) as unknown, reason: "MISSING" },
      ]);
    },
  },
  // CloudWatch Logs
  {
    service: "logs",
    action: "GetLogEvents",
    name: "events with epoch-millisecond times, and both tokens",
    async command(f, b) {
      await prepareLogs(b);
      return new GetLogEventsCommand(f.request as never);
    },
    expect(o) {
      const out = ok(o);
      const events = out.events as Json[];
      expect(events.length).toBeGreaterThan(0);
      for (const e of events) {
        expect(typeof e.timestamp).toBe("number");
        expect(typeof e.message).toBe("string");
        expect(typeof e.ingestionTime).toBe("number");
      }
      expect(out.nextForwardToken).toMatch(/^f\//);
      expect(out.nextBackwardToken).toMatch(/^b\//);
    },
  },
  {
    service: "logs",
    action: "GetLogEvents",
    scenario: "end of stream: forward token equals the token passed in",
    name: "at the end of a stream the forward token comes back unchanged",
    async command(f, b) {
      const request = f.scenarios?.find((s) => s.name === this.scenario)?.request as Json;
      if (b.aws === undefined) return new GetLogEventsCommand(request as never);
      await prepareLogs(b);
      const first = (await b.aws.logs.send(new GetLogEventsCommand(f.request as never))) as Json;
      endToken = first.nextForwardToken as string;
      return new GetLogEventsCommand({ ...request, nextToken: endToken } as never);
    },
    expect(o, f) {
      const out = ok(o);
      expect(out.events).toEqual([]);
      const sent =
        endToken ??
        (f.scenarios?.find((s) => s.name === this.scenario)?.request.nextToken as string);
      expect(out.nextForwardToken).toBe(sent);
    },
  },
  {
    service: "logs",
    action: "GetLogEvents",
    scenario: "missing log stream",
    name: "a missing stream is a ResourceNotFoundException",
    async command(_f, b) {
      await prepareLogs(b);
      return new GetLogEventsCommand({
        logGroupName: "/ecs/report-job",
        logStreamName: "ecs/report/not-there",
      });
    },
    expect: failsWith("ResourceNotFoundException", /log stream does not exist/),
  },
  {
    service: "logs",
    action: "GetLogEvents",
    scenario: "missing log group",
    name: "a missing group is a ResourceNotFoundException",
    command: () =>
      Promise.resolve(
        new GetLogEventsCommand({ logGroupName: "/ecs/no-such-group", logStreamName: "x" }),
      ),
    expect: failsWith("ResourceNotFoundException", /log group does not exist/),
  },
  {
    service: "logs",
    action: "FilterLogEvents",
    name: "events of named streams with stream name and event id",
    async command(f, b) {
      await prepareLogs(b);
      return new FilterLogEventsCommand(f.request);
    },
    expect(o) {
      const events = ok(o).events as Json[];
      expect(events.length).toBeGreaterThan(0);
      for (const e of events) {
        expect(typeof e.logStreamName).toBe("string");
        expect(typeof e.eventId).toBe("string");
        expect(typeof e.timestamp).toBe("number");
      }
    },
  },
  {
    service: "logs",
    action: "FilterLogEvents",
    scenario: "more pages available",
    name: "a full page carries a nextToken",
    async command(_f, b) {
      await prepareLogs(b);
      return new FilterLogEventsCommand({ logGroupName: "/ecs/report-job", limit: 1 });
    },
    expect(o) {
      const out = ok(o);
      expect(out.events).toHaveLength(1);
      expect(typeof out.nextToken).toBe("string");
    },
  },
  {
    service: "logs",
    action: "FilterLogEvents",
    scenario: "log group missing",
    name: "a missing group is a ResourceNotFoundException",
    command: () =>
      Promise.resolve(new FilterLogEventsCommand({ logGroupName: "/ecs/no-such-group" })),
    expect: failsWith("ResourceNotFoundException"),
  },
  {
    service: "logs",
    action: "FilterLogEvents",
    scenario: "logStreamNames and logStreamNamePrefix together",
    name: "stream names and a prefix together are an InvalidParameterException",
    async command(_f, b) {
      await prepareLogs(b);
      return new FilterLogEventsCommand({
        logGroupName: "/ecs/report-job",
        logStreamNames: ["ecs/report/a"],
        logStreamNamePrefix: "ecs/",
      });
    },
    expect: failsWith("InvalidParameterException"),
  },
  {
    service: "logs",
    action: "DescribeLogStreams",
    name: "streams by prefix with creation and event times",
    async command(f, b) {
      await prepareLogs(b);
      return new DescribeLogStreamsCommand(f.request);
    },
    expect(o) {
      const streams = ok(o).logStreams as Json[];
      expect(streams.length).toBeGreaterThan(0);
      for (const s of streams) {
        expect(s.logStreamName).toMatch(/^ecs\/report\//);
        expect(typeof s.creationTime).toBe("number");
      }
    },
  },
  {
    service: "logs",
    action: "DescribeLogStreams",
    scenario: "prefix with orderBy LastEventTime",
    name: "a prefix with orderBy LastEventTime is an InvalidParameterException",
    async command(_f, b) {
      await prepareLogs(b);
      return new DescribeLogStreamsCommand({
        logGroupName: "/ecs/report-job",
        logStreamNamePrefix: "ecs/",
        orderBy: "LastEventTime",
      });
    },
    expect: failsWith("InvalidParameterException"),
  },
  {
    service: "logs",
    action: "CreateLogGroup",
    scenario: "log group already exists",
    name: "creating an existing group is a ResourceAlreadyExistsException",
    async command(_f, b) {
      await prepareLogs(b);
      return new CreateLogGroupCommand({ logGroupName: "/ecs/report-job" });
    },
    expect: failsWith("ResourceAlreadyExistsException"),
  },
  {
    service: "logs",
    action: "CreateLogStream",
    scenario: "group missing",
    name: "a stream in a missing group is a ResourceNotFoundException",
    command: () =>
      Promise.resolve(
        new CreateLogStreamCommand({ logGroupName: "/ecs/no-such-group", logStreamName: "s" }),
      ),
    expect: failsWith("ResourceNotFoundException"),
  },
  {
    service: "logs",
    action: "PutLogEvents",
    scenario: "stream missing",
    name: "writing to a missing stream is a ResourceNotFoundException",
    async command(_f, b) {
      await prepareLogs(b);
      return new PutLogEventsCommand({
        logGroupName: "/ecs/report-job",
        logStreamName: "gone",
        logEvents: [{ timestamp: 1705312840100, message: "x" }],
      });
    },
    expect: failsWith("ResourceNotFoundException", /log stream does not exist/),
  },
  // EC2
  {
    service: "ec2",
    action: "DescribeVpcs",
    name: "the default VPC by the is-default filter",
    command: (f) => Promise.resolve(new DescribeVpcsCommand(f.request as never)),
    expect(o) {
      const vpc = (ok(o).Vpcs as Json[])[0] as Json;
      expect(vpc.IsDefault).toBe(true);
      expect(vpc.VpcId).toMatch(/^vpc-/);
    },
  },
  {
    service: "ec2",
    action: "DescribeVpcs",
    scenario: "default VPC via the legacy filter name",
    name: "the legacy isDefault filter name works too",
    command: () =>
      Promise.resolve(
        new DescribeVpcsCommand({ Filters: [{ Name: "isDefault", Values: ["true"] }] }),
      ),
    expect(o) {
      expect(((ok(o).Vpcs as Json[])[0] as Json).IsDefault).toBe(true);
    },
  },
  {
    service: "ec2",
    action: "DescribeVpcs",
    scenario: "unknown VPC id",
    name: "an unknown VPC id is InvalidVpcID.NotFound",
    command: () => Promise.resolve(new DescribeVpcsCommand({ VpcIds: ["vpc-00000000"] })),
    expect: failsWith("InvalidVpcID.NotFound"),
  },
  {
    service: "ec2",
    action: "DescribeSubnets",
    name: "a VPC's subnets with zone and VPC id",
    command: (f) => Promise.resolve(new DescribeSubnetsCommand(f.request as never)),
    expect(o) {
      const subnets = ok(o).Subnets as Json[];
      expect(subnets.length).toBeGreaterThan(0);
      for (const s of subnets) {
        expect(s.SubnetId).toMatch(/^subnet-/);
        expect(s.VpcId).toBe("vpc-a01106c2");
        expect(typeof s.AvailabilityZone).toBe("string");
      }
    },
  },
  {
    service: "ec2",
    action: "DescribeSubnets",
    scenario: "paginated",
    name: "a full page carries a NextToken",
    command: (f) =>
      Promise.resolve(
        new DescribeSubnetsCommand(
          f.scenarios?.find((s) => s.name === "paginated")?.request as never,
        ),
      ),
    expect(o) {
      const out = ok(o);
      expect((out.Subnets as Json[]).length).toBeGreaterThan(0);
      expect((out.Subnets as Json[]).length).toBeLessThanOrEqual(5);
      expect(typeof out.NextToken).toBe("string");
    },
  },
  {
    service: "ec2",
    action: "DescribeSubnets",
    scenario: "unknown subnet id",
    name: "an unknown subnet id is InvalidSubnetID.NotFound",
    command: () => Promise.resolve(new DescribeSubnetsCommand({ SubnetIds: ["subnet-d03567fa"] })),
    expect: failsWith("InvalidSubnetID.NotFound"),
  },
  {
    service: "ec2",
    action: "DescribeSecurityGroups",
    name: "security groups by VPC and group name",
    command: (f) => Promise.resolve(new DescribeSecurityGroupsCommand(f.request as never)),
    expect(o) {
      const group = (ok(o).SecurityGroups as Json[])[0] as Json;
      expect(group.GroupId).toMatch(/^sg-/);
      expect(group.GroupName).toBe("my-sg");
      expect(group.VpcId).toBe("vpc-1a2b3c4d");
    },
  },
];

let endToken: string | undefined;

async function prepareLogs(b: Backend): Promise<void> {
  if (b.aws === undefined) return;
  const put = fixture("logs", "PutLogEvents").request;
  await b.aws.logs.send(new CreateLogGroupCommand({ logGroupName: put.logGroupName as string }));
  await b.aws.logs.send(
    new CreateLogStreamCommand({
      logGroupName: put.logGroupName as string,
      logStreamName: put.logStreamName as string,
    }),
  );
  await b.aws.logs.send(new PutLogEventsCommand(put as never));
  await b.aws.logs.send(
    new PutLogEventsCommand({
      ...put,
      logEvents: [{ timestamp: 1705312841000, message: "done" }],
    } as never),
  );
}

describe.each(["fixture", "simulator"] as const)("contract against the %s", (kind) => {
  it.each(contracts.map((c) => [`${c.service}:${c.action}: ${c.name}`, c] as const))(
    "%s",
    async (_name, c) => {
      endToken = undefined;
      const f = fixture(c.service, c.action);
      const backend = kind === "fixture" ? fixtureBackend(f, c.scenario) : simulatorBackend();
      const command = await c.command(f, backend);
      const outcome = await attempt(backend.send(c.service, command));
      c.expect(outcome, f);
      if (kind === "simulator" && outcome.ok) expectDocumentedShape(f, outcome.out);
    },
  );
});

describe("the simulator without a default VPC", () => {
  it("answers DescribeVpcs like the documented 'no default VPC' scenario", async () => {
    const f = fixture("ec2", "DescribeVpcs");
    const documentedOut = f.scenarios?.find(
      (s) => s.name === "no default VPC in the Region",
    )?.response;
    const out = await simulatorBackend({ defaultVpc: false }).send(
      "ec2",
      new DescribeVpcsCommand(f.request),
    );
    expect({ Vpcs: out.Vpcs }).toEqual(documentedOut);
  });
});
