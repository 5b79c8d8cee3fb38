import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import {
  buildRunTaskInput,
  EcsBatchSetupError,
  EcsBatchValidationError,
  validateCustomizations,
  type BatchJobInput,
  type LaunchPlan,
} from "../../src/index.js";
import { job, setup, template } from "../helpers/sim.js";

type Operations = NonNullable<BatchJobInput["taskCustomizations"]>;

/** Runs the job on a fresh simulated account and returns what `run()` rejected with. */
async function rejection(input: BatchJobInput) {
  const { aws, run } = setup();
  const error = await run(input).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, calls: aws.calls.length };
}

/** The runner's first-attempt request of task 0 for `job()`, built from a hand-made plan. */
const plan: LaunchPlan = {
  jobId: "job1",
  cluster: "default",
  taskDefinitionArn: "arn:aws:ecs:us-west-2:123456789012:task-definition/batch-job:1",
  containerNames: ["main"],
  taskCount: 3,
  taskNamePrefix: "ecs-batch",
  containerOverrides: [],
  taskOverrides: {},
  launchType: "FARGATE",
  network: { subnets: ["subnet-1"], securityGroups: [], assignPublicIp: "DISABLED" },
  tags: { team: "data" },
  taskCustomizations: [],
};
const sample: RunTaskCommandInput = buildRunTaskInput(plan, 0, 1);

