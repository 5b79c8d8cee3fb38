/**
 * The real `ecs-batch` binary (dist/cli/main.js, built by the test setup), spawned as a user
 * would run it, in local mode.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
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
  options: {
    onStdout?: (text: string, child: ReturnType<typeof spawn>) => void;
    onStderr?: (text: string, child: ReturnType<typeof spawn>) => void;
    nodeArgs?: string[];
  } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), bin, ...args], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      options.onStdout?.(stdout, child);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      options.onStderr?.(stderr, child);
    });
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
    expect(help.stdout.replace(/\s+/g, " ")).toContain(
      "Exit codes: 0 succeeded, 1 failed, 2 invalid input or setup error, 124 timed out, 130 cancelled by SIGINT, 143 cancelled by SIGTERM.",
    );
  });

  it("answers --help, --version and a mistyped option without loading the AWS SDK", async () => {
    // Lists the SDK modules loaded when the process exits (the SDK is CommonJS, so every module
    // of it is in require.cache, whoever imported it).
    const probe = join(dir, "sdk-probe.cjs");
    writeFileSync(
      probe,
      `process.on("exit", () => require("node:fs").writeSync(2, "\\nSDK " + JSON.stringify(Object.keys(require.cache).filter((k) => /node_modules[\\\\/]@(aws-sdk|smithy)[\\\\/]/.test(k)).length) + "\\n"));`,
    );
    const loaded = (r: Run) => Number(/\nSDK (\d+)\n/.exec(r.stderr)?.[1]);
    const help = await ecsBatch(["--help"], { nodeArgs: ["-r", probe] });
    const version = await ecsBatch(["--version"], { nodeArgs: ["-r", probe] });
    const bogus = await ecsBatch(["run", "job.yaml", "--bogus"], { nodeArgs: ["-r", probe] });
    expect([help.code, version.code, bogus.code]).toEqual([0, 0, 2]);
    expect(bogus.stderr).toMatch(/^ecs-batch: unknown option --bogus\nUsage:\n/);
    expect([loaded(help), loaded(version), loaded(bogus)]).toEqual([0, 0, 0]);
    // The probe does see the SDK when a job is read: it is loaded for a run.
    const run = await ecsBatch(["preview", jobFile("probe", "true"), "--local"], {
      nodeArgs: ["-r", probe],
    });
    expect(run.code).toBe(0);
    expect(loaded(run)).toBeGreaterThan(0);
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

  it("with --json, reports an invalid job as one JSON object on stderr, with its issues", async () => {
    const r = await ecsBatch([
      "run",
      jobFile("invalid-json", "true", { timeout: "30 seconds", taskCount: 0 }),
      "--local",
      "--json",
    ]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    const error = JSON.parse(lines[0] ?? "") as {
      event: string;
      code: string;
      issues: { path: string; message: string }[];
    };
    expect(error).toMatchObject({
      event: "error",
      name: "EcsBatchValidationError",
      code: "VALIDATION",
    });
    expect(error.issues.map((i) => i.path).sort()).toEqual(["taskCount", "timeout"]);
  });

  it("reports a malformed YAML or JSON job file with the line, the column and the line itself", async () => {
    writeFileSync(join(dir, "broken.yaml"), "jobId: demo\ntaskDefinition:\n  path: a: b\n");
    const r = await ecsBatch(["run", "broken.yaml", "--local"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      [
        "  - job file: broken.yaml is not valid YAML: Nested mappings are not allowed in compact mappings, at line 3, column 9:",
        "    3 |   path: a: b",
        "      |         ^",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "broken.json"),
      '{\n  "jobId": "demo",\n  "taskCount": 2\n  "cluster": "b"\n}\n',
    );
    const json = await ecsBatch(["run", "broken.json", "--local"]);
    expect(json.code).toBe(2);
    expect(json.stderr).toContain(
      [
        "  - job file: broken.json is not valid JSON: Expected ',' or '}' after property value, at line 4, column 3:",
        '    4 |   "cluster": "b"',
        "      |   ^",
      ].join("\n"),
    );
  });

  it("reads a job file with a $schema key (for editors) as the job without it", async () => {
    const path = jobFile("schema-key", "true");
    const job = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ $schema: "./job.schema.json", ...job }));
    const r = await ecsBatch(["preview", path, "--local"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
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

  it("prints only the start, the failures with their log tail, and the summary with --quiet", async () => {
    const r = await ecsBatch([
      "run",
      jobFile("quiet", 'echo "attempt $TASK_ATTEMPT"; [ "$TASK_ATTEMPT" = 2 ] || exit 3', {
        taskCount: 2,
      }),
      "--local",
      "--quiet",
    ]);
    expect(r.code).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d job quiet-\w+ started \(2 tasks, /);
    const failures = lines.filter((l) => / failed \(exit\)/.test(l));
    expect(failures).toHaveLength(2);
    expect(r.stderr).toContain("    | [");
    expect(r.stderr).toContain("] attempt 1");
    expect(lines.at(-1)).toMatch(
      /^ecs-batch: job quiet-\w+ succeeded in [\d.]+s \(2 succeeded; 2 failed attempts\)$/,
    );
    expect(r.stderr).not.toMatch(
      / is (PROVISIONING|RUNNING|STOPPED)| started: arn:| succeeded \(exit code/,
    );
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

  it("on SIGTERM stops the tasks and exits 143 (128 + 15), as a supervisor expects", async () => {
    let sent = false;
    const r = await ecsBatch(
      ["run", jobFile("sigterm", "sleep 30", { taskCount: 2 }), "--local", "--json"],
      {
        onStdout: (out, child) => {
          if (
            !sent &&
            out.split("\n").filter((l) => l.includes('"lastStatus":"RUNNING"')).length >= 2
          ) {
            sent = true;
            setTimeout(() => child.kill("SIGTERM"), 100);
          }
        },
      },
    );
    expect(sent).toBe(true);
    expect(r.code).toBe(143);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as {
      result: { status: string; tasks: { status: string }[] };
    };
    expect(last.result.status).toBe("cancelled");
    expect(last.result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped"]);
    // With --json, stderr carries JSON only: here the notice of the signal.
    for (const line of r.stderr.trim().split("\n"))
      expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(r.stderr).toContain("SIGTERM: cancelling job sigterm-");
  });

  it("refuses --detach-on-sigterm with --local: local tasks cannot outlive the process", async () => {
    const r = await ecsBatch([
      "run",
      jobFile("handover-local", "true"),
      "--local",
      "--detach-on-sigterm",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--detach-on-sigterm hands a run over to another process");
  });

  it("refuses a --settle that is not a duration, or given to status, before any AWS call", async () => {
    const bad = await ecsBatch(["stop", "nightly", "--settle", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--settle takes a duration, e.g. 30s or 0");
    const misplaced = await ecsBatch(["status", "nightly", "--settle", "5s"]);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain('--settle is an option of "stop"');
  });

  it("runs the packaged demo with `ecs-batch demo`", async () => {
    const r = await ecsBatch(["demo", "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Task name: ecs-batch-demo-2 (attempt 2)");
    expect(r.stdout.match(/^=== ecs\/main\/[0-9a-f]{32} ===$/gm)).toHaveLength(4);
    expect(r.stderr).toMatch(
      /task 2 attempt 1 failed \(exit\): container "main" exited with code 137/,
    );
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
