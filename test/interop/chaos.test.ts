/**
 * Real processes ended at random moments (DESIGN 3.11): an orchestrator's worker that dies, is
 * frozen or is replaced, and the worker that takes its place. Each job is started with
 * `ecs-batch run --run-id R`; each process is ended after a random time or just after a random
 * event: SIGKILL, SIGTERM (with `--detach-on-sigterm`: a hand-over), or SIGSTOP (a frozen VM; it
 * is woken while its successor runs, to find the run in other hands). The next process is
 * `ecs-batch attach --run-id R --wait-for-lease` (or `run` again when the attach finds that the
 * run never launched anything). The fifth is left to finish. The jobs rotate through the file
 * store, the DynamoDB store and none (attach from ECS alone; no SIGSTOP there, since nothing
 * tells a woken process without a store that another one carried its run on).
 *
 * Then moto must hold exactly one task per slot (moto ignores client tokens, so a RunTask sent
 * twice would show as a second task), every one stopped, the result must be the run's own, and
 * each woken process must have finished the run or let go of it.
 *
 * `CHAOS_SEED` and `CHAOS_JOBS` pick other draws (`CHAOS_SEED=7 CHAOS_JOBS=12 npm run
 * test:interop -- chaos`); each job's history is in `.tmp/interop-cli/chaos-<seed>.log`, and in
 * the failure's message.
 */
import type { ChildProcess } from "node:child_process";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { ListTasksCommand } from "@aws-sdk/client-ecs";
import { afterAll, expect, it } from "vitest";
import { seededRandom } from "ecs-batch-runner/testing";
import { dir, ecsBatch, jobFile, lastEvent, type JsonEvent, type Run } from "./cli-process.js";
import {
  createCluster,
  createJobTable,
  dynamoClient,
  describeInMoto,
  describeInterop,
  motoTasks,
  received,
  template,
  unique,
  useAws,
} from "./helpers.js";

const aws = useAws();
const dynamo = dynamoClient();
afterAll(() => dynamo.destroy());

const SEED = Number(process.env.CHAOS_SEED ?? "1");
const JOBS = Number(process.env.CHAOS_JOBS ?? "3");
const TASKS = 6;
/** Processes killed per job at most; the one after them finishes the run. */
const KILLS = 4;

/**
 * How one process is to end: after a time from its start (start-up, launches, watching, the
 * end), or just after its n-th event and a delay (the moments around a launch or a stop).
 * SIGSTOP pauses it (a VM frozen, a process swapped out) until a random moment of its
 * successor's run, or that run's end: it wakes to find the run in other hands.
 */
type Fate = (
  { readonly afterMs: number } | { readonly afterEvents: number; readonly delayMs: number }
) & { readonly signal: "SIGKILL" | "SIGTERM" | "SIGSTOP" };

function drawFate(next: () => number, pauses: boolean): Fate {
  const draw = next();
  const signal = draw < 0.55 ? "SIGKILL" : draw < 0.75 || !pauses ? "SIGTERM" : "SIGSTOP";
  if (next() < 0.5) return { afterMs: Math.floor(next() * 2500), signal };
  return {
    afterEvents: 1 + Math.floor(next() * 3 * TASKS),
    delayMs: Math.floor(next() * 250),
    signal,
  };
}

function describeFate(fate: Fate | undefined): string {
  if (fate === undefined) return "left alone";
  return "afterMs" in fate
    ? `${fate.signal} at ${fate.afterMs} ms`
    : `${fate.signal} ${fate.delayMs} ms after event ${fate.afterEvents}`;
}

type Ended = Run & { readonly events: JsonEvent[] };

/** A process that ended, or one paused (`child`), whose end comes once it is woken. */
type Outcome =
  | ({ readonly paused?: undefined } & Ended)
  | { readonly paused: ChildProcess; readonly ended: Promise<Ended>; readonly events: JsonEvent[] };

/** Starts `args` and ends it as `fate` says. */
function live(args: string[], fate: Fate | undefined): Promise<Outcome> {
  const events: JsonEvent[] = [];
  let acting: NodeJS.Timeout | undefined;
  return new Promise((resolve) => {
    const act = (child: ChildProcess, ms: number) => {
      acting ??= setTimeout(() => {
        child.kill(fate?.signal);
        if (fate?.signal === "SIGSTOP") resolve({ paused: child, ended, events });
      }, ms);
    };
    const ended = ecsBatch(
      args,
      (event, child) => {
        events.push(event);
        if (fate !== undefined && "afterEvents" in fate && events.length === fate.afterEvents) {
          act(child, fate.delayMs);
        }
      },
      (child) => {
        if (fate !== undefined && "afterMs" in fate) act(child, fate.afterMs);
      },
    ).then((run) => {
      clearTimeout(acting);
      return { ...run, events };
    });
    void ended.then(resolve);
  });
}

type Store = "file" | "dynamodb" | "none";

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}

