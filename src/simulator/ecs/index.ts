/**
 * Simulated ECS: clusters, task definitions and tasks with their real lifecycle
 * (PROVISIONING → PENDING → RUNNING → DEPROVISIONING → STOPPED), the validation RunTask does,
 * `clientToken` idempotency, `failures[]`, DescribeTasks' 100-ARN limit and `MISSING`, ListTasks
 * paging, StopTask, and stopped tasks forgotten after a retention period.
 *
 * `SimulatedEcs` wires the parts together and maps each API action to the one that owns it:
 * clusters.ts, task-definitions.ts, run-task.ts, stop-task.ts, describe.ts, lifecycle.ts (the
 * state machine and its event queue) and scripts.ts (what tests say tasks do).
 */
import type { RegisterTaskDefinitionCommandInput, Task, TaskDefinition } from "@aws-sdk/client-ecs";
import type { ActionHandler, CallControl } from "../control.js";
import type { SimulatedLogs } from "../logs.js";
import { EcsArns } from "./arns.js";
import { Clusters } from "./clusters.js";
import { TaskDescriptions } from "./describe.js";
import { TaskLifecycle } from "./lifecycle.js";
import { RunTask } from "./run-task.js";
import { TaskScripts } from "./scripts.js";
import { stopTask, type StopTaskDeps } from "./stop-task.js";
import { TaskDefinitions } from "./task-definitions.js";
import type { SimulatedEcsOptions, TaskHistoryEntry, TaskMatcher, TaskScript } from "./types.js";

export { DEFAULT_TIMING } from "./lifecycle.js";
export { scriptedExecutor } from "./scripts.js";
export type {
  ScriptedLogLine,
  SimulatedContainer,
  SimulatedEcsOptions,
  TaskContext,
  TaskExecutor,
  TaskHandle,
  TaskMatcher,
  TaskScheduler,
  TaskScript,
  TaskTiming,
} from "./types.js";

/** The simulated ECS service. */
export class SimulatedEcs {
  /** Every task ever started, including forgotten ones, for assertions. */
  readonly history: TaskHistoryEntry[];
  readonly #clusters: Clusters;
  readonly #definitions: TaskDefinitions;
  readonly #scripts = new TaskScripts();
  readonly #lifecycle: TaskLifecycle;
  readonly #descriptions: TaskDescriptions;
  readonly #runTask: RunTask;
  readonly #stopTask: StopTaskDeps;

  constructor(options: SimulatedEcsOptions, control: CallControl, logs: SimulatedLogs) {
    const arns = new EcsArns(options.region, options.accountId);
    const clusters = new Clusters(arns);
    const lifecycle = new TaskLifecycle(options, control.clock, logs, arns);
    const definitions = new TaskDefinitions(arns, () => lifecycle.now());
    const descriptions = new TaskDescriptions(clusters, lifecycle, options.region);
    this.#clusters = clusters;
    this.#lifecycle = lifecycle;
    this.#definitions = definitions;
    this.#descriptions = descriptions;
    this.#runTask = new RunTask({
      options,
      control,
      arns,
      clusters,
      definitions,
      scripts: this.#scripts,
      lifecycle,
      descriptions,
    });
    this.#stopTask = { clusters, lifecycle, descriptions };
    this.history = lifecycle.history;
    for (const c of options.clusters) clusters.create(c);
  }

  // ---- control API -------------------------------------------------------------------------

  /** Creates (or reactivates) a cluster. */
  createCluster(name: string): string {
    return this.#clusters.create(name);
  }

  /** Deletes a cluster (it becomes INACTIVE, as on ECS). */
  deleteCluster(name: string): void {
    this.#clusters.delete(name);
  }

  /** Registers a task definition revision; also used by tests to seed definitions. */
  registerTaskDefinition(input: RegisterTaskDefinitionCommandInput): TaskDefinition {
    return this.#definitions.register(input);
  }

  /** Adds a script for tasks that match; later scripts win field by field. `times` limits how many tasks it applies to. */
  script(matcher: TaskMatcher, script: TaskScript, times = Number.POSITIVE_INFINITY): void {
    this.#scripts.add(matcher, script, times);
  }

  /** Applies every queued state change that is due. Called before each API call. */
  sync(): void {
    this.#lifecycle.sync();
  }

  /** Current tasks (not yet forgotten), as DescribeTasks would show them. */
  tasks(): Task[] {
    this.sync();
    return [...this.#lifecycle.all()].map((t) => this.#descriptions.output(t, true));
  }

  /** When the next queued state change is due, if any (the local backend sleeps until then). */
  nextEventAt(): number | undefined {
    return this.#lifecycle.nextEventAt();
  }

  // ---- API ---------------------------------------------------------------------------------

  handlers(): Record<string, ActionHandler> {
    const definitions = this.#definitions;
    const descriptions = this.#descriptions;
    return {
      DescribeClusters: (input) => this.#clusters.describe(input, () => this.#lifecycle.all()),
      RegisterTaskDefinition: (input) => ({
        taskDefinition: definitions.register(
          input as unknown as RegisterTaskDefinitionCommandInput,
        ),
      }),
      DescribeTaskDefinition: (input) => definitions.describe(input),
      DeregisterTaskDefinition: (input) => definitions.deregister(input),
      ListTaskDefinitions: (input) => definitions.list(input),
      RunTask: (input) => this.#runTask.run(input),
      DescribeTasks: (input) => descriptions.describe(input),
      StopTask: (input) => stopTask(this.#stopTask, input),
      ListTasks: (input) => descriptions.list(input),
    };
  }
}
