/**
 * The slot's transition function as a table: a state, an event, the context, and what comes
 * out (the next phase, the fields that change, the commands in order). No timers, no clients:
 * each row is one decision of DESIGN 3.2-3.4.
 */
import type { Task } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import {
  initialSlot,
  step,
  type SlotCommand,
  type SlotContext,
  type SlotEvent,
  type SlotState,
} from "../../src/execution/slot.js";
import { defaultRetryPolicy, type TaskFailure } from "../../src/index.js";

const ARN = "arn:aws:ecs:us-west-2:123456789012:task/c/abc";

const context = (extra: Partial<SlotContext> = {}): SlotContext => ({
  stopping: false,
  now: 1000,
  essential: new Map([["main", true]]),
  maxFailCount: 1,
  maxLaunchRetries: 1,
  backoff: { initial: 1000, max: 60_000, factor: 2 },
  shouldRetry: (failure, ctx) => defaultRetryPolicy.shouldRetry(failure, ctx),
  delay: () => 500,
  readsLogTails: false,
  stoppedByRunner: (task) => task.stoppedReason?.startsWith("ecs-batch-runner: job j ") === true,
  runCauseIn: (task) =>
    task.stoppedReason?.startsWith("ecs-batch-runner: job j stopped by stopJob") === true
      ? { kind: "cancel", reason: "stopped by stopJob" }
      : undefined,
  ...extra,
});

const pending = initialSlot(0, "batch-j-0");
const launching: SlotState = { ...pending, phase: "launching" };
const running: SlotState = {
  ...pending,
  phase: "running",
  attempts: 1,
  taskArn: ARN,
  lastStatus: "RUNNING",
};
const backoff: SlotState = { ...running, phase: "backoff" };

const stoppedTask = (extra: Partial<Task> = {}): Task => ({
  taskArn: ARN,
  lastStatus: "STOPPED",
  stopCode: "EssentialContainerExited",
  containers: [{ name: "main", exitCode: 0 }],
  ...extra,
});

/** Task `ARN` seen stopped by another process's `stopJob`. */
const stoppedByStopJob: SlotEvent = {
  kind: "watched",
  result: {
    kind: "stopped",
    task: stoppedTask({
      stopCode: "UserInitiated",
      stoppedReason: "ecs-batch-runner: job j stopped by stopJob",
    }),
  },
};

const agent: TaskFailure = { kind: "launch", reason: "RunTask could not start the task: AGENT" };

/** The kinds of the commands, with the emitted event's name, in order. */
function kinds(commands: readonly SlotCommand[]): string[] {
  return commands.map((c) => (c.kind === "emit" ? `emit:${c.event}` : c.kind));
}

interface Row {
  readonly name: string;
  readonly slot: SlotState;
  readonly event: SlotEvent;
  readonly ctx?: Partial<SlotContext>;
  readonly phase: SlotState["phase"];
  readonly fields?: Partial<SlotState>;
  readonly commands: readonly string[];
}

