import { describe, expect, it } from "vitest";
import { plainLine, ProgressModel, renderFrame, TtyRenderer } from "../../src/cli/progress.js";

describe("the progress view", () => {
  it("renders a row per task and a summary, from the events", () => {
    const m = new ProgressModel("j1", 3, 0);
    m.apply(
      "taskStarted",
      {
        jobId: "j1",
        runId: "r1",
        emittedAt: 0,
        taskIndex: 0,
        attempt: 1,
        taskArn: "a",
        taskName: "n",
      },
      1000,
    );
    m.apply(
      "taskStatusChanged",
      {
        jobId: "j1",
        runId: "r1",
        emittedAt: 0,
        taskIndex: 0,
        attempt: 1,
        taskArn: "a",
        lastStatus: "RUNNING",
      },
      2000,
    );
    m.apply(
      "taskStarted",
      {
        jobId: "j1",
        runId: "r1",
        emittedAt: 0,
        taskIndex: 1,
        attempt: 1,
        taskArn: "b",
        taskName: "n",
      },
      1000,
    );
    m.apply(
      "taskFailed",
      {
        jobId: "j1",
        runId: "r1",
        emittedAt: 0,
        taskIndex: 1,
        attempt: 1,
        taskArn: "b",
        failure: { kind: "exit", reason: 'container "main" exited with code 1' },
        willRetry: true,
      },
      5000,
    );
    expect(renderFrame(m, 65_000)).toEqual([
      "task 0  #1  RUNNING            1m4s",
      'task 1  #1  RETRYING           1m4s  container "main" exited with code 1',
      "task 2  #0  WAITING                ",
      "job j1: running after 1m5s (1 running, 1 retrying, 1 waiting)",
    ]);
  });

  it("shows unfinished tasks first when they do not all fit, and cuts long lines", () => {
    const m = new ProgressModel("big", 50, 0);
    for (let i = 0; i < 45; i++)
      m.apply(
        "taskSucceeded",
        {
          jobId: "big",
          runId: "r1",
          emittedAt: 0,
          taskIndex: i,
          attempt: 1,
          taskArn: "x",
          exitCode: 0,
        },
        10,
      );
    const frame = renderFrame(m, 20_000, { maxRows: 5, width: 30 });
    expect(frame.slice(0, 5).map((l) => l.slice(0, 7))).toEqual([
      "task 45",
      "task 46",
      "task 47",
      "task 48",
      "task 49",
    ]);
    expect(frame[5]).toBe("… 45 more tasks");
    expect(frame.every((l) => l.length <= 30 || l.startsWith("job"))).toBe(true);
  });

  it("redraws in place on a terminal", () => {
    const writes: string[] = [];
    const tty = new TtyRenderer((t) => writes.push(t));
    tty.draw(["a", "b"]);
    tty.draw(["c"]);
    expect(writes).toEqual(["\x1b[2Ka\n\x1b[2Kb\n", "\x1b[2F\x1b[2Kc\n\x1b[J"]);
  });

  it("prints one plain line per event elsewhere, with the log tail of a failure", () => {
    expect(
      plainLine("taskFailed", {
        jobId: "j",
        runId: "r1",
        emittedAt: 0,
        taskIndex: 2,
        attempt: 1,
        failure: { kind: "exit", reason: "boom", logTail: "[t] one\n[t] two" },
        willRetry: false,
      }),
    ).toBe("task 2 attempt 1 failed (exit): boom\n    | [t] one\n    | [t] two");
  });
});