async function chaosJob(next: () => number, store: Store, label: string) {
  const cluster = await createCluster(aws.ecs);
  const family = unique("chaos");
  const jobId = unique("chaos");
  const runId = unique("run");
  const path = jobFile({
    jobId,
    cluster,
    taskDefinition: { definition: template(family) },
    taskCount: TASKS,
    pollInterval: "200ms",
    logs: { fetch: "none" },
  });
  const storeArgs =
    store === "file"
      ? ["--state-dir", join(dir, unique("state"))]
      : store === "dynamodb"
        ? ["--dynamodb-table", await createJobTable(dynamo)]
        : [];
  const history: string[] = [];
  const woken: Promise<void>[] = [];
  const wakings: Ended[] = [];
  let asleep: ChildProcess[] = [];
  let command: "run" | "attach" = "run";
  let done: Ended | undefined;
  for (let process = 0; done === undefined; process++) {
    if (process > KILLS + 3)
      throw new Error(`${label}: no process finished\n${history.join("\n")}`);
    // Without a store nothing tells a woken process that another one carried its run on.
    const fate = process < KILLS ? drawFate(next, store !== "none") : undefined;
    const args = [
      command,
      path,
      "--run-id",
      runId,
      "--json",
      "--detach-on-sigterm",
      ...storeArgs,
      ...(command === "attach" ? ["--wait-for-lease", "10s"] : []),
    ];
    const began = Date.now();
    // The processes paused so far wake while this one runs.
    const sleepers = asleep;
    asleep = [];
    const wake = setTimeout(
      () => {
        for (const child of sleepers) child.kill("SIGCONT");
      },
      Math.floor(next() * 2500),
    );
    const outcome = await live(args, fate);
    const line = `${command} (${Date.now() - began} ms) ${describeFate(fate)}`;
    if (outcome.paused !== undefined) {
      history.push(`${line}: paused after ${outcome.events.map((e) => e.event).join(",")}`);
      asleep.push(outcome.paused);
      const asleepCommand = command;
      woken.push(
        outcome.ended.then((ended) => {
          history.push(
            `  woken ${asleepCommand}: exit ${ended.code} after ${ended.events.map((e) => e.event).join(",")} ${ended.code === 0 ? "" : lastLine(ended.stderr)}`,
          );
          wakings.push(ended);
        }),
      );
      command = "attach";
      continue;
    }
    clearTimeout(wake);
    for (const child of sleepers) child.kill("SIGCONT");
    history.push(
      `${line}: exit ${outcome.code} after ${outcome.events.map((e) => e.event).join(",")}`,
    );
    if (outcome.code === 0) done = outcome;
    else if (outcome.code === null || outcome.code === 143) command = "attach";
    else if (outcome.code === 2 && lastLine(outcome.stderr).includes("RUN_NOT_FOUND")) {
      command = "run";
    } else if (outcome.code === 2 && /LEASE_HELD|RUN_EXISTS/.test(lastLine(outcome.stderr))) {
      // A process woken from a pause started the run, or drives it: once it is gone, attach.
      await Promise.all(woken);
      command = "attach";
    } else throw new Error(`${label}: ${history.join("\n")}\n${outcome.stderr}`);
  }
  for (const child of asleep) child.kill("SIGCONT");
  await Promise.all(woken);
  return { cluster, jobId, runId, done, history, wakings };
}

describeInterop("processes killed at random moments, each replaced by an attach", () => {
  it(`leaves one task per slot, every one stopped, and the run's own result (seed ${SEED})`, async () => {
    // Each status lasts three polls: a run takes a few seconds, for kills to land all over it.
    await motoTasks.progress(3);
    const next = seededRandom(SEED);
    for (let job = 0; job < JOBS; job++) {
      const store = (["file", "dynamodb", "none"] as const)[job % 3] ?? "file";
      const label = `seed ${SEED}, job ${job} (store: ${store})`;
      const { cluster, runId, done, history, wakings } = await chaosJob(next, store, label);
      const explain = `${label}\n${history.join("\n")}`;
      appendFileSync(join(dir, `chaos-${SEED}.log`), `${explain}\n\n`);

      // A process woken from a pause finished the run before another took it (its result is
      // the run's), or let go when it found the run in other hands, or (an attach paused in its
      // start-up) found no run yet.
      for (const ended of wakings) {
        if (ended.code === 0) continue;
        expect(ended.code, explain).toBe(2);
        expect(lastLine(ended.stderr), explain).toMatch(
          /LEASE_LOST|LEASE_HELD|RUN_EXISTS|RUN_NOT_FOUND/,
        );
      }

      const completed = lastEvent(done);
      expect(completed, explain).toMatchObject({ event: "jobCompleted", runId });
      const result = completed.result as {
        status: string;
        tasks: { index: number; status: string; attempts: number; taskArn?: string }[];
      };
      expect(result.status, explain).toBe("succeeded");
      expect(
        result.tasks.map((t) => `${t.index} ${t.status} ${t.attempts}`),
        explain,
      ).toEqual(Array.from({ length: TASKS }, (_, i) => `${i} succeeded 1`));

      // One RunTask per slot: moto makes a task of each, client token or not.
      const launches = received("RunTask").filter((q) => q.body.cluster === cluster);
      expect(launches, explain).toHaveLength(TASKS);
      // moto lists every task of a cluster, stopped or not.
      const listed = await aws.ecs.send(new ListTasksCommand({ cluster, maxResults: 100 }));
      const arns = listed.taskArns ?? [];
      expect(arns, explain).toHaveLength(TASKS);
      const tasks = await describeInMoto(aws.ecs, cluster, arns);
      expect(
        tasks.map((t) => t.lastStatus),
        explain,
      ).toEqual(Array(TASKS).fill("STOPPED"));
      expect(result.tasks.map((t) => t.taskArn).sort(), explain).toEqual([...arns].sort());
    }
  }, 180_000);
});