const rows: Row[] = [
  {
    name: "its turn launches attempt 1",
    slot: pending,
    event: { kind: "turn", granted: true, reserved: true },
    phase: "launching",
    commands: ["launch"],
  },
  {
    name: "a turn while the job stops ends it and gives the reservation back",
    slot: pending,
    event: { kind: "turn", granted: true, reserved: true },
    ctx: { stopping: true },
    phase: "stopped",
    fields: { ended: true },
    commands: ["unreserve", "done"],
  },
  {
    name: "a turn refused (the job stopped while it waited) ends it",
    slot: pending,
    event: { kind: "turn", granted: false, reserved: false },
    phase: "stopped",
    commands: ["done"],
  },
  {
    name: "RunTask accepted: watched, taskStarted, its first status",
    slot: launching,
    event: {
      kind: "launched",
      attempt: 1,
      result: { kind: "started", task: { taskArn: ARN, lastStatus: "PROVISIONING" } },
    },
    phase: "running",
    fields: { attempts: 1, taskArn: ARN, lastStatus: "PROVISIONING", stopRequested: false },
    commands: ["watch", "emit:taskStarted", "emit:taskStatusChanged", "taskStarted"],
  },
  {
    name: "RunTask accepted after the job began stopping: StopTask first",
    slot: launching,
    event: { kind: "launched", attempt: 1, result: { kind: "started", task: { taskArn: ARN } } },
    ctx: { stopping: true },
    phase: "running",
    fields: { stopRequested: true },
    commands: ["stop", "watch", "emit:taskStarted", "taskStarted"],
  },
  {
    name: "a launch failure with launch retries left: reported, then a backoff",
    slot: launching,
    event: { kind: "launched", attempt: 1, result: { kind: "failed", failure: agent } },
    phase: "backoff",
    fields: { attempts: 1, launchFailures: 1, applicationFailures: 0, lastFailure: agent },
    commands: ["emit:taskFailed", "emit:retried", "sleep"],
  },
  {
    name: "a launch failure with no launch retry left stops the job, then reports",
    slot: launching,
    event: { kind: "launched", attempt: 1, result: { kind: "failed", failure: agent } },
    ctx: { maxLaunchRetries: 0 },
    phase: "failed",
    fields: { ended: true, launchFailures: 1 },
    commands: ["stopJob", "emit:taskFailed", "done"],
  },
  {
    name: "a launch failure whose lost answer could not be settled is looked up again later",
    slot: launching,
    event: {
      kind: "launched",
      attempt: 1,
      result: { kind: "failed", failure: agent, unsettled: true },
    },
    phase: "backoff",
    commands: ["settleLater", "emit:taskFailed", "emit:retried", "sleep"],
  },
  {
    name: "a RunTask error retrying cannot fix stops the job",
    slot: launching,
    event: { kind: "launched", attempt: 1, result: { kind: "fatal", error: new Error("denied") } },
    phase: "stopped",
    fields: { attempts: 1, ended: true },
    commands: ["stopJob", "done"],
  },
  {
    name: "a launch aborted by the job's stop ends the slot",
    slot: launching,
    event: { kind: "launched", attempt: 1, result: { kind: "aborted" } },
    phase: "stopped",
    fields: { attempts: 0 },
    commands: ["done"],
  },
  {
    // The slot is left as it is: the watch gives back what it last saw when it ends.
    name: "a new status is reported",
    slot: { ...running, lastStatus: "PENDING" },
    event: { kind: "observed", task: { taskArn: ARN, lastStatus: "RUNNING" } },
    phase: "running",
    fields: { lastStatus: "PENDING" },
    commands: ["emit:taskStatusChanged"],
  },
  {
    name: "STOPPED with every essential container at 0 succeeds",
    slot: running,
    event: { kind: "watched", result: { kind: "stopped", task: stoppedTask() } },
    phase: "succeeded",
    fields: { exitCode: 0, stopCode: "EssentialContainerExited", ended: true },
    commands: ["taskDone", "emit:taskSucceeded", "done"],
  },
  {
    name: "an exit failure of a started task reads its log tail before reporting",
    slot: running,
    event: {
      kind: "watched",
      result: {
        kind: "stopped",
        task: stoppedTask({ containers: [{ name: "main", exitCode: 1 }] }),
      },
    },
    ctx: { readsLogTails: true },
    phase: "reporting",
    fields: { applicationFailures: 1, exitCode: 1 },
    commands: ["taskDone", "readLogTail"],
  },
  {
    name: "an exit failure without log tails is reported at once, its ARN kept",
    slot: running,
    event: {
      kind: "watched",
      result: {
        kind: "stopped",
        task: stoppedTask({ containers: [{ name: "main", exitCode: 1 }] }),
      },
    },
    phase: "backoff",
    fields: { failedTaskArns: [ARN], failedAt: 1000 },
    commands: ["taskDone", "emit:taskFailed", "emit:retried", "sleep"],
  },
  {
    name: "a task this runner stopped ends stopped, not failed",
    slot: { ...running, stopRequested: true },
    event: {
      kind: "watched",
      result: { kind: "stopped", task: stoppedTask({ stopCode: "UserInitiated" }) },
    },
    phase: "stopped",
    commands: ["taskDone", "done"],
  },
  {
    name: "a task stopJob stopped ends stopped and cancels the job",
    slot: running,
    event: stoppedByStopJob,
    phase: "stopped",
    commands: ["taskDone", "stopJob", "done"],
  },
  {
    name: "a task stopJob stopped while the job stops anyway ends stopped, nothing more",
    slot: running,
    event: stoppedByStopJob,
    ctx: { stopping: true },
    phase: "stopped",
    commands: ["taskDone", "done"],
  },
  {
    name: "a missing task is given up (stopped, watched) before its retry",
    slot: running,
    event: { kind: "watched", result: { kind: "missing", polls: 3 } },
    phase: "backoff",
    fields: { applicationFailures: 1 },
    commands: ["taskDone", "giveUp", "emit:taskFailed", "emit:retried", "sleep"],
  },
  {
    name: "a task being stopped that goes missing ends stopped",
    slot: { ...running, stopRequested: true },
    event: { kind: "watched", result: { kind: "missing", polls: 3 } },
    phase: "stopped",
    commands: ["taskDone", "done"],
  },
  {
    name: "a DescribeTasks error retrying cannot fix stops the job",
    slot: running,
    event: { kind: "watched", result: { kind: "error", error: new Error("denied") } },
    phase: "stopped",
    commands: ["taskDone", "stopJob", "done"],
  },
  {
    name: "the stop watch ran out: the slot keeps what was last seen",
    slot: { ...running, stopRequested: true },
    event: { kind: "watched", result: { kind: "cancelled" } },
    phase: "stopped",
    fields: { lastStatus: "RUNNING" },
    commands: ["taskDone", "done"],
  },
  {
    name: "a failure while the job stops is not retried, and does not stop the job again",
    slot: running,
    event: {
      kind: "watched",
      result: {
        kind: "stopped",
        task: stoppedTask({ containers: [{ name: "main", exitCode: 2 }] }),
      },
    },
    ctx: { stopping: true },
    phase: "failed",
    commands: ["taskDone", "emit:taskFailed", "done"],
  },
  {
    name: "the backoff over, the next attempt launches",
    slot: backoff,
    event: { kind: "backoffOver", completed: true },
    phase: "launching",
    commands: ["launch"],
  },
  {
    name: "a backoff cut short by the job's stop ends the slot",
    slot: backoff,
    event: { kind: "backoffOver", completed: false },
    phase: "stopped",
    commands: ["done"],
  },
  {
    name: "the job stops: a running task gets StopTask",
    slot: running,
    event: { kind: "jobStopping" },
    phase: "running",
    fields: { stopRequested: true },
    commands: ["stop"],
  },
  {
    name: "the job stops: a task already being stopped gets nothing more",
    slot: { ...running, stopRequested: true },
    event: { kind: "jobStopping" },
    phase: "running",
    commands: [],
  },
  {
    name: "the stop watch is over while RunTask has not answered: given up",
    slot: launching,
    event: { kind: "stopWatchOver" },
    phase: "stopped",
    fields: { ended: true },
    commands: ["done"],
  },
  {
    name: "a task started for a slot given up on is stopped on arrival",
    slot: { ...launching, phase: "stopped", ended: true },
    event: { kind: "launched", attempt: 1, result: { kind: "started", task: { taskArn: ARN } } },
    phase: "stopped",
    commands: ["stopOrphan"],
  },
  {
    name: "a late watch result for an ended slot changes nothing",
    slot: { ...running, phase: "succeeded", ended: true },
    event: { kind: "watched", result: { kind: "stopped", task: stoppedTask() } },
    phase: "succeeded",
    commands: [],
  },
];

