import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { ContainerDefinition } from "@aws-sdk/client-ecs";
import { afterEach, describe, expect, it } from "vitest";
import type { BatchJobInput } from "../../src/index.js";
import { createLocalRunner } from "../../src/local/index.js";

const logging = (name: string): ContainerDefinition["logConfiguration"] => ({
  logDriver: "awslogs",
  options: {
    "awslogs-group": "/local",
    "awslogs-region": "us-west-2",
    "awslogs-stream-prefix": name,
  },
});

function localJob(
  containers: ContainerDefinition[],
  extra: Partial<BatchJobInput> = {},
): BatchJobInput {
  return {
    jobId: `local-${randomUUID().slice(0, 8)}`,
    pollInterval: "200ms",
    retry: { backoff: { initial: "100ms", max: "200ms" } },
    taskDefinition: {
      definition: {
        family: "local-test",
        cpu: "256",
        memory: "512",
        containerDefinitions: containers,
      },
    },
    ...extra,
  };
}

/** Processes whose command line contains `marker`. */
function processesWith(marker: string): string[] {
  return execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(marker) && !l.includes("ps -eo"));
}

const runners: { local: { close(): void } }[] = [];
afterEach(() => {
  for (const r of runners.splice(0)) r.local.close();
});

function runner(options: Parameters<typeof createLocalRunner>[0] = {}) {
  const r = createLocalRunner(options);
  runners.push(r);
  return r;
}

const text = (logs: unknown) =>
  logs !== null && typeof logs === "object" && "text" in logs
    ? (logs as { text: string }).text
    : "";

