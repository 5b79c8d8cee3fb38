import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
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

/**
 * A consumer script: which of the SDK's EC2 modules are loaded after importing the package, after
 * a job with explicit subnets, and after one whose network is inferred (each with the simulator's
 * clients on a ManualClock), and whether the EC2 commands the runner sent were the SDK's own.
 */
const lazyEc2 = (load: string) => `
${load}
const ec2Loaded = () => Object.keys(require.cache).some((k) => /[\\\\/]@aws-sdk[\\\\/]client-ec2[\\\\/]/.test(k));
const report = { afterImport: ec2Loaded() };
const clock = new ManualClock();
const aws = createSimulatedAws({ clock });
const sent = [];
const ec2 = { send: (command) => { sent.push(command); return aws.clients.ec2.send(command); } };
const runner = new EcsBatchRunner({ clients: { ...aws.clients, ec2 }, clock });
const definition = { family: "f", cpu: "256", memory: "512", containerDefinitions: [{ name: "main", image: "alpine" }] };
(async () => {
  await clock.runUntil(runner.preview({ taskDefinition: { definition }, network: { subnets: ["subnet-1"] } }));
  report.afterExplicitSubnets = ec2Loaded();
  const inferred = await clock.runUntil(runner.preview({ taskDefinition: { definition } }));
  report.afterInference = ec2Loaded();
  report.inferredSubnets = inferred.runTaskInputs[0].networkConfiguration.awsvpcConfiguration.subnets.length;
  const sdk = require("@aws-sdk/client-ec2");
  report.sdkCommands = sent.map((c) => c instanceof sdk.DescribeVpcsCommand || c instanceof sdk.DescribeSubnetsCommand || c instanceof sdk.DescribeSecurityGroupsCommand);
  console.log(JSON.stringify(report));
})();
`;

