/**
 * The other end of a transport replay (`bench/replay.ts`): answers the k-th call it receives
 * with the k-th recorded answer of a real-time run, after the same delay. The replaying process
 * then does exactly the transport work the runner's process did (send each request, receive
 * and parse each answer) and nothing else.
 *
 * It also runs the run's simulator, on the same simulated time, and hands it every call as the
 * simulator process got it (answers serialised and dropped), so the replaying process shares
 * the machine with a neighbour as busy as the runner's process had: on 2 cores, the two
 * processes of a pair compete with their peer for the CPU and its caches. Answering from the
 * records alone, the peer used about a quarter of the simulator's CPU (1.9 against 7.5 s at
 * 10x, 10,000 tasks), a difference the runner-minus-replay figure charged to the runner.
 */
import { parseArgs } from "node:util";
import type { SimulatedAws } from "../../src/testing/index.js";
import { summarizeSim } from "../metrics.js";
import { scenarioByName, simulatedAccount } from "../workload.js";
import { simulatorCommand, type Request, type Response } from "./protocol.js";
import { realNow, ScaledClock } from "./scaled-clock.js";
import { readReplies, readRun } from "./transcript.js";

const { values } = parseArgs({
  options: { transcript: { type: "string" }, scenario: { type: "string" } },
});
if (values.transcript === undefined || values.scenario === undefined)
  throw new Error("--transcript <dir> and --scenario <name> are required");
const scenario = scenarioByName(values.scenario);
const replies = await readReplies(values.transcript);
const run = await readRun(values.transcript);
let next = 0;
/** Started at the first call, which the run's simulator got at `run.firstCallAt`. */
let simulator: SimulatedAws | undefined;

const reply = (message: Response): void => {
  process.send?.(message);
};

process.on("message", (raw: unknown) => {
  const message = raw as Request;
  switch (message.type) {
    case "call": {
      const recorded = replies[next++];
      if (recorded?.action !== message.action)
        throw new Error(
          `call ${String(next - 1)} is ${message.action}, the transcript has ${String(recorded?.action)}`,
        );
      const { id, service, action, body } = message;
      simulator ??= simulatedAccount(
        new ScaledClock(run.speed, run.firstCallAt, realNow()),
        scenario,
      );
      simulator.clients[service].send(simulatorCommand(action, body)).then(
        (output) => void JSON.stringify(output),
        () => undefined,
      );
      // A call the run never saw answered is answered at once here (with the recorded
      // "never answered" error), so the replay does not wait for it forever.
      setTimeout(() => reply({ ...recorded.reply, id }), Math.max(0, recorded.after));
      break;
    }
    case "summary":
      if (simulator === undefined) throw new Error("no call was replayed");
      reply({ type: "summary", id: message.id, summary: summarizeSim(simulator) });
      break;
    case "exit":
      process.disconnect();
      break;
  }
});
reply({ type: "ready" });
