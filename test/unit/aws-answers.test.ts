/**
 * Issue #19, item 10: before anything is launched, `run()` rejects only with
 * `EcsBatchSetupError`. A command a partial `aws-sdk-client-mock` mock does not answer, and
 * missing credentials, are each reported by the call they struck and what to do about it.
 */
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { DescribeVpcsCommand, EC2Client } from "@aws-sdk/client-ec2";
import {
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  type RegisterTaskDefinitionCommandInput,
} from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import {
  EmptyResponseError,
  isAccessDeniedError,
  isNoCredentialsError,
  isTransientError,
  sendFor,
} from "../../src/aws.js";
import {
  EcsBatchRunner,
  EcsBatchSetupError,
  NetworkResolver,
  checkCluster,
  parseJob,
  type BatchJobInput,
} from "../../src/index.js";
import { ManualClock } from "../../src/testing/index.js";
import { clientException, registered } from "../helpers/aws-mocks.js";

const REGION = "us-west-2";
const ARN = "arn:aws:ecs:us-west-2:123456789012:task-definition/batch-job:3";
const template: RegisterTaskDefinitionCommandInput = {
  family: "batch-job",
  requiresCompatibilities: ["FARGATE"],
  networkMode: "awsvpc",
  cpu: "256",
  memory: "512",
  containerDefinitions: [{ name: "main", image: "alpine:latest" }],
};
const ACTIVE_CLUSTER = { clusters: [{ clusterName: "default", status: "ACTIVE" }], failures: [] };

/** A mock of every ECSClient, as a user writing a first test would set one up. */
const ecsMock = mockClient(ECSClient);
const ec2Mock = mockClient(EC2Client);
const logsMock = mockClient(CloudWatchLogsClient);

afterEach(() => {
  ecsMock.reset();
  ec2Mock.reset();
  logsMock.reset();
});

function runner(clock = new ManualClock()): { runner: EcsBatchRunner; clock: ManualClock } {
  return {
    clock,
    runner: new EcsBatchRunner({
      clients: {
        ecs: new ECSClient({ region: REGION }),
        ec2: new EC2Client({ region: REGION }),
        logs: new CloudWatchLogsClient({ region: REGION }),
      },
      clock,
      random: () => 0.5,
    }),
  };
}

async function rejection(input: BatchJobInput): Promise<unknown> {
  const { runner: r, clock } = runner();
  return clock.runUntil(r.run(input)).then(
    () => new Error("run() resolved; expected it to reject"),
    (error: unknown) => error,
  );
}

/** A credentials error as the SDK's default chain throws it. */
function noCredentials(message = "Could not load credentials from any providers"): Error {
  const error = new Error(message);
  error.name = "CredentialsProviderError";
  return error;
}

describe("a command the mock does not answer", () => {
  it("DescribeClusters: run() rejects with a setup error naming the command and the fix", async () => {
    const error = await rejection({
      taskDefinition: { arn: ARN },
      network: { subnets: ["subnet-0abc1234"] },
    });
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "EMPTY_RESPONSE" });
    const message = (error as Error).message;
    expect(message).toContain("DescribeClusters answered undefined");
    expect(message).toContain("mock DescribeClustersCommand");
    expect(message).toContain("docs/testing.md");
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it("DescribeTaskDefinition of an { arn }", async () => {
    ecsMock.on(DescribeClustersCommand).resolves(ACTIVE_CLUSTER);
    const error = await rejection({
      taskDefinition: { arn: ARN },
      network: { subnets: ["subnet-0abc1234"] },
    });
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "EMPTY_RESPONSE" });
    expect((error as Error).message).toContain("mock DescribeTaskDefinitionCommand");
  });

  it("RegisterTaskDefinition of a template", async () => {
    ecsMock.on(DescribeClustersCommand).resolves(ACTIVE_CLUSTER);
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .rejects(clientException("Unable to describe task definition."));
    const error = await rejection({
      taskDefinition: { definition: template },
      network: { subnets: ["subnet-0abc1234"] },
    });
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "EMPTY_RESPONSE" });
    expect((error as Error).message).toContain("mock RegisterTaskDefinitionCommand");
  });

  it("EC2 DescribeVpcs and DescribeSubnets, when the network is inferred", async () => {
    ecsMock.on(DescribeClustersCommand).resolves(ACTIVE_CLUSTER);
    ecsMock.on(DescribeTaskDefinitionCommand).resolves({
      taskDefinition: registered(template, 3),
    });
    const vpcs = await rejection({ taskDefinition: { arn: ARN } });
    expect(vpcs).toBeInstanceOf(EcsBatchSetupError);
    expect((vpcs as Error).message).toContain("mock DescribeVpcsCommand");

    ec2Mock.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: "vpc-1", IsDefault: true }] });
    const subnets = await rejection({ taskDefinition: { arn: ARN } });
    expect(subnets).toBeInstanceOf(EcsBatchSetupError);
    expect(subnets).toMatchObject({ code: "EMPTY_RESPONSE" });
    expect((subnets as Error).message).toContain("mock DescribeSubnetsCommand");
  });

  it("preview() reports it the same way", async () => {
    const { runner: r } = runner();
    await expect(
      r.preview({ taskDefinition: { arn: ARN }, network: { subnets: ["subnet-0abc1234"] } }),
    ).rejects.toMatchObject({ code: "EMPTY_RESPONSE", name: "EcsBatchSetupError" });
  });

  it("sendFor names the action and is not a transient error", async () => {
    const client = { send: () => Promise.resolve(undefined) };
    const error = await sendFor(client, new RunTaskCommand({ taskDefinition: "x" })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EmptyResponseError);
    expect(error).toMatchObject({ action: "RunTask", name: "EmptyResponseError" });
    expect(isTransientError(error)).toBe(false);
    await expect(
      sendFor(
        { send: () => Promise.resolve({ tasks: [] }) },
        new RunTaskCommand({ taskDefinition: "x" }),
      ),
    ).resolves.toEqual({ tasks: [] });
  });
});

