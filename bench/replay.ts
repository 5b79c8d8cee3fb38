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
 *
 * The three SDK client modules are loaded only for a replay (`readRequests` below), not when
 * the worker starts: the worker's other modes measure the runner's process, whose peak RSS
 * must not carry clients (EC2's above all, about 50 MB) that only the replay uses.
 */
import type { AwsCommand } from "../src/index.js";
import type { ServiceName } from "./realtime/protocol.js";
import type { RemoteSimulator } from "./realtime/remote-sim.js";
import { realNow } from "./realtime/scaled-clock.js";
import { readRequests as readRecords, type RecordedRequests } from "./realtime/transcript.js";

type CommandClass = new (input: never) => AwsCommand;
type Sdk = Readonly<Record<ServiceName, Readonly<Record<string, unknown>>>>;

let loadedSdk: Sdk | undefined;

/**
 * The ECS, CloudWatch Logs and EC2 SDK modules, loaded on first call. `import()`, not a static
 * import: the SDK packages stay external to the bundled worker, and a static import of an
 * external module is loaded when the worker starts, whatever its mode.
 */
async function sdk(): Promise<Sdk> {
  if (loadedSdk === undefined) {
    const [ecs, logs, ec2] = await Promise.all([
      import("@aws-sdk/client-ecs"),
      import("@aws-sdk/client-cloudwatch-logs"),
      import("@aws-sdk/client-ec2"),
    ]);
    loadedSdk = { ecs, logs, ec2 };
  }
  return loadedSdk;
}

/**
 * Reads a transcript's requests (`realtime/transcript.ts`) and loads the SDK modules the replay
 * sends them with: the worker calls it before it starts measuring, so loading the modules
 * costs the replay's figures nothing, as it cost them nothing when the modules were imported
 * at start.
 */
export async function readRequests(dir: string): Promise<RecordedRequests> {
  const [requests] = await Promise.all([readRecords(dir), sdk()]);
  return requests;
}

/** The SDK command class of `action` (`RunTask` -> `RunTaskCommand`). */
function commandClass(modules: Sdk, service: ServiceName, action: string): CommandClass {
  const found = modules[service][`${action}Command`];
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
  // Loaded already by `readRequests`; here for a caller that read the records another way.
  const modules = await sdk();
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
    const Command = commandClass(modules, r.service, r.action);
    remote.clients[r.service].send(new Command(input)).then(settle, () => {
      errors++;
      settle();
    });
  }
  allSent = true;
  if (outstanding > 0) await finished;
  return { calls: requests.count, errors, readingMs };
}
