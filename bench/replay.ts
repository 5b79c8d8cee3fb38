/**
 * The transport alone: the calls of a real-time run sent again at the same moments, and the same
 * answers received after the same delays (`realtime/replay-server.ts`), with no runner. Each call
 * goes the way the runner's calls went: an SDK command built from the recorded input, sent
 * through the same client (which serialises the input, receives the answer and parses it), the
 * answer dropped; the recorded requests stay outside the JS heap until each is sent (see
 * `readRequests`). What this process spends is what the runner's process spent on the AWS SDK's
 * part and the transport (command objects, serialising, receiving, parsing, the GC of all that,
 * the wake-ups to do so) plus the measurement's own sampling; the runner's process minus this
 * is what the runner itself costs. Reading the records back is the one cost here the runner's
 * process did not have; it is timed and reported apart.
 */
import * as ec2 from "@aws-sdk/client-ec2";
import * as ecs from "@aws-sdk/client-ecs";
import * as logs from "@aws-sdk/client-cloudwatch-logs";
import type { AwsCommand } from "../src/index.js";
import type { ServiceName } from "./realtime/protocol.js";
import type { RemoteSimulator } from "./realtime/remote-sim.js";
import { realNow } from "./realtime/scaled-clock.js";
import type { RecordedRequests } from "./realtime/transcript.js";

type CommandClass = new (input: never) => AwsCommand;
const SDK: Record<ServiceName, Record<string, unknown>> = { ecs, logs, ec2 };

/** The SDK command class of `action` (`RunTask` -> `RunTaskCommand`). */
function commandClass(service: ServiceName, action: string): CommandClass {
  const found = SDK[service][`${action}Command`];
  if (typeof found !== "function") throw new Error(`no SDK command for ${service} ${action}`);
  return found as CommandClass;
}

/**
 * Replays `requests` in order, each at its recorded offset from now; resolves when all are
 * answered. `readingMs` is the time spent reading the records back (parsing a line and the
 * request body in it), this process's own work that the runner's process did not have: the
 * benchmark takes it off the replay's CPU.
 */
export async function replayTranscript(
  remote: RemoteSimulator,
  requests: RecordedRequests,
): Promise<{ calls: number; errors: number; readingMs: number }> {
  const start = realNow();
  let outstanding = 0;
  let errors = 0;
  let readingMs = 0;
  let allSent = false;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  // The answer is parsed and dropped at once: nothing here keeps it, as the runner keeps little.
  const settle = (): void => {
    outstanding--;
    if (allSent && outstanding === 0) done();
  };
  const records = requests[Symbol.iterator]();
  for (;;) {
    // Synchronous work on this thread: its wall time is its CPU time.
    const before = performance.now();
    const next = records.next();
    if (next.done === true) break;
    const r = next.value;
    const input = JSON.parse(r.body) as never;
    readingMs += performance.now() - before;
    const wait = start + r.at - realNow();
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
    outstanding++;
    const Command = commandClass(r.service, r.action);
    remote.clients[r.service].send(new Command(input)).then(settle, () => {
      errors++;
      settle();
    });
  }
  allSent = true;
  if (outstanding > 0) await finished;
  return { calls: requests.count, errors, readingMs };
}
