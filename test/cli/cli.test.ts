/**
 * The real `ecs-batch` binary (dist/cli/main.js, built by the test setup), spawned as a user
 * would run it, in local mode.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const bin = join(root, "dist", "cli", "main.js");
const dir = join(root, ".tmp", "cli-test");
mkdirSync(dir, { recursive: true });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ecsBatch(
  args: string[],
  options: { onStdout?: (text: string, child: ReturnType<typeof spawn>) => void } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      options.onStdout?.(stdout, child);
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Writes a native job file whose single container runs `script` with sh. */
function jobFile(name: string, script: string, extra: Record<string, unknown> = {}): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      jobId: `${name}-${randomUUID().slice(0, 6)}`,
      pollInterval: "200ms",
      retry: { backoff: { initial: "100ms", max: "200ms" } },
      taskDefinition: {
        definition: {
          family: "cli-test",
          cpu: "256",
          memory: "512",
          containerDefinitions: [
            {
              name: "main",
              image: "x",
              entryPoint: ["sh", "-c"],
              command: [script],
              stopTimeout: 2,
              logConfiguration: {
                logDriver: "awslogs",
                options: {
                  "awslogs-group": "/cli",
                  "awslogs-region": "us-west-2",
                  "awslogs-stream-prefix": "ecs",
                },
              },
            },
          ],
        },
      },
      ...extra,
    }),
  );
  return path;
}

describe("ecs-batch", () => {
  it("prints its version and help", async () => {
    const version = await ecsBatch(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const help = await ecsBatch(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(
      "Exit codes: 0 succeeded, 1 failed, 2 invalid input or setup error, 124 timed out, 130 cancelled.",
    );
  });

  it("runs a job locally: exit 0, logs on stdout, the summary on stderr", async () => {
    const r = await ecsBatch(["run", jobFile("ok", 'echo "hello from $TASK_NAME"'), "--local"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^=== ecs\/main\/[0-9a-f]{32} ===\n\n\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] hello from ecs-batch-ok-\w+-0\n$/,
    );
    expect(r.stderr).toMatch(/job ok-\w+ succeeded in [\d.]+s \(1 succeeded; 0 failed attempts\)/);
  });

  it("exits 1 when the job fails, with the failed task's logs on stderr", async () => {
    const r = await ecsBatch([
      "run",
      jobFile("fail", "echo broken; exit 4", { maxFailCount: 1 }),
      "--local",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("] broken\n");
    expect(r.stderr).toMatch(
      /task 0 attempt 1 failed \(exit\): container "main" exited with code 4; will retry/,
    );
    expect(r.stderr).toMatch(/job fail-\w+ failed/);
  });

  it("exits 2 on invalid input, naming the field", async () => {
    const r = await ecsBatch([
      "run",
      jobFile("invalid", "true", { timeout: "30 seconds" }),
      "--local",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'timeout: "30 seconds" is not a duration; use "30s", "1h", "2h15m30s" or milliseconds',
    );
    const missing = await ecsBatch(["run", "no-such-file.yaml", "--local"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read");
  });

  it("exits 2 on a setup error", async () => {
    const path = join(dir, "setup.json");
    writeFileSync(path, JSON.stringify({ taskDefinition: { arn: "does-not-exist:1" } }));
    const r = await ecsBatch(["run", path, "--local"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('task definition "does-not-exist:1" was not found');
  });

  it("exits 124 when the job times out", async () => {
    const r = await ecsBatch(["run", jobFile("slow", "sleep 20", { timeout: "1s" }), "--local"]);
    expect(r.code).toBe(124);
    expect(r.stderr).toMatch(/timed out after 1s/);
  });

  it("prints JSON events with --json, one per line, jobCompleted last", async () => {
    const r = await ecsBatch([
      "run",
      jobFile("json", "echo hi", { taskCount: 2 }),
      "--local",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: string; jobId: string; result?: { status: string } });
    expect(events[0]?.event).toBe("jobStarted");
    expect(events.at(-1)).toMatchObject({ event: "jobCompleted", result: { status: "succeeded" } });
    expect(events.filter((e) => e.event === "taskSucceeded")).toHaveLength(2);
    expect(new Set(events.map((e) => e.jobId)).size).toBe(1);
  });

  it("previews a job as JSON, launching nothing", async () => {
    const r = await ecsBatch(["preview", jobFile("preview", "true", { taskCount: 2 }), "--local"]);
    expect(r.code).toBe(0);
    const preview = JSON.parse(r.stdout) as {
      runTaskInputs: { startedBy: string }[];
      taskDefinition: { action: string };
    };
    expect(preview.taskDefinition.action).toBe("register");
    expect(preview.runTaskInputs.map((i) => i.startedBy)).toHaveLength(2);
  });

  it("runs Heimdall-format files", async () => {
    const ex = join(root, "examples", "heimdall");
    const r = await ecsBatch([
      "run",
      "--command",
      join(ex, "command.yaml"),
      "--cluster",
      join(ex, "cluster.yaml"),
      "--job",
      join(ex, "job.json"),
      "--job-id",
      "abc123",
      "--poll-interval",
      "200ms",
      "--local",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\] Task name: heimdall-job-abc123-[01]\n$/);
  });

  it("on SIGINT stops the tasks, exits 130 and leaves no process alive", async () => {
    const marker = `ebr-cli-${randomUUID()}`;
    let sent = false;
    const r = await ecsBatch(
      ["run", jobFile("sigint", `sleep 30; echo ${marker}`, { taskCount: 2 }), "--local", "--json"],
      {
        onStdout: (out, child) => {
          if (
            !sent &&
            out.split("\n").filter((l) => l.includes('"lastStatus":"RUNNING"')).length >= 2
          ) {
            sent = true;
            setTimeout(() => child.kill("SIGINT"), 100);
          }
        },
      },
    );
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as {
      result: { status: string; tasks: { status: string }[] };
    };
    expect(last.result.status).toBe("cancelled");
    expect(last.result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped"]);
    await sleep(200);
    const alive = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes(marker));
    expect(alive).toEqual([]);
  });

  it("draws the live progress view on a terminal", () => {
    const out = execFileSync(
      "script",
      [
        "-qfec",
        `${process.execPath} ${bin} run ${jobFile("tty", "sleep 0.5", { taskCount: 3 })} --local`,
        "/dev/null",
      ],
      {
        cwd: dir,
        encoding: "utf8",
      },
    );
    // Frames are redrawn in place: clear-line codes, a row per task, and the summary line.
    expect(out).toContain("\x1b[2K");
    expect(out).toMatch(new RegExp(`\x1b\\[\\d+F`));
    expect(out).toMatch(/task 2 {2}#1 {2}RUNNING/);
    expect(out).toMatch(/job tty-\w+: succeeded after [\dhms]+ \(3 succeeded\)/);
  });
});
