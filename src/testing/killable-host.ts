/**
 * A host that can be killed mid-job, for crash tests of durable runs (DESIGN 3.11).
 */
import type { AwsClient, AwsClients } from "../aws.js";
import type { Clock } from "../clock.js";
import type { JobStore } from "../durable/store.js";

/** What a killed host waits on: nothing ever settles it. */
const NEVER = new Promise<never>(() => undefined);

/** A host's view of a shared clock and shared clients, which `kill()` cuts off. */
export interface KillableHost {
  /** The shared clock as the host sees it: once killed, none of its timers fire. */
  readonly clock: Clock;
  /** The shared clients as the host sees them: once killed, none of its calls settle. */
  readonly clients: AwsClients;
  /**
   * Kills the host as a SIGKILL would: what it waits for (a timer, an AWS answer, one already
   * on its way) never arrives, so it takes no further step. The clock, the account and any
   * store carry on for the hosts that come after it.
   */
  kill(): void;
  /** Whether `kill()` was called. */
  readonly killed: boolean;
  /**
   * Freezes the host as SIGSTOP would (a VM paused, a process swapped out): its calls are not
   * sent, and what it waits for (a timer, an AWS answer, a store call) is held, while the clock,
   * the account and the other hosts go on. `resume()` delivers what was held, in the order it
   * came: the host wakes late, to a clock that moved on and a run perhaps in other hands.
   */
  pause(): void;
  /** Wakes a paused host (see `pause`). */
  resume(): void;
  /**
   * A store (shared by the hosts of a test: one `MemoryJobStore`, or a `FileJobStore` each on
   * one directory) as this host sees it: once killed, the host's calls into it never start,
   * and those in flight never settle for it. Without it, a killed host whose attach was still
   * reading the store would go on to take the lease and write, as no dead process can.
   */
  killableStore(store: JobStore): JobStore;
}

/**
 * Wraps a clock and clients for one host of a crash test: give `clock` and `clients` to the
 * host's `EcsBatchRunner`, call `kill()` at the moment to test, then attach from a runner of
 * another host to the same account (and store). Calls a killed host makes are never sent, so
 * the account sees exactly what a dead process would have left behind.
 */
export function killableHost(clock: Clock, clients: AwsClients): KillableHost {
  let killed = false;
  /** While paused: what waits for `resume()`, in order. */
  let frozen: (() => void)[] | undefined;
  const thawed = (): Promise<void> =>
    new Promise((resolve) => (frozen === undefined ? resolve() : frozen.push(resolve)));
  /** The outcome of a host's pending work as the host sees it: held while it is paused. */
  const delivered = <T>(outcome: () => T | Promise<T>): T | Promise<T> =>
    frozen === undefined ? outcome() : thawed().then(outcome);
  /**
   * What a host's pending work sees: the answer while it lives (once it is awake), nothing once
   * killed. A paused host sends nothing: its work starts when it wakes.
   */
  const untilKilled = <T>(work: () => Promise<T>): Promise<T> => {
    if (killed) return NEVER;
    const started = frozen === undefined ? work() : thawed().then(work);
    return started.then(
      (value) => delivered(() => (killed ? NEVER : value)),
      (error: unknown) => delivered(() => (killed ? NEVER : Promise.reject(error as Error))),
    );
  };
  const wrap = (client: AwsClient): AwsClient => ({
    send: (command, options) => untilKilled(() => client.send(command, options)),
  });
  return {
    clock: {
      now: () => clock.now(),
      sleep: (ms, signal) => untilKilled(() => clock.sleep(ms, signal)),
    },
    clients: { ecs: wrap(clients.ecs), logs: wrap(clients.logs), ec2: wrap(clients.ec2) },
    kill: () => {
      killed = true;
    },
    pause: () => {
      frozen ??= [];
    },
    resume: () => {
      const held = frozen ?? [];
      frozen = undefined;
      for (const release of held) release();
    },
    killableStore: (store) => {
      const append = store.append?.bind(store);
      return {
        load: (key) => untilKilled(() => store.load(key)),
        save: (key, checkpoint, lease) => untilKilled(() => store.save(key, checkpoint, lease)),
        ...(append === undefined
          ? {}
          : {
              append: (key, change, lease, renewal) =>
                untilKilled(() => append(key, change, lease, renewal)),
            }),
        list: (jobId) => untilKilled(() => store.list(jobId)),
        delete: (key) => untilKilled(() => store.delete(key)),
        acquire: (key, owner, ttlMs, now) =>
          untilKilled(() => store.acquire(key, owner, ttlMs, now)),
        renew: (lease, ttlMs, now) => untilKilled(() => store.renew(lease, ttlMs, now)),
        release: (lease) => untilKilled(() => store.release(lease)),
      };
    },
    get killed() {
      return killed;
    },
  };
}
