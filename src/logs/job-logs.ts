/**
 * A job's log policy (DESIGN 3.6), in one place: the log tail attached to a failure of a task
 * that started, live following (`logs.follow`), the last read of a followed task's streams
 * before the job completes, and the logs that go into the result (the representative task's,
 * or every task's with `fetch: "all"`). The job sees one port per job, `JobLogPort`; the
 * fetcher and the follower behind it are the runner's, shared by every job under one rate
 * budget (CloudWatch Logs is the tightest limit in the system).
 */
import type { ContainerDefinition, Task } from "@aws-sdk/client-ecs";
import { timeOf } from "../aws.js";
import type { Clock } from "../clock.js";
import type { JobLogs, JobResult, JobStatus, TaskFailure, TaskLogs } from "../result.js";
import { logSources, type LogFetcher } from "./fetcher.js";
import type { LogFollower } from "./follower.js";
import {
  representativeTask,
  type RepresentativeCandidate,
  type RepresentativeJob,
} from "./representative.js";

/** What a job's log policy reads of the job. */
export interface JobLogSettings {
  readonly jobId: string;
  readonly runId: string;
  /** The task definition's containers: where each logs (awslogs) and which is essential. */
  readonly containers: readonly ContainerDefinition[] | undefined;
  /** The job's `logs` settings. */
  readonly fetch: "representative" | "all" | "none";
  readonly follow: boolean;
  readonly maxBytes: number;
  readonly tailLines: number;
}

/** What a job asks of its logs. */
export interface JobLogPort {
  /** Whether failures of started tasks get a log tail (`tailLines` > 0 and an awslogs container). */
  readonly readsTails: boolean;
  /** The failure with the last lines of the deciding container's log, when there are any. */
  withTail(failure: TaskFailure, task: Task): Promise<TaskFailure>;
  /** An attempt's task started: its logs are followed (`logs.follow`). */
  taskStarted(taskIndex: number, attempt: number, task: Task): void;
  /** An attempt's task is done: its followed streams get a last read. */
  taskDone(taskArn: string): void;
  /** Resolves once every last read of followed streams is over. */
  settled(): Promise<void>;
  /** The logs that go into the result. */
  collect(
    job: RepresentativeJob<RepresentativeCandidate>,
    status: JobStatus,
  ): Promise<Pick<JobResult, "logs" | "taskLogs">>;
}

/** The runner's side of every job's log policy. */
export interface JobLogPolicyContext {
  readonly fetcher: LogFetcher;
  readonly follower: LogFollower;
  readonly clock: Clock;
}

/** Makes each job's `JobLogPort` over the runner's fetcher and follower. */
export class JobLogPolicy {
  readonly #ctx: JobLogPolicyContext;

  constructor(ctx: JobLogPolicyContext) {
    this.#ctx = ctx;
  }

  /** The port of one job. */
  forJob(settings: JobLogSettings): JobLogPort {
    return new JobLogPortImpl(this.#ctx, settings);
  }
}

class JobLogPortImpl implements JobLogPort {
  readonly readsTails: boolean;
  readonly #ctx: JobLogPolicyContext;
  readonly #settings: JobLogSettings;
  /** Last reads still running, counted: a job of 10,000 tasks need not keep a promise each. */
  #readsLeft = 0;
  #allRead: (() => void) | undefined;
  readonly #readDone = (): void => {
    if (--this.#readsLeft === 0) this.#allRead?.();
  };

  constructor(ctx: JobLogPolicyContext, settings: JobLogSettings) {
    this.#ctx = ctx;
    this.#settings = settings;
    this.readsTails = settings.tailLines > 0 && logSources(settings.containers, "task").length > 0;
  }

  async withTail(failure: TaskFailure, task: Task): Promise<TaskFailure> {
    const lines = this.#settings.tailLines;
    if (lines === 0 || task.taskArn === undefined) return failure;
    const containers = this.#settings.containers;
    const sources = logSources(containers, task.taskArn);
    const essential = containers?.find((c) => c.essential !== false)?.name;
    const source =
      sources.find((s) => s.container === (failure.container ?? essential)) ?? sources[0];
    if (source === undefined) return failure;
    const tail = await this.#ctx.fetcher.fetchTail(source, lines);
    return tail === undefined ? failure : { ...failure, logTail: tail };
  }

  taskStarted(taskIndex: number, attempt: number, task: Task): void {
    if (!this.#settings.follow || task.taskArn === undefined) return;
    this.#ctx.follower.follow({
      jobId: this.#settings.jobId,
      runId: this.#settings.runId,
      taskIndex,
      attempt,
      taskArn: task.taskArn,
      sources: logSources(this.#settings.containers, task.taskArn),
      since: timeOf(task.createdAt) ?? this.#ctx.clock.now(),
    });
  }

  taskDone(taskArn: string): void {
    const follower = this.#ctx.follower;
    if (!follower.isFollowing(taskArn)) return;
    this.#readsLeft++;
    void follower.finish(taskArn).then(this.#readDone, this.#readDone);
  }

  settled(): Promise<void> {
    if (this.#readsLeft === 0) return Promise.resolve();
    return new Promise<void>((resolve) => (this.#allRead = resolve));
  }

  async collect(
    job: RepresentativeJob<RepresentativeCandidate>,
    status: JobStatus,
  ): Promise<Pick<JobResult, "logs" | "taskLogs">> {
    const settings = this.#settings;
    if (settings.fetch === "none") return {};
    const containers = settings.containers;
    if (logSources(containers, "task").length === 0) {
      return {
        logs: {
          error:
            "no container logs to CloudWatch Logs (logDriver awslogs), so there are no logs to fetch",
        },
      };
    }
    // One read per task, whichever list asks for it first.
    const fetched = new Map<string, Promise<{ text: string; error?: string }>>();
    const read = (taskArn: string): Promise<{ text: string; error?: string }> => {
      let f = fetched.get(taskArn);
      if (f === undefined) {
        f = this.#read(taskArn);
        fetched.set(taskArn, f);
      }
      return f;
    };
    let taskLogs: TaskLogs[] | undefined;
    if (settings.fetch === "all") {
      taskLogs = [];
      for (const slot of job.slots) {
        if (slot.taskArn !== undefined) {
          taskLogs.push({
            taskIndex: slot.index,
            taskArn: slot.taskArn,
            ...(await read(slot.taskArn)),
          });
        }
      }
    }
    const rep = representativeTask(job, status);
    const logs: JobLogs =
      "error" in rep
        ? { error: rep.error }
        : {
            taskIndex: rep.slot.index,
            taskArn: rep.taskArn,
            stream: rep.stream,
            text: (await read(rep.taskArn)).text,
          };
    return { logs, ...(taskLogs === undefined ? {} : { taskLogs }) };
  }

  async #read(taskArn: string): Promise<{ text: string; error?: string }> {
    const { text, streams } = await this.#ctx.fetcher.fetchTaskLogs(
      this.#settings.containers,
      taskArn,
      { maxBytes: this.#settings.maxBytes },
    );
    // Nothing could be read at all: say so beside the text, which has the details.
    const failed =
      streams.length > 0 && streams.every((s) => s.error !== undefined && s.lines.length === 0);
    return failed ? { text, error: streams.map((s) => s.error).join("; ") } : { text };
  }
}