describe("local mode", () => {
  it("runs entryPoint + command directly, with the merged environment plus PATH only", async () => {
    const r = runner();
    const result = await r.run(
      localJob(
        [
          {
            name: "main",
            image: "not-pulled",
            entryPoint: ["sh", "-c"],
            command: [
              'echo "vars: $(env | cut -d= -f1 | sort | tr "\\n" " ")"; echo "level=$LEVEL name=$TASK_NAME"; echo oops >&2',
            ],
            environment: [{ name: "LEVEL", value: "template" }],
            logConfiguration: logging("ecs"),
          },
        ],
        { containerOverrides: [{ name: "main", environment: { LEVEL: "override" } }] },
      ),
    );
    expect(result.status).toBe("succeeded");
    const out = text(result.logs);
    const vars = (/vars: ([^\n]*)\n/.exec(out)?.[1] ?? "").trim().split(" ");
    // The shell itself adds PWD (and, depending on the shell, SHLVL and _).
    expect(vars.filter((v) => !["PWD", "SHLVL", "_", "OLDPWD"].includes(v))).toEqual([
      "LEVEL",
      "PATH",
      "TASK_ATTEMPT",
      "TASK_COUNT",
      "TASK_NAME",
      "TASK_NUM",
    ]);
    expect(out).toContain(`level=override name=ecs-batch-${result.jobId}-0`);
    expect(out).toContain("] oops\n");
    expect(out).not.toContain("HOME");
  });

  it("uses no shell unless the command runs one", async () => {
    const r = runner();
    const result = await r.run(
      localJob([
        {
          name: "main",
          image: "x",
          command: ["echo", "$HOME", "a;b"],
          logConfiguration: logging("ecs"),
        },
      ]),
    );
    expect(text(result.logs)).toContain("] $HOME a;b\n");
  });

  it("lets essential containers decide, and retries a failed attempt", async () => {
    const r = runner();
    const result = await r.run(
      localJob(
        [
          {
            name: "main",
            image: "x",
            entryPoint: ["sh", "-c"],
            command: ['[ "$TASK_ATTEMPT" = 2 ] || exit 3'],
            logConfiguration: logging("ecs"),
          },
          { name: "sidecar", image: "x", essential: false, command: ["sh", "-c", "exit 1"] },
        ],
        { maxFailCount: 1 },
      ),
    );
    expect(result.status).toBe("succeeded");
    expect(result.tasks[0]).toMatchObject({ attempts: 2, exitCode: 0 });
  });

  it("fails to start a container with nothing to run, and says why", async () => {
    const r = runner();
    const failures: string[] = [];
    r.on("taskFailed", (e) => failures.push(`${e.failure.kind}: ${e.failure.reason}`));
    const result = await r.run(
      localJob([{ name: "main", image: "x", logConfiguration: logging("ecs") }], {
        maxFailCount: 0,
      }),
    );
    expect(result.status).toBe("failed");
    expect(failures[0]).toMatch(
      /^start: task failed to start: CannotStartContainerError: container "main" has no entryPoint or command; local mode does not pull images/,
    );
  });

  it("reports a command that does not exist as a start failure", async () => {
    const r = runner();
    const failures: string[] = [];
    r.on("taskFailed", (e) => failures.push(e.failure.kind));
    const result = await r.run(
      localJob([{ name: "main", image: "x", command: ["/no/such/program"] }], { maxFailCount: 0 }),
    );
    expect(result.status).toBe("failed");
    expect(failures).toEqual(["start"]);
  });

  it("stops with SIGTERM, then SIGKILL after stopTimeout, and leaves no process behind", async () => {
    const marker = `ebr-${randomUUID()}`;
    const r = runner();
    const ac = new AbortController();
    r.on("taskStatusChanged", (e) => {
      if (e.lastStatus === "RUNNING") setTimeout(() => ac.abort("enough"), 300);
    });
    const started = Date.now();
    const result = await r.run(
      localJob(
        [
          {
            name: "main",
            image: "x",
            entryPoint: ["sh", "-c"],
            // Ignores SIGTERM, so only the SIGKILL after stopTimeout ends it.
            command: [`trap '' TERM; sleep 30 & wait; echo ${marker}`],
            stopTimeout: 1,
            logConfiguration: logging("ecs"),
          },
        ],
        { taskCount: 2 },
      ),
      { signal: ac.signal },
    );
    expect(result.status).toBe("cancelled");
    expect(result.tasks.map((t) => t.status)).toEqual(["stopped", "stopped"]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.local.liveProcesses).toBe(0);
    expect(processesWith(marker)).toEqual([]);
  });

  it("caps the tasks running at once", async () => {
    const r = runner({ maxConcurrentTasks: 1 });
    let maxLive = 0;
    const timer = setInterval(() => (maxLive = Math.max(maxLive, r.local.liveProcesses)), 20);
    const result = await r.run(
      localJob([{ name: "main", image: "x", command: ["sleep", "0.3"] }], { taskCount: 3 }),
    );
    clearInterval(timer);
    expect(result.status).toBe("succeeded");
    expect(maxLive).toBe(1);
  });

  it("injects AGENT launch failures to try out retries", async () => {
    const r = runner({ launchFailures: { probability: 1, seed: 1 } });
    const kinds: string[] = [];
    r.on("taskFailed", (e) => kinds.push(e.failure.reason));
    const result = await r.run(
      localJob([{ name: "main", image: "x", command: ["true"] }], { taskCount: 2 }),
    );
    expect(result.status).toBe("succeeded");
    expect(kinds).toEqual([
      "RunTask could not start the task: AGENT",
      "RunTask could not start the task: AGENT",
    ]);
    expect(result.tasks.map((t) => t.attempts)).toEqual([2, 2]);
  });
});

describe("no child process outlives the runner", () => {
  it("even when the runner's process is killed with SIGKILL mid-job", async () => {
    const marker = `ebr-orphan-${randomUUID()}`;
    const script = `
      import { createLocalRunner } from ${JSON.stringify(new URL("../../src/local/index.ts", import.meta.url).pathname)};
      const runner = createLocalRunner();
      runner.on("taskStatusChanged", (e) => { if (e.lastStatus === "RUNNING") console.log("RUNNING"); });
      await runner.run({
        pollInterval: "200ms", taskCount: 2,
        taskDefinition: { definition: { family: "orphan", cpu: "256", memory: "512", containerDefinitions: [
          { name: "main", image: "x", entryPoint: ["sh", "-c"], command: ["sleep 60; echo ${marker}"] },
          { name: "side", image: "x", essential: false, entryPoint: ["sh", "-c"], command: ["sleep 61; echo ${marker}"] },
        ] } },
      });`;
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        if (d.toString().includes("RUNNING")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`runner exited early (${String(code)})`)));
    });
    await sleep(300);
    expect(processesWith(marker).length).toBeGreaterThanOrEqual(2);
    child.kill("SIGKILL");
    let left = processesWith(marker);
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await sleep(100);
      left = processesWith(marker);
    }
    expect(left).toEqual([]);
  }, 30_000);
});
