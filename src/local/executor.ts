/**
 * Runs simulated tasks as local processes. Each container's `entryPoint` + `command` (after
 * overrides, composed as ECS composes them) runs directly, without a shell unless the command
 * is one, with the container's merged environment plus `PATH` and nothing else from the host.
 * Output goes line by line to the container's awslogs stream in the simulated CloudWatch Logs,
 * so the runner reads it as it would on AWS. Essential containers decide the outcome. StopTask
 * sends SIGTERM, then SIGKILL after the container's `stopTimeout`, to the command's whole process
 * group. Once closed, or when this process exits, every group is killed and nothing new starts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Clock } from "../clock.js";
import type {
  SimulatedContainer,
  TaskExecutor,
  TaskHandle,
  TaskScheduler,
  TaskScript,
  TaskTiming,
} from "../simulator/ecs/index.js";
import { SUPERVISOR_SOURCE } from "./supervisor.js";

/** Settings of the process executor. */
export interface ProcessExecutorOptions {
  /** Tasks whose containers run at once; more wait in PENDING, as if capacity were short. Default 4. */
  readonly maxConcurrentTasks?: number;
  /** Working directory of every container process. Default: the current directory. */
  readonly cwd?: string;
  /** The host `PATH` given to containers. Default: `process.env.PATH`. */
  readonly path?: string;
  readonly clock: Clock;
}

interface RunningContainer {
  readonly container: SimulatedContainer;
  /** The supervisor (supervisor.ts), not the command itself. */
  readonly process: ChildProcess;
  /** The command's process group (its pid), once the supervisor has reported it. */
  group?: number;
  exited: boolean;
  killTimer?: NodeJS.Timeout;
}

/** Why tasks stop, or fail to start, once the backend is closed. */
const CLOSED_REASON = "the local backend was closed";

interface LocalTask {
  readonly handle: TaskHandle;
  readonly containers: RunningContainer[];
  startTimer?: NodeJS.Timeout;
  stopReason?: string;
  startFailure?: string;
  /** Counted against the concurrency cap. */
  launched: boolean;
  finished: boolean;
}

/** Runs each task's containers as child processes; see the module comment. */
export class ProcessExecutor implements TaskExecutor {
  readonly #options: ProcessExecutorOptions;
  readonly #tasks = new Map<string, LocalTask>();
  readonly #waiting: LocalTask[] = [];
  #running = 0;
  #exitHookInstalled = false;
  #closed = false;

  constructor(options: ProcessExecutorOptions) {
    this.#options = options;
  }

