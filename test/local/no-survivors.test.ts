/**
 * No task process outlives the local backend, on the exit paths a user takes: `close()` while a
 * job runs, a host's `process.exit`, and a second Ctrl-C to `ecs-batch run --local` (the first
 * Ctrl-C and a SIGKILL of the runner are covered in cli.test.ts and local.test.ts). The tasks
 * run a shell that ignores SIGINT and SIGTERM and leaves a child behind, so only a kill of the
 * whole process group ends them; survivors are looked for by the marker in their command line
 * and by process group.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createLocalRunner } from "../../src/local/index.js";

const root = join(import.meta.dirname, "..", "..");
const bin = join(root, "dist", "cli", "main.js");
const dir = join(root, ".tmp", "local-no-survivors");
mkdirSync(dir, { recursive: true });

/** A container that shrugs off SIGINT and SIGTERM and starts a child that carries no marker. */
function stubborn(marker: string) {
  return {
    name: "main",
    image: "x",
    entryPoint: ["sh", "-c"],
    command: [`trap '' INT TERM; sleep 300 & sleep 300; : ${marker}`],
    stopTimeout: 30,
  };
}

interface Proc {
  readonly pid: number;
  readonly pgid: number;
  readonly args: string;
}

/** Live processes; zombies are dead already, only waiting for init to reap them. */
function processes(): Proc[] {
  return execFileSync("ps", ["-eo", "pid=,pgid=,stat=,args="], { encoding: "utf8" })
    .split("\n")
    .flatMap((line) => {
      const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
      if (m === null || m[3]?.startsWith("Z") === true) return [];
      return [{ pid: Number(m[1]), pgid: Number(m[2]), args: m[4] ?? "" }];
    });
}

/** Process groups the tasks' commands lead (a command runs in a group of its own). */
const groups = new Set<number>();
const markers = new Set<string>();

/** A marker for the command lines of one test's tasks. */
function newMarker(name: string): string {
  const marker = `ebr-${name}-${randomUUID()}`;
  markers.add(marker);
  return marker;
}

/** Waits until `count` commands with the marker run, and remembers their process groups. */
async function commandsRunning(marker: string, count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const leaders = processes().filter((p) => p.args.includes(marker) && p.pid === p.pgid);
    if (leaders.length >= count) {
      for (const p of leaders) groups.add(p.pgid);
      return;
    }
    await sleep(50);
  }
  throw new Error(`the tasks' commands never started (${marker})`);
}

/** Processes with the marker or in a task's group, polled for up to 3 s until there are none. */
async function survivors(marker: string): Promise<string[]> {
  let left: Proc[] = [];
  for (let i = 0; i < 30; i++) {
    left = processes().filter(
      (p) => (p.args.includes(marker) && !p.args.startsWith("ps ")) || groups.has(p.pgid),
    );
    if (left.length === 0) return [];
    await sleep(100);
  }
  return left.map((p) => `${p.pid} (group ${p.pgid}): ${p.args.slice(0, 120)}`);
}

afterEach(() => {
  // A failing test must not leave its sleepers behind for the rest of the suite.
  for (const p of processes()) {
    if (p.pid === p.pgid && [...markers].some((m) => p.args.includes(m))) groups.add(p.pgid);
  }
  markers.clear();
  for (const g of groups) {
    try {
      process.kill(-g, "SIGKILL");
    } catch {
      // already gone
    }
  }
  groups.clear();
});

describe("no task process outlives the local backend", () => {
  it("close() mid-run kills every task's process group, and nothing is launched after it", async () => {
    const marker = newMarker("close");
    const runner = createLocalRunner();
    const result = runner.run({
      jobId: `close-${randomUUID().slice(0, 8)}`,
      taskCount: 2,
      pollInterval: "200ms",
      timeout: "20s",
      retry: { backoff: { initial: "100ms", max: "200ms" } },
      taskDefinition: {
        definition: {
          family: "close-test",
          cpu: "256",
          memory: "512",
          containerDefinitions: [stubborn(marker)],
        },
      },
    });
    await commandsRunning(marker, 2);

    runner.local.close();

    expect(await survivors(marker)).toEqual([]);
    const done = await result;
    // The retry the runner asks for cannot start a process on a closed backend, and says why.
    expect(done.status).toBe("failed");
    expect(done.tasks.map((t) => t.stoppedReason)).toContain("the local backend was closed");
    expect(runner.local.liveProcesses).toBe(0);
    expect(await survivors(marker)).toEqual([]);
  });

  it("a host that calls process.exit mid-job, as another task is launching, leaves nothing behind", async () => {
    const marker = newMarker("exit");
    const script = `
      import { createLocalRunner } from ${JSON.stringify(join(root, "src", "local", "index.ts"))};
      const runner = createLocalRunner({ maxConcurrentTasks: 8 });
      // The last task launches a second after the others, while they run.
      runner.local.aws.script({ taskIndex: 4 }, { provisioningMs: 1200 });
      void runner.run({
        taskCount: 5, pollInterval: "200ms",
        taskDefinition: { definition: { family: "exit-test", cpu: "256", memory: "512",
          containerDefinitions: [${JSON.stringify(stubborn(marker))}] } },
      });
      // Exit the moment its process is spawned: it starts its command after this process is gone.
      setInterval(() => { if (runner.local.liveProcesses === 5) process.exit(0); }, 1);`;
    const host = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    host.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      host.on("exit", (code) => resolve(code)),
    );
    await commandsRunning(marker, 4);
    expect(await exited, stderr).toBe(0);
    expect(await survivors(marker)).toEqual([]);
  });

  it.each([
    ["the terminal's process group (Ctrl-C)", true],
    ["the CLI process alone", false],
  ])(
    "ecs-batch run --local, sent SIGINT twice via %s, exits 130 and leaves nothing running",
    async (_via, toGroup) => {
      const marker = newMarker("sigint2");
      // Not named after the marker: the CLI's own command line must not look like a task's.
      const job = join(dir, `job-${randomUUID()}.json`);
      writeFileSync(
        job,
        JSON.stringify({
          taskCount: 2,
          pollInterval: "200ms",
          taskDefinition: {
            definition: {
              family: "sigint-test",
              cpu: "256",
              memory: "512",
              containerDefinitions: [stubborn(marker)],
            },
          },
        }),
      );
      // A group of its own, as a shell gives a foreground job, so Ctrl-C can be imitated.
      const cli = spawn(process.execPath, [bin, "run", job, "--local", "--json"], {
        cwd: dir,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const pid = cli.pid as number;
      let stderr = "";
      cli.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      cli.stdout.resume();
      const exited = new Promise<number | null>((resolve) =>
        cli.on("exit", (code) => resolve(code)),
      );
      const sigint = () => process.kill(toGroup ? -pid : pid, "SIGINT");
      try {
        await commandsRunning(marker, 2);
        sigint();
        for (let i = 0; i < 60 && !stderr.includes("cancelling job"); i++) await sleep(50);
        expect(stderr).toContain("cancelling job");
        sigint();
        expect(await exited).toBe(130);
        expect(stderr).toContain("SIGINT again: quitting");
        expect(await survivors(marker)).toEqual([]);
      } finally {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // the CLI is gone, as it should be
        }
      }
    },
  );
});
