/**
 * The built `ecs-batch` binary against moto with `--endpoint`, as a new user would run it:
 * credentials from the environment, the default VPC inferred, one exit code per outcome.
 */
import { join } from "node:path";
import { DescribeVpcsCommand } from "@aws-sdk/client-ec2";
import { expect, it } from "vitest";
import { dir, ecsBatch, jobFile, lastEvent, type Run } from "./cli-process.js";
import {
  createCluster,
  describeInMoto,
  describeInterop,
  endpoint,
  motoTasks,
  received,
  template,
  unique,
  useAws,
  writeTaskLogs,
} from "./helpers.js";

const aws = useAws();

async function newJob(jobId: string, extra: Record<string, unknown> = {}) {
  const cluster = await createCluster(aws.ecs);
  const group = `/ecs/${unique("cli")}`;
  const family = unique("cli");
  const job = {
    jobId,
    cluster,
    taskDefinition: { definition: template(family, { logGroup: group }) },
    taskCount: 3,
    pollInterval: "200ms",
    ...extra,
  };
  return { cluster, group, family, path: jobFile(job) };
}

describeInterop("the ecs-batch CLI with --endpoint", () => {
  it("previews a job: the definition it would register and every RunTask, launching nothing", async () => {
    const { cluster, family, path } = await newJob("look");

    const r = await ecsBatch(["preview", path]);

    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as {
      taskDefinition: { action: string; input?: { family: string } };
      network: { subnets: string[]; assignPublicIp: string };
      runTaskInputs: { startedBy: string; cluster: string }[];
    };
    expect(plan.taskDefinition.action).toBe("register");
    expect(plan.taskDefinition.input?.family).toBe(family);
    expect(plan.network.subnets.length).toBeGreaterThan(0);
    expect(plan.network.assignPublicIp).toBe("ENABLED");
    expect(plan.runTaskInputs.map((i) => i.startedBy)).toEqual([
      "ecs-batch-look-0",
      "ecs-batch-look-1",
      "ecs-batch-look-2",
    ]);
    expect(received("RegisterTaskDefinition").filter((q) => q.body.family === family)).toEqual([]);
    expect(received("RunTask").filter((q) => q.body.cluster === cluster)).toEqual([]);
  });

  it("runs a 3-task job in the default VPC: exit 0, the last task's logs in the result", async () => {
    await motoTasks.hold();
    const { group, path } = await newJob("first-run");
    let started = 0;

    const r = await ecsBatch(["run", path, "--json"], (event) => {
      if (event.event !== "taskStarted") return;
      const taskArn = String(event.taskArn);
      void writeTaskLogs(aws.logs, { group, container: "main", taskArn }, [
        `hello from task ${String(event.taskIndex)}`,
      ]).then(() => {
        if (++started === 3) return motoTasks.progress();
      });
    });

    expect(r.code).toBe(0);
    // With --json, stderr is JSON too (the SDK's Node.js version warning included).
    for (const line of r.stderr.split("\n").filter((l) => l !== "")) {
      expect(() => JSON.parse(line) as unknown).not.toThrow();
    }
    const done = lastEvent(r);
    expect(done.event).toBe("jobCompleted");
    const result = done.result as {
      status: string;
      tasks: { status: string }[];
      logs: { taskIndex: number; text: string };
    };
    expect(result.status).toBe("succeeded");
    expect(result.tasks.map((t) => t.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(result.logs.taskIndex).toBe(2);
    expect(result.logs.text).toMatch(/\] hello from task 2\n$/);
  });

  it("without --json, prints the representative task's logs on stdout and a summary on stderr", async () => {
    const { path } = await newJob("plain");

    const r = await ecsBatch(["run", path]);

    expect(r.code).toBe(0);
    // Nothing wrote to the stream (moto's tasks ran no container): the section says so.
    expect(r.stdout).toMatch(/^=== ecs\/main\/[0-9a-f-]{36} ===\n\n.*no log stream/);
    expect(r.stderr).toMatch(/job plain succeeded in [\d.]+s \(3 succeeded; 0 failed attempts\)/);
  });

  it("exits 2 on a setup error: a cluster moto does not have, nothing launched", async () => {
    const cluster = unique("missing");
    const path = jobFile({
      jobId: "nowhere",
      cluster,
      taskDefinition: { definition: template(unique("cli")) },
      pollInterval: "200ms",
    });

    const r = await ecsBatch(["run", path]);

    expect(r.code).toBe(2);
    expect(r.stderr).toContain(cluster);
    expect(received("RunTask").filter((q) => q.body.cluster === cluster)).toEqual([]);
  });

  it("exits 124 on timeout, with every task STOPPED in moto", async () => {
    await motoTasks.hold();
    const { cluster, path } = await newJob("slow", { timeout: "3s", logs: { fetch: "none" } });

    const r = await ecsBatch(["run", path, "--json"]);

    expect(r.code).toBe(124);
    const result = lastEvent(r).result as { status: string; tasks: { taskArn: string }[] };
    expect(result.status).toBe("timedOut");
    const tasks = await describeInMoto(
      aws.ecs,
      cluster,
      result.tasks.map((t) => t.taskArn),
    );
    expect(tasks.map((t) => t.lastStatus)).toEqual(["STOPPED", "STOPPED", "STOPPED"]);
  });

  it("exits 130 on SIGINT, after stopping every task in moto", async () => {
    await motoTasks.hold();
    const { cluster, path } = await newJob("interrupted", { logs: { fetch: "none" } });
    let started = 0;

    const r = await ecsBatch(["run", path, "--json"], (event, child) => {
      if (event.event === "taskStarted" && ++started === 3) child.kill("SIGINT");
    });

    expect(r.code).toBe(130);
    const result = lastEvent(r).result as { status: string; tasks: { taskArn: string }[] };
    expect(result.status).toBe("cancelled");
    const tasks = await describeInMoto(
      aws.ecs,
      cluster,
      result.tasks.map((t) => t.taskArn),
    );
    expect(tasks).toHaveLength(3);
    for (const task of tasks) {
      expect(task.lastStatus).toBe("STOPPED");
      expect(task.stoppedReason).toBe(
        "ecs-batch-runner: job interrupted was cancelled: received SIGINT",
      );
    }
  });

  it("exits 1 when a non-retryable error ends the job after its tasks started", async () => {
    // moto never fails a task, so the way to a failed job is an error after launch: the cluster
    // vanishes (moto's reset: its DeleteCluster only marks a cluster INACTIVE and keeps its
    // tasks running) and DescribeTasks answers ClusterNotFoundException.
    await motoTasks.hold();
    const { path } = await newJob("orphaned", { logs: { fetch: "none" } });
    let started = 0;

    const r = await ecsBatch(["run", path, "--json"], (event) => {
      if (event.event === "taskStarted" && ++started === 3) {
        void fetch(`${endpoint()}/moto-api/reset`, { method: "POST" });
      }
    });
    // moto's reset dropped its EC2 state too: build the region's backend again for what follows.
    await aws.ec2.send(new DescribeVpcsCommand({}));

    expect(r.code).toBe(1);
    const result = lastEvent(r).result as {
      status: string;
      error: { code: string };
      tasks: { status: string }[];
    };
    expect(result.status).toBe("failed");
    expect(result.error.code).toBe("ClusterNotFoundException");
    expect(r.stderr).toContain("ClusterNotFoundException");
  });
});

/** A 3-task job run with `--state-dir`, SIGKILLed once its third task started. */
async function killedRun(jobId: string) {
  await motoTasks.hold();
  const stateDir = join(dir, unique("state"));
  const { path, cluster } = await newJob(jobId, { pollInterval: "200ms" });
  let runId = "";
  let started = 0;
  const killed = await ecsBatch(
    ["run", path, "--json", "--state-dir", stateDir],
    (event, child) => {
      if (event.event === "jobStarted") runId = String(event.runId);
      if (event.event === "taskStarted" && ++started === 3) child.kill("SIGKILL");
    },
  );
  expect(killed.code).toBeNull();
  return { stateDir, path, cluster, runId };
}

describeInterop("a run that outlives its process, with the CLI", () => {
  it("run --state-dir is SIGKILLed mid-job; attach carries the run on and finishes it", async () => {
    const { stateDir, path, cluster, runId } = await killedRun("durable-cli");
    expect(runId).not.toBe("");
    const launched = received("RunTask").filter((q) => q.body.cluster === cluster).length;
    expect(launched).toBe(3);

    // A new process: the lease of the killed one lapses after three poll intervals.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await motoTasks.progress();
    const attached = await ecsBatch(["attach", path, "--json", "--state-dir", stateDir]);
    expect(attached.code).toBe(0);
    const done = lastEvent(attached);
    expect(done).toMatchObject({ event: "jobCompleted", runId });
    expect((done.result as { status: string }).status).toBe("succeeded");
    // Nothing launched twice: the attach watched the three tasks the killed process started.
    expect(received("RunTask").filter((q) => q.body.cluster === cluster)).toHaveLength(launched);

    const status = await ecsBatch([
      "status",
      "durable-cli",
      "--cluster",
      cluster,
      "--json",
      "--state-dir",
      stateDir,
    ]);
    expect(status.code).toBe(0);
    const seen = JSON.parse(status.stdout) as {
      runs: { runId: string; checkpoint?: { state: string } }[];
    };
    expect(seen.runs[0]).toMatchObject({ runId, checkpoint: { state: "finished" } });
  });
});

describeInterop("a run stopped by the janitor, with the CLI", () => {
  it("stop --state-dir stops a SIGKILLed run's tasks and records its cancel; attach ends it cancelled", async () => {
    const { stateDir, path, cluster, runId } = await killedRun("stopped-cli");
    const launched = received("RunTask").filter((q) => q.body.cluster === cluster).length;

    const stop = ["stop", "stopped-cli", "--cluster", cluster, "--state-dir", stateDir];
    const stopped = await ecsBatch([...stop, "--settle", "0", "--json"]);
    expect(stopped.code).toBe(0);
    const answer = JSON.parse(stopped.stdout) as { runIds: string[]; stoppedTaskArns: string[] };
    expect(answer).toMatchObject({ runIds: [runId], unconfirmedRunIds: [] });
    expect(answer.stoppedTaskArns).toHaveLength(3);

    const attached = await ecsBatch(["attach", path, "--json", "--state-dir", stateDir]);
    expect(attached.code).toBe(130);
    const done = lastEvent(attached);
    expect(done).toMatchObject({ event: "jobCompleted", runId });
    expect(done.result).toMatchObject({
      status: "cancelled",
      error: { code: "CANCELLED", message: "job stopped-cli was cancelled: stopped by stopJob" },
    });
    expect(received("RunTask").filter((q) => q.body.cluster === cluster)).toHaveLength(launched);
  });

  it("stop --state-dir while the run's process is alive: it waits for the run's lease, and says so", async () => {
    await motoTasks.hold();
    const stateDir = join(dir, unique("state"));
    const { path, cluster } = await newJob("live-stop");
    const stop = ["stop", "live-stop", "--cluster", cluster, "--state-dir", stateDir];
    let started = 0;
    let stopping: Promise<Run> | undefined;
    const owner = await ecsBatch(["run", path, "--json", "--state-dir", stateDir], (event) => {
      if (event.event === "taskStarted" && ++started === 3) {
        stopping = ecsBatch([...stop, "--settle", "0", "--json"]);
      }
    });
    // The owner saw its tasks stopped and ended its run. (moto's StopTask sets no stop code, so
    // it reads the tasks by their containers' exit codes; ECS's UserInitiated would read as
    // stopJob's cancel, as the simulator's tests show.)
    expect(lastEvent(owner)).toMatchObject({ event: "jobCompleted" });
    const stopped = await (stopping ?? Promise.reject(new Error("stop was never started")));
    expect(stopped.code).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ unconfirmedRunIds: [] });
    expect(
      (JSON.parse(stopped.stdout) as { stoppedTaskArns: string[] }).stoppedTaskArns,
    ).toHaveLength(3);
    // The run's lease was held by its live process: the janitor said it waited for it.
    const said = stopped.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level?: string; message?: string });
    expect(said).toContainEqual(
      expect.objectContaining({
        level: "info",
        message: expect.stringContaining("waits for the lease") as unknown,
      }),
    );
  });
});