  /** Container processes alive right now. */
  get liveProcesses(): number {
    let n = 0;
    for (const t of this.#tasks.values()) n += t.containers.filter((c) => !c.exited).length;
    return n;
  }

  start(
    handle: TaskHandle,
    _script: TaskScript,
    timing: TaskTiming,
    _scheduler: TaskScheduler,
  ): void {
    const task: LocalTask = { handle, containers: [], launched: false, finished: false };
    this.#tasks.set(handle.taskArn, task);
    // Real timers, not the simulator's lazy queue: starting a process is a side effect that
    // cannot wait for the next API call to happen.
    task.startTimer = setTimeout(() => {
      delete task.startTimer;
      if (this.#closed) {
        this.#finish(task, { stopCode: "TaskFailedToStart", stoppedReason: CLOSED_REASON });
        return;
      }
      handle.setStatus("PENDING");
      this.#waiting.push(task);
      this.#startWaiting();
    }, timing.provisioningMs);
    task.startTimer.unref();
  }

  stop(handle: TaskHandle, reason: string): void {
    const task = this.#tasks.get(handle.taskArn);
    if (task === undefined || task.finished) return;
    task.stopReason = reason;
    if (task.startTimer !== undefined) clearTimeout(task.startTimer);
    const queued = this.#waiting.indexOf(task);
    if (queued >= 0) this.#waiting.splice(queued, 1);
    if (task.containers.length === 0) {
      this.#finish(task, { stopCode: "UserInitiated", stoppedReason: reason });
      return;
    }
    for (const c of task.containers) this.#terminate(c);
  }

  /**
   * Kills every container's process group at once (SIGKILL) and closes the executor: tasks not
   * yet running fail to start, and so does any task started later (a retry, say), so nothing
   * outlives the local backend. Running tasks end as stopped, with the reason that it closed.
   */
  killAll(): void {
    this.#closed = true;
    this.#killGroups();
    for (const t of [...this.#tasks.values()]) {
      if (t.launched) {
        t.stopReason ??= CLOSED_REASON;
        continue;
      }
      if (t.startTimer !== undefined) clearTimeout(t.startTimer);
      this.#finish(t, { stopCode: "TaskFailedToStart", stoppedReason: CLOSED_REASON });
    }
    this.#waiting.length = 0;
  }

  /**
   * SIGKILL to every live container's process group, synchronously: this also runs in the
   * process's "exit" hook, where nothing asynchronous (an IPC message) gets delivered. The
   * supervisors are left alive on purpose: they exit on their own once their command is gone,
   * and one whose command's group is not known yet kills it itself when told, or when this
   * process's exit closes its channel. Killing a supervisor first would orphan its group.
   */
  #killGroups(): void {
    for (const t of this.#tasks.values()) {
      for (const c of t.containers) if (!c.exited) signal(c, "SIGKILL");
    }
  }

  #startWaiting(): void {
    const cap = this.#options.maxConcurrentTasks ?? 4;
    while (this.#running < cap && this.#waiting.length > 0) {
      const task = this.#waiting.shift() as LocalTask;
      this.#running++;
      task.launched = true;
      this.#launch(task);
    }
  }

