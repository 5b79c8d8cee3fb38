/**
 * Task definitions over the wire: moto keeps real revisions and answers DescribeTaskDefinition
 * with the defaults AWS fills in (`cpu: 0`, empty `portMappings`, `mountPoints`, ...), so reuse
 * is decided against what the service really returns, not against what a mock echoes.
 */
import { ListTaskDefinitionsCommand } from "@aws-sdk/client-ecs";
import { expect, it } from "vitest";
import { EcsBatchRunner, type BatchJobInput } from "ecs-batch-runner";
import { createCluster, describeInterop, received, template, unique, useAws } from "./helpers.js";

const aws = useAws();

async function revisions(family: string): Promise<string[]> {
  const page = await aws.ecs.send(
    new ListTaskDefinitionsCommand({ familyPrefix: family, status: "ACTIVE" }),
  );
  return page.taskDefinitionArns ?? [];
}

function registrations(family: string): number {
  return received("RegisterTaskDefinition").filter((r) => r.body.family === family).length;
}

describeInterop("task definitions against moto", () => {
  it("registers a template once, then reuses the unchanged revision from a fresh runner", async () => {
    const cluster = await createCluster(aws.ecs);
    const family = unique("reuse");
    const job: BatchJobInput = {
      cluster,
      taskDefinition: { definition: template(family) },
      taskCount: 1,
      pollInterval: "200ms",
      logs: { fetch: "none" },
    };

    const first = await new EcsBatchRunner({ clients: aws }).run({ ...job, jobId: "first" });
    expect(first.status).toBe("succeeded");
    expect(first.taskDefinitionArn).toMatch(new RegExp(`:task-definition/${family}:1$`));

    // A new runner has an empty cache: only the comparison with moto's answer can reuse.
    const second = await new EcsBatchRunner({ clients: aws }).run({ ...job, jobId: "second" });
    expect(second.status).toBe("succeeded");
    expect(second.taskDefinitionArn).toBe(first.taskDefinitionArn);
    expect(registrations(family)).toBe(1);
    expect(await revisions(family)).toEqual([first.taskDefinitionArn]);

    // A changed template is a new revision.
    const changed = await new EcsBatchRunner({ clients: aws }).run({
      ...job,
      jobId: "changed",
      taskDefinition: { definition: template(family, { image: "busybox:1.37" }) },
    });
    expect(changed.taskDefinitionArn).toMatch(new RegExp(`:task-definition/${family}:2$`));
    expect(registrations(family)).toBe(2);
  });

  it("runs an existing definition named by family:revision, registering nothing", async () => {
    const cluster = await createCluster(aws.ecs);
    const family = unique("byarn");
    const runner = new EcsBatchRunner({ clients: aws });
    const registered = await runner.run({
      cluster,
      jobId: "register",
      taskDefinition: { definition: template(family) },
      pollInterval: "200ms",
      logs: { fetch: "none" },
    });

    const result = await new EcsBatchRunner({ clients: aws }).run({
      cluster,
      jobId: "byarn",
      taskDefinition: { arn: `${family}:1` },
      containerOverrides: [{ name: "main", environment: { GREETING: "hi" } }],
      pollInterval: "200ms",
      logs: { fetch: "none" },
    });

    expect(result.status).toBe("succeeded");
    expect(result.taskDefinitionArn).toBe(registered.taskDefinitionArn);
    expect(registrations(family)).toBe(1);
    const runTask = received("RunTask").find(
      (r) => r.body.cluster === cluster && r.body.startedBy === "ecs-batch-byarn-0",
    );
    expect(runTask?.body.taskDefinition).toBe(registered.taskDefinitionArn);
  });
});
