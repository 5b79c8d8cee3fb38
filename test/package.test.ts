import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const work = join(root, ".tmp", "package-test");
const consumer = join(work, "consumer");

/** A consumer script: builds a runner with stand-in clients and previews a job. */
const body = (load: string) => `
${load}
const clients = {
  ecs: { send: async (c) => c.constructor.name === "DescribeClustersCommand"
    ? { clusters: [{ clusterName: "default", status: "ACTIVE" }] }
    : Promise.reject(Object.assign(new Error("Unable to describe task definition."), { name: "ClientException" })) },
  logs: { send: async () => ({}) },
  ec2: { send: async () => ({}) },
};
const runner = new EcsBatchRunner({ clients });
runner.preview({
  jobId: "pkg",
  taskCount: 2,
  network: { subnets: ["subnet-1"] },
  taskDefinition: { definition: { family: "f", cpu: "256", memory: "512", containerDefinitions: [{ name: "main", image: "alpine" }] } },
}).then((p) => console.log(JSON.stringify({ kind: typeof EcsBatchRunner, tasks: p.runTaskInputs.length, first: p.runTaskInputs[0].startedBy })));
`;

describe("the packed package", () => {
  beforeAll(() => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(consumer, "node_modules", "ecs-batch-runner"), { recursive: true });
    execFileSync("npm", ["pack", "--pack-destination", work, "--ignore-scripts"], {
      cwd: root,
      stdio: "pipe",
    });
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    if (tarball === undefined) throw new Error("npm pack produced no tarball");
    execFileSync("tar", [
      "-xzf",
      join(work, tarball),
      "-C",
      join(consumer, "node_modules", "ecs-batch-runner"),
      "--strip-components=1",
    ]);
    // Dependencies resolve from the repository's node_modules, two directories up.
  }, 120_000);

  const expected = { kind: "function", tasks: 2, first: "ecs-batch-pkg-0" };

  it("works with import from ESM", () => {
    writeFileSync(
      join(consumer, "esm.mjs"),
      body('import { EcsBatchRunner } from "ecs-batch-runner";'),
    );
    const out = execFileSync(process.execPath, [join(consumer, "esm.mjs")], {
      cwd: consumer,
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toEqual(expected);
  });

  it("works with require from CommonJS", () => {
    writeFileSync(
      join(consumer, "cjs.cjs"),
      body('const { EcsBatchRunner } = require("ecs-batch-runner");'),
    );
    const out = execFileSync(process.execPath, [join(consumer, "cjs.cjs")], {
      cwd: consumer,
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toEqual(expected);
  });

  it("passes @arethetypeswrong/cli for ESM and CJS consumers", () => {
    // execFileSync throws when attw exits non-zero, which it does on any node16 problem.
    const out = execFileSync(
      process.execPath,
      [
        join(root, "node_modules", "@arethetypeswrong", "cli", "dist", "index.js"),
        "--pack",
        ".",
        "--profile",
        "node16",
        "--format",
        "json",
      ],
      { cwd: root, encoding: "utf8" },
    );
    const report = JSON.parse(out) as { analysis: { problems: { resolutionKind?: string }[] } };
    // node10 resolution (no "exports" support) is out of scope for a Node 20+ package.
    expect(report.analysis.problems.filter((p) => p.resolutionKind !== "node10")).toEqual([]);
  }, 120_000);
});
