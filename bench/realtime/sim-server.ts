/**
 * The simulator process of a real-time run: the simulated account of the benchmark (the same
 * limits, latency and scripts as the virtual runs) on a `ScaledClock`, answering the runner
 * process's calls over IPC. Keeping it out of the runner's process means the runner's CPU, RSS
 * and event-loop delay are the runner's own.
 */
import { parseArgs } from "node:util";
import type { AwsClient } from "../../src/index.js";
import { summarizeSim } from "../metrics.js";
import { scenarioByName, simulatedAccount } from "../workload.js";
import {
  simulatorCommand,
  type Request,
  type Response,
  type ServiceName,
  type WireError,
} from "./protocol.js";
import { realNow, ScaledClock } from "./scaled-clock.js";
import { TranscriptRecorder } from "./transcript.js";

const { values } = parseArgs({
  options: {
    scenario: { type: "string" },
    speed: { type: "string" },
    epoch: { type: "string" },
    "real-start": { type: "string" },
    /** Directory to write the transcript of every call into when the run ends. */
    record: { type: "string" },
  },
});
const clock = new ScaledClock(
  Number(values.speed),
  Number(values.epoch),
  Number(values["real-start"]),
);
if (values.scenario === undefined) throw new Error("--scenario <name> is required");
const aws = simulatedAccount(clock, scenarioByName(values.scenario));
const clients: Record<ServiceName, AwsClient> = aws.clients;
const recorder = values.record === undefined ? undefined : new TranscriptRecorder(clock);

const reply = (message: Response): void => {
  process.send?.(message);
};

function wireError(error: unknown): WireError {
  const e = error as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number; requestId?: string };
    $retryable?: { throttling?: boolean };
  };
  return {
    name: e.name ?? "Error",
    message: e.message ?? String(error),
    ...(e.$metadata?.httpStatusCode === undefined ? {} : { status: e.$metadata.httpStatusCode }),
    ...(e.$metadata?.requestId === undefined ? {} : { requestId: e.$metadata.requestId }),
    ...(e.$retryable?.throttling === true ? { throttling: true } : {}),
  };
}

process.on("message", (raw: unknown) => {
  const message = raw as Request;
  switch (message.type) {
    case "call": {
      const { id, service, action, body } = message;
      const answered = recorder?.arrived(realNow(), service, action, body);
      clients[service].send(simulatorCommand(action, body)).then(
        (output) => {
          const result = { type: "result", body: JSON.stringify(output) } as const;
          answered?.(result, realNow());
          reply({ ...result, id });
        },
        (error: unknown) => {
          const failed = { type: "error", error: wireError(error) } as const;
          answered?.(failed, realNow());
          reply({ ...failed, id });
        },
      );
      break;
    }
    case "summary":
      reply({ type: "summary", id: message.id, summary: summarizeSim(aws) });
      break;
    case "exit":
      void (
        values.record === undefined || recorder === undefined
          ? Promise.resolve()
          : recorder.save(values.record)
      ).then(() => process.disconnect());
      break;
  }
});
reply({ type: "ready" });