/** Relative links of a markdown file (no URLs, no anchors within the page), anchors cut off. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] ?? "")
    .filter((l) => !/^[a-z]+:/i.test(l) && !l.startsWith("#"))
    .map((l) => l.replace(/#.*$/, ""));
}

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

  it("loads the EC2 SDK only when a job's network is inferred, from ESM and CommonJS", () => {
    const expectedLazy = {
      afterImport: false,
      afterExplicitSubnets: false,
      afterInference: true,
      inferredSubnets: 3,
      sdkCommands: [true, true, true],
    };
    writeFileSync(
      join(consumer, "lazy-ec2.mjs"),
      lazyEc2(`import { createRequire } from "node:module";
import { EcsBatchRunner } from "ecs-batch-runner";
import { createSimulatedAws, ManualClock } from "ecs-batch-runner/testing";
const require = createRequire(import.meta.url);`),
    );
    writeFileSync(
      join(consumer, "lazy-ec2.cjs"),
      lazyEc2(`const { EcsBatchRunner } = require("ecs-batch-runner");
const { createSimulatedAws, ManualClock } = require("ecs-batch-runner/testing");`),
    );
    for (const script of ["lazy-ec2.mjs", "lazy-ec2.cjs"]) {
      const out = execFileSync(process.execPath, [join(consumer, script)], {
        cwd: consumer,
        encoding: "utf8",
      });
      expect(JSON.parse(out), script).toEqual(expectedLazy);
    }
  });

  it("loads no AWS SDK on import, and the ECS and Logs SDKs once a job needs them", () => {
    // CommonJS: which SDK client modules require loaded, after the import and after a preview
    // (which sends DescribeClusters through the stand-in ECS client).
    writeFileSync(
      join(consumer, "lazy-sdk.cjs"),
      `const sdk = () => [...new Set(Object.keys(require.cache).map((k) => (/@aws-sdk[\\\\/](client-[a-z0-9-]+)/.exec(k) ?? [])[1]).filter(Boolean))].sort();
const { EcsBatchRunner } = require("ecs-batch-runner");
const report = { afterImport: sdk() };
const clients = { ecs: { send: async () => ({ clusters: [{ clusterName: "default", status: "ACTIVE" }] }) }, logs: { send: async () => ({}) }, ec2: { send: async () => ({}) } };
const definition = { family: "f", cpu: "256", memory: "512", containerDefinitions: [{ name: "main", image: "alpine" }] };
new EcsBatchRunner({ clients }).preview({ taskDefinition: { definition }, network: { subnets: ["subnet-1"] } }).then(() => {
  report.afterPreview = sdk();
  console.log(JSON.stringify(report));
});
`,
    );
    const cjs = execFileSync(process.execPath, [join(consumer, "lazy-sdk.cjs")], {
      cwd: consumer,
      encoding: "utf8",
    });
    expect(JSON.parse(cjs)).toEqual({
      afterImport: [],
      afterPreview: ["client-cloudwatch-logs", "client-ecs"],
    });
    // ES modules: no chunk the root entry imports statically names an @aws-sdk module.
    const dist = join(consumer, "node_modules", "ecs-batch-runner", "dist");
    const seen = new Set<string>();
    const bare: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(join(dist, file), "utf8");
      for (const m of text.matchAll(
        /^(?:import|export)\b[^;]*?from\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]/gm,
      )) {
        const spec = m[1] ?? m[2] ?? "";
        if (spec.startsWith("./")) visit(spec.slice(2));
        else bare.push(spec);
      }
    };
    visit("index.js");
    expect(seen.size).toBeGreaterThan(1);
    expect(bare.filter((s) => s.startsWith("@aws-sdk/"))).toEqual([]);
  });

  it("loads the DynamoDB SDK only through ecs-batch-runner/dynamodb, whose errors are the root's", () => {
    // Every update refused on its condition; the read of who holds the lease finds nobody.
    const refuse = `{ send: (c) => c.input.UpdateExpression === undefined ? Promise.resolve({}) : Promise.reject(Object.assign(new Error("no"), { name: "ConditionalCheckFailedException" })) }`;
    const lease = `{ key: { jobId: "j", runId: "r" }, owner: "a", expiresAt: 0, fence: 1 }`;
    writeFileSync(
      join(consumer, "dynamo.cjs"),
      `const root = require("ecs-batch-runner");
const loaded = () => Object.keys(require.cache).some((k) => k.includes("client-dynamodb"));
const report = { afterRoot: loaded() };
const { DynamoDbJobStore } = require("ecs-batch-runner/dynamodb");
report.afterSubpath = loaded();
new DynamoDbJobStore({ client: ${refuse}, tableName: "t" }).renew(${lease}, 1000, 0).catch((error) => {
  report.sameClass = error instanceof root.EcsBatchLeaseError;
  report.code = error.code;
  console.log(JSON.stringify(report));
});
`,
    );
    writeFileSync(
      join(consumer, "dynamo.mjs"),
      `import { EcsBatchLeaseError } from "ecs-batch-runner";
import { DynamoDbJobStore } from "ecs-batch-runner/dynamodb";
new DynamoDbJobStore({ client: ${refuse}, tableName: "t" }).renew(${lease}, 1000, 0).catch((error) => {
  console.log(JSON.stringify({ sameClass: error instanceof EcsBatchLeaseError, code: error.code }));
});
`,
    );
    const run = (script: string): unknown =>
      JSON.parse(
        execFileSync(process.execPath, [join(consumer, script)], {
          cwd: consumer,
          encoding: "utf8",
        }),
      );
    expect(run("dynamo.cjs")).toEqual({
      afterRoot: false,
      afterSubpath: true,
      sameClass: true,
      code: "LEASE_LOST",
    });
    expect(run("dynamo.mjs")).toEqual({ sameClass: true, code: "LEASE_LOST" });
  });

  it("ships the build, the docs, the demo and the job schema, and none of the repository's inside", () => {
    const [pack] = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: root,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      }),
    ) as [{ files: { path: string }[] }];
    const files = pack.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        "package.json",
        "README.md",
        "CHANGELOG.md",
        "dist/index.js",
        "dist/index.cjs",
        "dist/index.d.ts",
        "dist/index.d.cts",
        "dist/testing/index.js",
        "dist/local/index.js",
        "dist/cli/main.js",
        "schema/job.schema.json",
        "examples/demo/job.yaml",
        "examples/demo/task-definition.json",
        "docs/getting-started.md",
        "docs/cli.md",
        "docs/configuration.md",
      ]),
    );
    const inside = files.filter((f) =>
      /^(src|test|bench|scripts|\.tmp|\.ci|node_modules)\//.test(f),
    );
    expect(inside).toEqual([]);
    // The CLI's chunks ship beside it (`--help` reads main.js alone; a run imports the rest).
    expect(files.filter((f) => /^dist\/cli\/.+\.js$/.test(f)).length).toBeGreaterThan(1);
  });

  it("has every relative link of its README and docs point at a file it ships", () => {
    const pkg = join(consumer, "node_modules", "ecs-batch-runner");
    const pages = ["README.md", ...readdirSync(join(pkg, "docs")).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    let links = 0;
    for (const page of pages.filter((p) => p.endsWith(".md"))) {
      for (const link of relativeLinks(readFileSync(join(pkg, page), "utf8"))) {
        links++;
        const target = normalize(join(dirname(page), link));
        if (!existsSync(join(pkg, target))) broken.push(`${page} -> ${link}`);
      }
    }
    expect(links).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });

  it("names its repository, homepage and issue tracker (npm links the README's files there)", () => {
    const pkg = JSON.parse(
      readFileSync(join(consumer, "node_modules", "ecs-batch-runner", "package.json"), "utf8"),
    ) as { repository?: { url?: string }; homepage?: string; bugs?: { url?: string } };
    expect(pkg.repository?.url).toMatch(/^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
    expect(pkg.homepage).toMatch(/^https:\/\//);
    expect(pkg.bugs?.url).toMatch(/^https:\/\/.+\/issues$/);
  });

  it("resolves the job file's JSON Schema by the package's name", () => {
    const out = execFileSync(
      process.execPath,
      [
        "-e",
        'const p = require.resolve("ecs-batch-runner/schema/job.schema.json"); console.log(require(p).title)',
      ],
      { cwd: consumer, encoding: "utf8" },
    );
    expect(out.trim()).toBe("ecs-batch-runner job");
  });

  it("runs the demo the README shows, `ecs-batch demo`, from the installed package", () => {
    const out = execFileSync(
      process.execPath,
      [join(consumer, "node_modules", "ecs-batch-runner", "dist", "cli", "main.js"), "demo", "-q"],
      { cwd: consumer, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    expect(out).toContain("Task name: ecs-batch-demo-2 (attempt 2)");
    expect(out.match(/^=== ecs\/main\/[0-9a-f]{32} ===$/gm)).toHaveLength(4);
  }, 30_000);

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