describe("no credentials", () => {
  it("from DescribeTaskDefinition: says none were found and where the SDK looked, not which grant is missing", async () => {
    ecsMock.on(DescribeClustersCommand).resolves(ACTIVE_CLUSTER);
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .rejects(noCredentials("Profile team-prod-admin could not be found"));
    const error = await rejection({
      taskDefinition: { arn: ARN },
      network: { subnets: ["subnet-0abc1234"] },
    });
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect(error).toMatchObject({ code: "NO_CREDENTIALS" });
    const message = (error as Error).message;
    expect(message).toContain("DescribeTaskDefinition was not sent");
    expect(message).toContain("no AWS credentials were found");
    for (const place of ["AWS_ACCESS_KEY_ID", "AWS_PROFILE", "~/.aws/credentials", "SSO"]) {
      expect(message).toContain(place);
    }
    expect(message).toMatch(/web identity/);
    expect(message).toMatch(/instance metadata/);
    expect(message).not.toMatch(/grant/);
    // What the SDK found (here a profile name) is not repeated: only where it looked.
    expect(message).not.toContain("team-prod-admin");
  });

  it("is found at the cluster check, before anything else is tried", async () => {
    ecsMock.onAnyCommand().rejects(noCredentials());
    const error = await rejection({
      taskDefinition: { definition: template },
      network: { subnets: ["subnet-0abc1234"] },
    });
    expect(error).toMatchObject({ code: "NO_CREDENTIALS", name: "EcsBatchSetupError" });
    expect((error as Error).message).toContain("DescribeClusters was not sent");
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
  });

  it("from EC2 network inference, and from checkCluster alone", async () => {
    const clock = new ManualClock();
    const ec2 = { send: () => Promise.reject(noCredentials()) };
    const network = new NetworkResolver(ec2, clock);
    const job = parseJob({ taskDefinition: { arn: ARN } });
    const inferred = await clock
      .runUntil(network.resolve(job.network, "awsvpc"))
      .catch((e: unknown) => e);
    expect(inferred).toMatchObject({ code: "NO_CREDENTIALS", name: "EcsBatchSetupError" });
    expect((inferred as Error).message).toContain("DescribeVpcs was not sent");
    expect((inferred as Error).message).not.toMatch(/grant|denied/);

    const ecs = { send: () => Promise.reject(noCredentials()) };
    await expect(clock.runUntil(checkCluster(ecs, "default"))).rejects.toMatchObject({
      code: "NO_CREDENTIALS",
    });
  });

  it("is told apart from a denial by the classifier", () => {
    expect(isNoCredentialsError(noCredentials())).toBe(true);
    expect(isAccessDeniedError(noCredentials())).toBe(false);
    expect(isNoCredentialsError(new Error("Could not load credentials from any providers"))).toBe(
      true,
    );
    const denied = Object.assign(new Error("not authorized"), { name: "AccessDeniedException" });
    expect(isNoCredentialsError(denied)).toBe(false);
    expect(isAccessDeniedError(denied)).toBe(true);
  });
});