describeInterop("a run id names one run", () => {
  it("run --run-id of a run the state dir holds exits 2 (RUN_EXISTS), launching nothing", async () => {
    const stateDir = join(dir, unique("state"));
    const { path, cluster } = await newJob("named-run");
    const args = ["run", path, "--json", "--state-dir", stateDir, "--run-id", "nightly-1"];
    const first = await ecsBatch(args);
    expect(first.code).toBe(0);

    const again = await ecsBatch(args);
    expect(again.code).toBe(2);
    const error = JSON.parse(again.stderr.trim().split("\n").at(-1) ?? "{}") as {
      code?: string;
      message?: string;
    };
    expect(error.code).toBe("RUN_EXISTS");
    expect(error.message).toContain("run nightly-1 of job named-run already exists (finished)");
    expect(received("RunTask").filter((q) => q.body.cluster === cluster)).toHaveLength(3);
  });
});

describeInterop("a run handed over by the CLI on SIGTERM", () => {
  it("run --detach-on-sigterm lets go without stopping anything; attach takes the run up at once", async () => {
    await motoTasks.hold();
    const stateDir = join(dir, unique("state"));
    // A 2 s poll: the lease lasts 6 s, so an attach that is not refused was given the lease.
    const { path, cluster } = await newJob("handover-cli", { pollInterval: "2s" });
    let started = 0;
    const first = await ecsBatch(
      ["run", path, "--json", "--state-dir", stateDir, "--detach-on-sigterm"],
      (event, child) => {
        if (event.event === "taskStarted" && ++started === 3) child.kill("SIGTERM");
      },
    );
    expect(first.code).toBe(143);
    const handedOver = lastEvent(first);
    expect(handedOver).toMatchObject({ event: "detached", jobId: "handover-cli" });
    expect(received("StopTask").filter((q) => q.body.cluster === cluster)).toEqual([]);

    await motoTasks.progress();
    const attached = await ecsBatch(["attach", path, "--json", "--state-dir", stateDir]);
    expect(attached.code).toBe(0);
    const done = lastEvent(attached);
    expect(done).toMatchObject({ event: "jobCompleted", runId: handedOver.runId });
    expect((done.result as { status: string }).status).toBe("succeeded");
    expect(received("RunTask").filter((q) => q.body.cluster === cluster)).toHaveLength(3);
  });
});

