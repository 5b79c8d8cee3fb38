/**
 * The transport alone: the calls of a real-time run sent again at the same moments, and the same
 * answers received after the same delays (`realtime/replay-server.ts`), with no runner. What
 * this process spends is what the runner's process spent on the transport (sending requests,
 * receiving and parsing answers, the GC of the answers, the wake-ups to do so) plus the
 * measurement's own sampling; the runner's process minus this is what the runner itself costs.
 * Serialising the requests is left out here (the recorded JSON is sent as is), so it stays on
 * the runner's side of the difference.
 */
import type { RemoteSimulator } from "./realtime/remote-sim.js";
import { realNow } from "./realtime/scaled-clock.js";
import type { RecordedRequest } from "./realtime/transcript.js";

/** Replays `requests` in order, each at its recorded offset from now; resolves when all are answered. */
export async function replayTranscript(
  remote: RemoteSimulator,
  requests: readonly RecordedRequest[],
): Promise<{ calls: number; errors: number }> {
  const start = realNow();
  let outstanding = 0;
  let errors = 0;
  let allSent = false;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  // The answer is parsed and dropped at once: nothing here keeps it, as the runner keeps little.
  const settle = (): void => {
    outstanding--;
    if (allSent && outstanding === 0) done();
  };
  for (const r of requests) {
    const wait = start + r.at - realNow();
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
    outstanding++;
    remote.call(r.service, r.action, r.body).then(settle, () => {
      errors++;
      settle();
    });
  }
  allSent = true;
  if (outstanding > 0) await finished;
  return { calls: requests.length, errors };
}
