/**
 * Network inference over the wire: EC2 is a query-protocol (XML) API, unlike ECS, and the
 * default VPC, its subnets and its default security group come from moto's EC2.
 */
import {
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
} from "@aws-sdk/client-ec2";
import { expect, it } from "vitest";
import { EcsBatchRunner, EcsBatchSetupError } from "ecs-batch-runner";
import {
  createCluster,
  describeInMoto,
  describeInterop,
  received,
  template,
  unique,
  useAws,
} from "./helpers.js";

const aws = useAws();

async function vpcNetwork(vpcId: string): Promise<{ subnets: string[]; securityGroups: string[] }> {
  const subnets = await aws.ec2.send(
    new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }),
  );
  const groups = await aws.ec2.send(
    new DescribeSecurityGroupsCommand({
      Filters: [
        { Name: "vpc-id", Values: [vpcId] },
        { Name: "group-name", Values: ["default"] },
      ],
    }),
  );
  return {
    subnets: (subnets.Subnets ?? []).map((s) => s.SubnetId ?? "").sort(),
    securityGroups: (groups.SecurityGroups ?? []).map((g) => g.GroupId ?? ""),
  };
}

describeInterop("network inference against moto's EC2", () => {
  it("runs in the default VPC's subnets with its default security group and a public IP", async () => {
    const vpcs = await aws.ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }),
    );
    const defaultVpc = vpcs.Vpcs?.[0]?.VpcId;
    expect(defaultVpc).toBeDefined();
    const expected = await vpcNetwork(defaultVpc as string);
    expect(expected.subnets.length).toBeGreaterThan(0);
    expect(expected.securityGroups).toHaveLength(1);

    const cluster = await createCluster(aws.ecs);
    const result = await new EcsBatchRunner({ clients: aws }).run({
      jobId: "default-vpc",
      cluster,
      taskDefinition: { definition: template(unique("net")) },
      taskCount: 2,
      pollInterval: "200ms",
      logs: { fetch: "none" },
    });

    expect(result.status).toBe("succeeded");
    const sent = received("RunTask").filter((r) => r.body.cluster === cluster);
    expect(sent).toHaveLength(2);
    for (const r of sent) {
      expect(r.body.networkConfiguration).toEqual({
        awsvpcConfiguration: {
          subnets: expected.subnets,
          securityGroups: expected.securityGroups,
          assignPublicIp: "ENABLED",
        },
      });
    }
    // moto attached each task's network interface in the first of those subnets.
    const tasks = await describeInMoto(
      aws.ecs,
      cluster,
      result.tasks.map((t) => t.taskArn ?? ""),
    );
    for (const task of tasks) {
      const subnet = task.attachments?.[0]?.details?.find((d) => d.name === "subnetId")?.value;
      expect(expected.subnets).toContain(subnet);
    }
  });

  it("infers from a named VPC, and names the fix when that VPC has no subnets", async () => {
    const vpc = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: "10.42.0.0/16" }));
    const vpcId = vpc.Vpc?.VpcId as string;
    const runner = new EcsBatchRunner({ clients: aws });
    const job = {
      jobId: "named-vpc",
      cluster: await createCluster(aws.ecs),
      taskDefinition: { definition: template(unique("net")) },
      network: { vpcId },
    };

    const empty = runner.preview(job);
    await expect(empty).rejects.toBeInstanceOf(EcsBatchSetupError);
    await expect(empty).rejects.toMatchObject({
      code: "NETWORK_NOT_INFERABLE",
      message: expect.stringContaining(`(${vpcId}) has no subnets`) as string,
    });

    const subnet = await aws.ec2.send(
      new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: "10.42.1.0/24" }),
    );
    // The same runner: a failed inference is not cached.
    const plan = await runner.preview(job);
    expect(plan.network).toEqual({
      subnets: [subnet.Subnet?.SubnetId],
      securityGroups: (await vpcNetwork(vpcId)).securityGroups,
      assignPublicIp: "ENABLED",
    });
  });
});