describeInterop("stop-overdue, the sweep for runs nobody carries on", () => {
  it("stops the tasks of a SIGKILLed run once its deadline passed, and lists them first with --dry-run", async () => {
    await motoTasks.hold();
    const { path, cluster } = await newJob("overdue-cli", { timeout: "2s" });
    let runId = "";
    let started = 0;
    const killed = await ecsBatch(["run", path, "--json"], (event, child) => {
      if (event.event === "jobStarted") runId = String(event.runId);
      if (event.event === "taskStarted" && ++started === 3) child.kill("SIGKILL");
    });
    expect(killed.code).toBeNull();
    // Past the run's deadline (2 s after it started), with nobody to stop its tasks.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const sweep = ["stop-overdue", "--cluster", cluster, "--grace", "0s", "--json"];

    const listed = await ecsBatch([...sweep, "--dry-run"]);
    expect(listed.code).toBe(0);
    const seen = JSON.parse(listed.stdout) as {
      event: string;
      overdue: { jobId: string; runId: string; taskIndex: number; taskArn: string }[];
      stoppedTaskArns: string[];
    };
    expect(seen.event).toBe("overdue");
    expect(seen.overdue.map((t) => [t.jobId, t.runId, t.taskIndex])).toEqual([
      ["overdue-cli", runId, 0],
      ["overdue-cli", runId, 1],
      ["overdue-cli", runId, 2],
    ]);
    expect(seen.stoppedTaskArns).toEqual([]);

    const swept = await ecsBatch(sweep);
    expect(swept.code).toBe(0);
    const stopped = JSON.parse(swept.stdout) as { event: string; stoppedTaskArns: string[] };
    expect(stopped.event).toBe("stoppedOverdue");
    expect([...stopped.stoppedTaskArns].sort()).toEqual(seen.overdue.map((t) => t.taskArn).sort());
    const tasks = await describeInMoto(aws.ecs, cluster, stopped.stoppedTaskArns);
    for (const task of tasks) {
      expect(task.desiredStatus).toBe("STOPPED");
      expect(task.stoppedReason).toMatch(/^ecs-batch-runner: job overdue-cli passed its deadline /);
    }
    // Nothing is left to sweep.
    const again = await ecsBatch(sweep);
    expect(JSON.parse(again.stdout)).toMatchObject({ overdue: [] });
  });
});
