import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import {
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import {
  DescribeClustersCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type TaskDefinition,
} from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { EcsBatchRunner, type EcsBatchRunnerOptions } from "../../src/index.js";

export const REGION = "us-west-2";
export const ACCOUNT = "123456789012";

/** Request-level mocks of the three clients, with a default VPC and an empty ECS account. */
export function createMocks() {
  const ecsClient = new ECSClient({ region: REGION });
  const logsClient = new CloudWatchLogsClient({ region: REGION });
  const ec2Client = new EC2Client({ region: REGION });
  const ecs = mockClient(ecsClient);
  const logs = mockClient(logsClient);
  const ec2 = mockClient(ec2Client);
  ecs.on(DescribeClustersCommand).callsFake((input: { clusters?: string[] }) => ({
    clusters: (input.clusters ?? []).map((c) => ({
      clusterName: c,
      clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${c}`,
      status: "ACTIVE",
    })),
    failures: [],
  }));
  ecs
    .on(DescribeTaskDefinitionCommand)
    .rejects(clientException("Unable to describe task definition."));
  ecs.on(RegisterTaskDefinitionCommand).callsFake((input: RegisterTaskDefinitionCommandInput) => ({
    taskDefinition: registered(input, 1),
  }));
  ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: "vpc-default1", IsDefault: true }] });
  ec2.on(DescribeSubnetsCommand).resolves({
    Subnets: [{ SubnetId: "subnet-bbbb2222" }, { SubnetId: "subnet-aaaa1111" }],
  });
  ec2.on(DescribeSecurityGroupsCommand).resolves({
    SecurityGroups: [{ GroupId: "sg-default1", GroupName: "default" }],
  });
  return { ecs, logs, ec2, clients: { ecs: ecsClient, logs: logsClient, ec2: ec2Client } };
}

export type Mocks = ReturnType<typeof createMocks>;

/** A runner over the mocks, with deterministic randomness. */
export function runnerFor(mocks: Mocks, options: EcsBatchRunnerOptions = {}): EcsBatchRunner {
  return new EcsBatchRunner({ clients: mocks.clients, random: () => 0.5, ...options });
}

/** What DescribeTaskDefinition/RegisterTaskDefinition would return for `input` at `revision`. */
export function registered(
  input: RegisterTaskDefinitionCommandInput,
  revision: number,
): TaskDefinition {
  const { tags: _tags, ...rest } = input;
  return {
    ...rest,
    taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${input.family}:${revision}`,
    revision,
    status: "ACTIVE",
    compatibilities: ["EC2", "FARGATE"],
    requiresAttributes: [{ name: "com.amazonaws.ecs.capability.task-iam-role" }],
    registeredAt: new Date("2026-01-01T00:00:00Z"),
    registeredBy: `arn:aws:iam::${ACCOUNT}:role/deployer`,
    networkMode: input.networkMode ?? "bridge",
    volumes: input.volumes ?? [],
    placementConstraints: [],
    containerDefinitions: (input.containerDefinitions ?? []).map((c) => ({
      cpu: 0,
      portMappings: [],
      essential: true,
      environment: [],
      mountPoints: [],
      volumesFrom: [],
      systemControls: [],
      ...c,
    })),
  };
}

/** An error shaped like the SDK's ECS ClientException. */
export function clientException(message: string): Error {
  return awsError("ClientException", message, 400);
}

/** An error shaped like an SDK service exception. */
export function awsError(name: string, message: string, status = 400): Error {
  const err = new Error(message) as Error & {
    $fault: string;
    $metadata: { httpStatusCode: number };
  };
  err.name = name;
  err.$fault = status >= 500 ? "server" : "client";
  err.$metadata = { httpStatusCode: status };
  return err;
}

/** Every command the three mocks received, as names. */
export function sentCommands(mocks: Mocks): string[] {
  return [mocks.ecs, mocks.logs, mocks.ec2].flatMap((m) =>
    m.calls().map((c) => c.args[0].constructor.name),
  );
}