  #launch(task: LocalTask): void {
    this.#installExitHook();
    const { handle } = task;
    for (const container of handle.containers) {
      const argv = [...(container.entryPoint ?? []), ...(container.command ?? [])];
      if (argv.length === 0) {
        // The image is not pulled, so its own ENTRYPOINT/CMD are unknown: nothing to run.
        this.#startFailed(
          task,
          container.name,
          `CannotStartContainerError: container "${container.name}" has no entryPoint or command; local mode does not pull images, so give one in the task definition or the job's containerOverrides`,
        );
        return;
      }
      const env: Record<string, string> = {
        PATH: this.#options.path ?? process.env.PATH ?? "/usr/bin:/bin",
      };
      for (const e of container.environment) if (e.name !== undefined) env[e.name] = e.value ?? "";
      const child = spawn(
        process.execPath,
        ["-e", SUPERVISOR_SOURCE, JSON.stringify(argv), this.#options.cwd ?? process.cwd()],
        {
          env,
          stdio: ["ignore", "pipe", "pipe", "ipc"],
        },
      );
      const running: RunningContainer = { container, process: child, exited: false };
      task.containers.push(running);
      this.#pipeLines(child.stdout, handle, container.name);
      this.#pipeLines(child.stderr, handle, container.name);
      child.on("message", (message: { startFailed?: string; started?: number }) => {
        if (typeof message.started === "number") running.group = message.started;
        if (typeof message.startFailed === "string")
          task.startFailure = `CannotStartContainerError: ${message.startFailed}`;
      });
      child.on("exit", (_code, killedBy) => {
        // The supervisor never dies of a signal on its own (it exits with its command's status):
        // someone killed it, so its command's group is orphaned unless killed here.
        if (killedBy !== null) killGroup(running, "SIGKILL");
        // Otherwise it killed the group itself; the id is free for the system to reuse, so it
        // must not be signalled again (a stop that comes later, say).
        delete running.group;
      });
      // "close", not "exit": output still buffered in the pipes belongs before the exit.
      child.on("close", (code, signal) =>
        this.#exited(task, running, code ?? (signal === null ? 1 : 128 + signalNumber(signal))),
      );
    }
    handle.setStatus("RUNNING");
  }

  #startFailed(task: LocalTask, container: string, reason: string): void {
    task.startFailure = reason;
    task.handle.containerExited(container, null, reason);
    for (const c of task.containers) this.#terminate(c);
    if (task.containers.every((c) => c.exited)) this.#settle(task);
  }

  #exited(task: LocalTask, running: RunningContainer, code: number): void {
    running.exited = true;
    if (running.killTimer !== undefined) clearTimeout(running.killTimer);
    const startFailed = task.startFailure !== undefined && code === 127;
    task.handle.containerExited(
      running.container.name,
      startFailed ? null : code,
      startFailed ? task.startFailure : undefined,
    );
    // An essential container ending ends the task: ECS stops the others.
    if (running.container.essential && task.stopReason === undefined) {
      for (const c of task.containers) if (!c.exited) this.#terminate(c);
    }
    if (task.containers.every((c) => c.exited)) this.#settle(task);
  }

  #settle(task: LocalTask): void {
    if (task.stopReason !== undefined) {
      this.#finish(task, { stopCode: "UserInitiated", stoppedReason: task.stopReason });
    } else if (task.startFailure !== undefined) {
      this.#finish(task, { stopCode: "TaskFailedToStart", stoppedReason: task.startFailure });
    } else {
      this.#finish(task, {
        stopCode: "EssentialContainerExited",
        stoppedReason: "Essential container in task exited",
      });
    }
  }

  #finish(task: LocalTask, stop: { stopCode: string; stoppedReason: string }): void {
    if (task.finished) return;
    task.finished = true;
    task.handle.finish(stop);
    if (task.launched) {
      this.#running--;
      this.#startWaiting();
    }
    this.#tasks.delete(task.handle.taskArn);
  }

  /** SIGTERM now, SIGKILL after the container's stopTimeout. */
  #terminate(c: RunningContainer): void {
    if (c.exited || c.killTimer !== undefined) return;
    signal(c, "SIGTERM");
    c.killTimer = setTimeout(() => {
      if (!c.exited) signal(c, "SIGKILL");
    }, c.container.stopTimeoutSeconds * 1000);
    c.killTimer.unref();
  }

  #pipeLines(stream: NodeJS.ReadableStream | null, handle: TaskHandle, container: string): void {
    if (stream === null) return;
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts)
        handle.log(container, line.replace(/\r$/, ""), this.#options.clock.now());
    });
    stream.on("end", () => {
      if (partial !== "") handle.log(container, partial, this.#options.clock.now());
      partial = "";
    });
  }

  #installExitHook(): void {
    if (this.#exitHookInstalled) return;
    this.#exitHookInstalled = true;
    // A host that calls process.exit (the CLI on a second Ctrl-C) gets here with tasks running.
    // The supervisors would kill their groups when the channel closes anyway; this does not
    // depend on them.
    process.once("exit", () => this.#killGroups());
  }
}

/**
 * Signals a container's process group: directly when its id is known, which works even if the
 * supervisor is gone, else through the supervisor, which knows it from the start.
 */
function signal(c: RunningContainer, name: "SIGTERM" | "SIGKILL"): void {
  if (killGroup(c, name)) return;
  if (c.process.connected) c.process.send({ signal: name }, () => undefined);
  // No channel: the supervisor's command has exited and it is on its way out.
  else if (name === "SIGKILL") c.process.kill("SIGKILL");
}

/** Sends `name` to the container's process group if its id is known; says whether it was. */
function killGroup(c: RunningContainer, name: "SIGTERM" | "SIGKILL"): boolean {
  if (c.group === undefined) return false;
  try {
    process.kill(-c.group, name);
  } catch {
    // ESRCH: the group is already gone.
  }
  return true;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

function signalNumber(signal: NodeJS.Signals): number {
  return SIGNALS[signal] ?? 0;
}
