/**
 * The README's demo. There is no AWS account on a fresh machine, so this previews a job
 * against stand-in clients that answer like an empty ECS account with a default VPC: it shows
 * the task definition that would be registered and the exact RunTask input of each task.
 * (Running jobs locally arrives with `ecs-batch-runner/local`.)
 */
import { EcsBatchRunner, type AwsClient, type AwsCommand } from "../src/index.js";

const standIn = (answer: (name: string, input: unknown) => unknown): AwsClient => ({
  send: (command: AwsCommand) => Promise.resolve(answer(command.constructor.name, command.input)),
});

const runner = new EcsBatchRunner({
  baseDir: import.meta.dirname,
  clients: {
    ecs: standIn((name) => {
      if (name === "DescribeClustersCommand")
        return { clusters: [{ clusterName: "default", status: "ACTIVE" }] };
      throw Object.assign(new Error("Unable to describe task definition."), {
        name: "ClientException",
      });
    }),
    ec2: standIn((name) => {
      if (name === "DescribeVpcsCommand") return { Vpcs: [{ VpcId: "vpc-0demo" }] };
      if (name === "DescribeSubnetsCommand")
        return { Subnets: [{ SubnetId: "subnet-0demo1" }, { SubnetId: "subnet-0demo2" }] };
      return { SecurityGroups: [{ GroupId: "sg-0demo" }] };
    }),
    logs: standIn(() => ({})),
  },
});

const preview = await runner.preview({
  jobId: "demo",
  taskDefinition: { path: "jobs/task-definition.json" },
  taskCount: 3,
  maxFailCount: 2,
  containerOverrides: [{ name: "main", environment: { DATA_SOURCE: "s3://my-bucket/data/" } }],
  tags: { team: "data" },
});

process.stdout.write(`${JSON.stringify(preview, null, 2)}\n`);