describe("step(slot, event, context)", () => {
  it.each(rows)("$name", (row) => {
    const out = step(row.slot, row.event, context(row.ctx));
    expect(out.slot.phase).toBe(row.phase);
    if (row.fields !== undefined) expect(out.slot).toMatchObject(row.fields);
    expect(kinds(out.commands)).toEqual(row.commands);
  });

  it("reports a new status with the attempt's ARN and the status the watcher saw", () => {
    const out = step(
      { ...running, attempts: 2, lastStatus: "PENDING" },
      { kind: "observed", task: { taskArn: ARN, lastStatus: "RUNNING" } },
      context(),
    );
    expect(out.commands).toEqual([
      {
        kind: "emit",
        event: "taskStatusChanged",
        payload: { taskIndex: 0, attempt: 2, taskArn: ARN, lastStatus: "RUNNING" },
      },
    ]);
  });

  it("starts an attempt under the attempt's number", () => {
    const out = step(
      { ...launching, attempts: 1 },
      { kind: "launched", attempt: 2, result: { kind: "started", task: { taskArn: ARN } } },
      context(),
    );
    expect(out.slot.attempts).toBe(2);
    expect(out.commands).toContainEqual({
      kind: "emit",
      event: "taskStarted",
      payload: { taskIndex: 0, attempt: 2, taskArn: ARN, taskName: "batch-j-0" },
    });
  });

  it("never changes the slot it is given", () => {
    const before = structuredClone(running);
    step(running, { kind: "watched", result: { kind: "missing", polls: 3 } }, context());
    expect(running).toEqual(before);
  });

  it("counts budgets apart: maxFailCount for exit failures, maxLaunchRetries for launch failures", () => {
    const ctx = context({ maxFailCount: 0, maxLaunchRetries: 3 });
    const launchFailed = step(
      launching,
      { kind: "launched", attempt: 1, result: { kind: "failed", failure: agent } },
      ctx,
    );
    expect(launchFailed.slot.phase).toBe("backoff");
    const exited = step(
      running,
      {
        kind: "watched",
        result: {
          kind: "stopped",
          task: stoppedTask({ containers: [{ name: "main", exitCode: 1 }] }),
        },
      },
      ctx,
    );
    expect(exited.slot.phase).toBe("failed");
  });

  it("reports the policy's delay as a valid wait, whatever the policy returned", () => {
    for (const [delay, expected] of [
      [Number.NaN, 0],
      [-5, 0],
      [Number.POSITIVE_INFINITY, 0],
      [1234.4, 1234],
    ] as const) {
      const out = step(
        launching,
        { kind: "launched", attempt: 1, result: { kind: "failed", failure: agent } },
        context({ delay: () => delay }),
      );
      expect(out.commands).toContainEqual({ kind: "sleep", ms: expected });
    }
  });

  it("a policy that vetoes the retry exhausts the slot", () => {
    const out = step(
      launching,
      { kind: "launched", attempt: 1, result: { kind: "failed", failure: agent } },
      context({ shouldRetry: () => false }),
    );
    expect(out.slot.phase).toBe("failed");
    expect(out.commands[0]).toEqual({
      kind: "stopJob",
      cause: { kind: "exhausted", taskIndex: 0, failure: agent },
    });
  });

  it("the report after a log tail carries the tail and the willRetry decided at the failure", () => {
    const exited = step(
      running,
      {
        kind: "watched",
        result: {
          kind: "stopped",
          task: stoppedTask({ containers: [{ name: "main", exitCode: 1 }] }),
        },
      },
      context({ readsLogTails: true }),
    );
    const failure = exited.slot.report?.failure as TaskFailure;
    const reported = step(
      exited.slot,
      { kind: "reported", failure: { ...failure, logTail: "boom" } },
      context({ readsLogTails: true }),
    );
    expect(reported.commands[0]).toMatchObject({
      kind: "emit",
      event: "taskFailed",
      payload: { willRetry: true, taskArn: ARN, failure: { logTail: "boom" } },
    });
    expect(reported.slot.report).toBeUndefined();
  });
});
