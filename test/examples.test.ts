import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

describe("examples", () => {
  it("the orchestrator DAG runs both jobs locally, the second fed by the first", () => {
    const out = execFileSync(
      process.execPath,
      ["--import", "tsx", join(root, "examples", "orchestrator", "dag.ts")],
      {
        cwd: root,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    expect(out).toMatch(/loading part \d of 3 from job run\w+-extract\n/);
  }, 30_000);

  it("the README demo runs a job with a retried task and prints its logs", () => {
    const out = execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        join(root, "src", "cli", "main.ts"),
        "run",
        join(root, "examples", "demo", "job.yaml"),
        "--local",
      ],
      {
        cwd: root,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    expect(out).toContain("Task name: ecs-batch-demo-2 (attempt 2)");
    expect(out.match(/^=== ecs\/main\/[0-9a-f]{32} ===$/gm)).toHaveLength(4);
  }, 30_000);
});
