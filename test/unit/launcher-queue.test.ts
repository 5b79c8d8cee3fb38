import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { describe, expect, it } from "vitest";
import { AdaptiveRateLimiter, Launcher, type AwsCommand } from "../../src/index.js";
import { launchReservations } from "../../src/execution/launcher.js";
import { ManualClock } from "../../src/testing/index.js";
import { awsError } from "../helpers/aws-mocks.js";

/** A launcher whose RunTask answers after `latencyMs`, recording the `startedBy` of each send. */
function setup(concurrency: number, latencyMs = 100) {
  const clock = new ManualClock({ start: 0 });
  const sent: string[] = [];
  const failing = new Set<string>();
  const ecs = {
    send: async (command: AwsCommand) => {
      const input = command.input as RunTaskCommandInput;
      const name = input.startedBy ?? "?";
      sent.push(name);
      await clock.sleep(latencyMs);
      if (failing.has(name)) throw awsError("ClusterNotFoundException", "Cluster not found.");
      return { tasks: [{ taskArn: `arn:task/${name}`, lastStatus: "PROVISIONING" }] };
    },
  };
  const launcher = new Launcher(
    {
      ecs,
      clock,
      random: () => 0.5,
      limiter: new AdaptiveRateLimiter(clock, { ratePerSecond: 1000, burst: 1000 }),
    },
    { concurrency },
  );
  return { clock, launcher, sent, failing };
}

const request = (name: string): RunTaskCommandInput => ({ taskDefinition: "td", startedBy: name });

describe("the launcher's reservations", () => {
  it("serves queued launches in order, across callers, never more than the concurrency at once", async () => {
    const { clock, launcher, sent } = setup(2);
    const granted: string[] = [];
    const done: Promise<unknown>[] = [];
    const queue = (job: string, count: number) => {
      launchReservations.queue(launcher, count, (reserved, i) => {
        granted.push(`${job}${String(i)}:${String(reserved)}`);
        done.push(launchReservations.launch(launcher, request(`${job}${String(i)}`)));
      });
    };
    queue("a", 3);
    queue("b", 2);
    // Two slots: a0 and a1 start at once, the rest wait for them.
    expect(granted).toEqual(["a0:true", "a1:true"]);
    await clock.runUntil(
      (async () => {
        while (done.length < 5) await clock.sleep(10);
        await Promise.all(done);
      })(),
    );
    expect(granted).toEqual(["a0:true", "a1:true", "a2:true", "b0:true", "b1:true"]);
    expect(sent).toEqual(["a0", "a1", "a2", "b0", "b1"]);
    // 5 launches of 100 ms, 2 at a time: 3 rounds.
    expect(clock.now()).toBeGreaterThanOrEqual(300);
    expect(clock.now()).toBeLessThan(400);
  });

  it("sends a launch without a reservation ahead of queued batches, in order among such launches", async () => {
    const { clock, launcher, sent } = setup(1);
    const done: Promise<unknown>[] = [];
    launchReservations.queue(launcher, 3, (reserved, i) => {
      done.push(launchReservations.launch(launcher, request(`a${String(i)}`)));
    });
    // a0 holds the only slot; a1 and a2 wait as one batch, then two retries arrive.
    done.push(launcher.launch(request("retry1")), launcher.launch(request("retry2")));
    await clock.runUntil(
      (async () => {
        while (done.length < 5) await clock.sleep(10);
        await Promise.all(done);
      })(),
    );
    expect(sent).toEqual(["a0", "retry1", "retry2", "a1", "a2"]);
  });

  it("refuses the waiting launches of an aborted signal and keeps the others' order", async () => {
    const { clock, launcher, sent } = setup(1);
    const ac = new AbortController();
    const events: string[] = [];
    const done: Promise<unknown>[] = [];
    const queue = (job: string, count: number, signal?: AbortSignal) => {
      launchReservations.queue(
        launcher,
        count,
        (reserved, i) => {
          events.push(`${job}${String(i)}:${String(reserved)}`);
          if (reserved)
            done.push(launchReservations.launch(launcher, request(`${job}${String(i)}`), signal));
        },
        signal,
      );
    };
    queue("a", 3, ac.signal);
    queue("b", 2);
    ac.abort();
    expect(events).toEqual(["a0:true", "a1:false", "a2:false"]);
    await clock.runUntil(
      (async () => {
        while (done.length < 3) await clock.sleep(10);
        await Promise.all(done);
      })(),
    );
    expect(events).toEqual(["a0:true", "a1:false", "a2:false", "b0:true", "b1:true"]);
    // a0 held a slot but was not sent yet when the abort came: none of "a" is sent.
    expect(sent).toEqual(["b0", "b1"]);
    // Queued after the abort: refused at once.
    queue("a", 1, ac.signal);
    expect(events.at(-1)).toBe("a0:false");
  });

  it("passes a reserved slot on when it is given back", () => {
    const { launcher } = setup(1);
    const events: string[] = [];
    launchReservations.queue(launcher, 2, (reserved, i) =>
      events.push(`${String(i)}:${String(reserved)}`),
    );
    expect(events).toEqual(["0:true"]);
    launchReservations.unreserve(launcher);
    expect(events).toEqual(["0:true", "1:true"]);
  });

  it("lets the caller see a non-retryable error before the next waiter is sent", async () => {
    const { clock, launcher, sent, failing } = setup(1);
    failing.add("a0");
    const ac = new AbortController();
    const done: Promise<unknown>[] = [];
    launchReservations.queue(
      launcher,
      2,
      (reserved, i) => {
        if (!reserved) return;
        done.push(
          launchReservations
            .launch(launcher, request(`a${String(i)}`), ac.signal)
            .then((result) => {
              // What a job does with a fatal error: stop its other launches.
              if (result.kind === "fatal") ac.abort();
              return result;
            }),
        );
      },
      ac.signal,
    );
    await clock.runUntil(Promise.all(done));
    await clock.runUntil(clock.sleep(1000));
    expect(sent).toEqual(["a0"]);
    expect(done).toHaveLength(1);
  });
});

describe("the launcher's check before each send", () => {
  it("sends nothing when the launch is aborted while the check is answered", async () => {
    const { clock, launcher, sent } = setup(1);
    const abort = new AbortController();
    // The check takes a store round trip; the job stops meanwhile.
    const beforeSend = async () => {
      await clock.sleep(50);
      abort.abort();
      return true;
    };
    const result = await clock.runUntil(
      launcher.launch(request("a0"), abort.signal, { beforeSend }),
    );
    expect(result.kind).toBe("aborted");
    expect(sent).toEqual([]);
  });

  it("sends nothing when the check says no", async () => {
    const { clock, launcher, sent } = setup(1);
    const result = await clock.runUntil(
      launcher.launch(request("a0"), undefined, { beforeSend: () => Promise.resolve(false) }),
    );
    expect(result.kind).toBe("aborted");
    expect(sent).toEqual([]);
  });
});