describe("taskCustomizations may not touch what the runner relies on", () => {
  // [what, operations, taskCount, the issue's operation index, words the message must contain]
  const refused: [string, Operations, number, number, string[]][] = [
    [
      "replace /count with taskCount 2 (six tasks, two tracked)",
      [{ op: "replace", path: "/count", value: 3 }],
      2,
      0,
      ["replace /count", "taskCount"],
    ],
    [
      "replace /cluster (StopTask would go to the wrong cluster)",
      [{ op: "replace", path: "/cluster", value: "other" }],
      3,
      0,
      ["replace /cluster", "set cluster in the job"],
    ],
    [
      "replace /clientToken",
      [{ op: "replace", path: "/clientToken", value: "fixed" }],
      3,
      0,
      ["replace /clientToken", "second task"],
    ],
    [
      "remove /clientToken",
      [{ op: "remove", path: "/clientToken" }],
      3,
      0,
      ["remove /clientToken", "second task"],
    ],
    [
      "replace /startedBy",
      [{ op: "replace", path: "/startedBy", value: "mine" }],
      3,
      0,
      ["/startedBy", "taskNamePrefix"],
    ],
    [
      "replace /taskDefinition",
      [{ op: "replace", path: "/taskDefinition", value: "other:1" }],
      3,
      0,
      ["/taskDefinition"],
    ],
    [
      "move away from /cluster",
      [{ op: "move", from: "/cluster", path: "/group" }],
      3,
      0,
      ["move /cluster to /group", "/cluster"],
    ],
    [
      "copy onto /count",
      [{ op: "copy", from: "/overrides/containerOverrides/0/environment/2/value", path: "/count" }],
      3,
      0,
      ["/count"],
    ],
    [
      "replace the whole request",
      [{ op: "replace", path: "", value: {} }],
      3,
      0,
      ["whole RunTask input"],
    ],
    [
      "the operation at fault is named by its index",
      [
        { op: "add", path: "/enableExecuteCommand", value: true },
        { op: "replace", path: "/count", value: 3 },
      ],
      3,
      1,
      ["replace /count"],
    ],
    [
      "an ecs-batch: tag removed",
      [{ op: "remove", path: "/tags/0" }],
      3,
      0,
      ['"ecs-batch:job-id"', "leave them as built"],
    ],
    [
      "an ecs-batch: tag's value replaced",
      [{ op: "replace", path: "/tags/0/value", value: "someone-else" }],
      3,
      0,
      ['"ecs-batch:job-id"'],
    ],
    [
      "every tag replaced",
      [{ op: "replace", path: "/tags", value: [{ key: "team", value: "data" }] }],
      3,
      0,
      ["ecs-batch:", "tag"],
    ],
    [
      "a tag with the ecs-batch: prefix added",
      [{ op: "add", path: "/tags/-", value: { key: "ecs-batch:owner", value: "me" } }],
      3,
      0,
      ['"ecs-batch:owner"', "rename the tag"],
    ],
    [
      "TASK_ATTEMPT replaced",
      [
        {
          op: "replace",
          path: "/overrides/containerOverrides/0/environment/3",
          value: { name: "TASK_ATTEMPT", value: "7" },
        },
      ],
      3,
      0,
      ['TASK_ATTEMPT in container "main"', "leave them as built"],
    ],
    [
      "TASK_NUM removed",
      [{ op: "remove", path: "/overrides/containerOverrides/0/environment/1" }],
      3,
      0,
      ['TASK_NUM in container "main"'],
    ],
    [
      "a variable named like an injected one added",
      [
        {
          op: "add",
          path: "/overrides/containerOverrides/0/environment/-",
          value: { name: "TASK_COUNT", value: "3" },
        },
      ],
      3,
      0,
      ["TASK_COUNT", "name your variable differently"],
    ],
    [
      "the container overrides replaced",
      [{ op: "replace", path: "/overrides", value: { cpu: "512" } }],
      3,
      0,
      ['in container "main"'],
    ],
    [
      "a __proto__ path",
      [{ op: "add", path: "/__proto__/polluted", value: true }],
      3,
      0,
      ['"__proto__"', "remove the operation"],
    ],
    [
      "a constructor/prototype path, even in a test",
      [{ op: "test", path: "/tags/constructor/prototype", value: {} }],
      3,
      0,
      ['"constructor"'],
    ],
    [
      "a __proto__ from",
      [{ op: "copy", from: "/__proto__", path: "/group" }],
      3,
      0,
      ['"__proto__"'],
    ],
  ];

  it.each(refused)(
    "%s: EcsBatchValidationError naming the operation, no AWS call",
    async (_what, operations, taskCount, index, words) => {
      const { error, calls } = await rejection(job({ taskCount, taskCustomizations: operations }));
      expect(error).toBeInstanceOf(EcsBatchValidationError);
      const issues = (error as EcsBatchValidationError).issues;
      expect(issues.map((i) => i.path)).toEqual([`taskCustomizations[${index}]`]);
      for (const word of words) expect(issues[0]?.message).toContain(word);
      expect(calls).toBe(0);
      expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    },
  );

  it("is refused for an { arn } definition too, before any AWS call", async () => {
    const { aws, run } = setup();
    aws.registerTaskDefinition(template({ family: "existing" }));
    const before = aws.calls.length;
    const error = await run(
      job({
        taskDefinition: { arn: "existing:1" },
        taskCustomizations: [{ op: "replace", path: "/cluster", value: "other" }],
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchValidationError);
    expect((error as EcsBatchValidationError).issues[0]?.path).toBe("taskCustomizations[0]");
    expect(aws.calls.length).toBe(before);
  });

  it("reports every operation on a reserved path at once", () => {
    const issues = validateCustomizations(
      [
        { op: "replace", path: "/count", value: 2 },
        { op: "add", path: "/enableExecuteCommand", value: true },
        { op: "remove", path: "/clientToken" },
      ],
      sample,
    );
    expect(issues.map((i) => i.path)).toEqual(["taskCustomizations[0]", "taskCustomizations[2]"]);
  });

  it("never shows the value of a variable", () => {
    const secret = "hunter2-super-secret";
    const [issue] = validateCustomizations(
      [
        {
          op: "add",
          path: "/overrides/containerOverrides/0/environment/-",
          value: { name: "TASK_NAME", value: secret },
        },
      ],
      sample,
    );
    expect(issue?.message).toContain("TASK_NAME");
    expect(issue?.message).not.toContain(secret);
  });
});

describe("taskCustomizations that tune the request", () => {
  it("keep working: tags, variables, network, capacity, platform, propagateTags, exec, sizes", async () => {
    const { aws, run } = setup();
    const result = await run(
      job({
        taskCustomizations: [
          { op: "add", path: "/tags/-", value: { key: "cost-center", value: "42" } },
          {
            op: "add",
            path: "/overrides/containerOverrides/0/environment/-",
            value: { name: "MODE", value: "fast" },
          },
          { op: "add", path: "/overrides/containerOverrides/0/cpu", value: 128 },
          { op: "add", path: "/overrides/cpu", value: "256" },
          {
            op: "replace",
            path: "/networkConfiguration/awsvpcConfiguration/assignPublicIp",
            value: "DISABLED",
          },
          { op: "remove", path: "/launchType" },
          {
            op: "add",
            path: "/capacityProviderStrategy",
            value: [{ capacityProvider: "FARGATE", weight: 1 }],
          },
          { op: "add", path: "/platformVersion", value: "1.4.0" },
          { op: "add", path: "/propagateTags", value: "TASK_DEFINITION" },
          { op: "add", path: "/enableExecuteCommand", value: true },
          { op: "copy", from: "/startedBy", path: "/group" },
          { op: "test", path: "/count", value: 1 },
          { op: "test", path: "/cluster", value: "default" },
        ],
      }),
    );
    expect(result.status).toBe("succeeded");
    const sent = aws.inputs<RunTaskCommandInput>("RunTask");
    expect(sent).toHaveLength(3);
    const last = sent[2];
    expect(last?.count).toBe(1);
    expect(last?.group).toBe("ecs-batch-job1-2");
    expect(last?.capacityProviderStrategy).toEqual([{ capacityProvider: "FARGATE", weight: 1 }]);
    expect(last?.enableExecuteCommand).toBe(true);
    expect(last?.tags).toContainEqual({ key: "cost-center", value: "42" });
    expect(last?.tags).toContainEqual({ key: "ecs-batch:task-index", value: "2" });
    expect(last?.overrides?.containerOverrides?.[0]?.environment).toEqual(
      expect.arrayContaining([
        { name: "MODE", value: "fast" },
        { name: "TASK_NUM", value: "2" },
      ]),
    );
    aws.assert.noUnfinishedTasks();
  });
});

describe("a customization is checked against the request it will patch", () => {
  const subnetTest = (subnet: string): Operations => [
    { op: "test", path: "/networkConfiguration/awsvpcConfiguration/subnets/0", value: subnet },
  ];

  it("accepts a test of the job's own subnet, in preview and in run", async () => {
    const { aws, runner, run } = setup();
    const input = job({
      network: { subnets: ["subnet-0abc1234"] },
      taskCustomizations: subnetTest("subnet-0abc1234"),
    });
    const preview = await runner.preview(input);
    expect(preview.runTaskInputs[0]?.networkConfiguration?.awsvpcConfiguration?.subnets).toEqual([
      "subnet-0abc1234",
    ]);
    expect((await run(input)).status).toBe("succeeded");
    expect(aws.count("RunTask")).toBe(3);
  });

  it("refuses a test of another subnet than the job's, before any AWS call", async () => {
    const { error, calls } = await rejection(
      job({
        network: { subnets: ["subnet-0abc1234"] },
        taskCustomizations: subnetTest("subnet-1"),
      }),
    );
    expect(error).toBeInstanceOf(EcsBatchValidationError);
    expect((error as EcsBatchValidationError).issues[0]?.path).toBe("taskCustomizations[0]");
    expect(calls).toBe(0);
  });

  it("checks a test of an inferred network once it is inferred", async () => {
    const ok = setup();
    const input = job({ taskCustomizations: subnetTest("subnet-0default000000") });
    expect((await ok.runner.preview(input)).runTaskInputs).toHaveLength(3);
    expect((await ok.run(input)).status).toBe("succeeded");

    const bad = setup();
    const error = await bad
      .run(job({ taskCustomizations: subnetTest("subnet-0abc1234") }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcsBatchSetupError);
    expect((error as Error).message).toContain("taskCustomizations[0]");
    expect(bad.aws.count("RunTask")).toBe(0);
  });

  it("accepts a test of the registered task definition's ARN in run", async () => {
    const { aws, runner, run } = setup();
    const arn = "arn:aws:ecs:us-west-2:123456789012:task-definition/batch-job:1";
    const input = job({
      taskCustomizations: [{ op: "test", path: "/taskDefinition", value: arn }],
    });
    // Before registration a preview's requests name the family, which the test does not match.
    const previewError = await runner.preview(input).catch((e: unknown) => e);
    expect(previewError).toBeInstanceOf(EcsBatchSetupError);
    expect((previewError as Error).message).toContain("not registered yet");
    expect(aws.count("RegisterTaskDefinition")).toBe(0);
    const result = await run(input);
    expect(result.status).toBe("succeeded");
    expect(result.taskDefinitionArn).toBe(arn);
    expect(aws.count("RunTask")).toBe(3);
    // Registered now: the preview reuses it and its requests pass the test.
    expect((await runner.preview(input)).taskDefinition).toEqual({
      action: "reuse",
      taskDefinitionArn: arn,
    });
  });

  it("refuses a test that holds for the first task only, naming the request it fails on", async () => {
    const { error, calls } = await rejection(
      job({ taskCustomizations: [{ op: "test", path: "/startedBy", value: "ecs-batch-job1-0" }] }),
    );
    expect(error).toBeInstanceOf(EcsBatchValidationError);
    const [issue] = (error as EcsBatchValidationError).issues;
    expect(issue?.path).toBe("taskCustomizations[0]");
    expect(issue?.message).toContain("task 2");
    expect(calls).toBe(0);
  });

  it("does not report an operation on a stand-in value, which is checked again later", () => {
    const operations: Operations = subnetTest("subnet-real");
    expect(validateCustomizations(operations, sample)).toHaveLength(1);
    expect(
      validateCustomizations(operations, sample, { unresolved: ["/networkConfiguration"] }),
    ).toEqual([]);
  });
});
