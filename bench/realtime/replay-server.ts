/**
 * The other end of a transport replay (`bench/replay.ts`): answers the k-th call it receives
 * with the k-th recorded answer of a real-time run, after the same delay, without simulating
 * anything. The replaying process then does exactly the transport work the runner's process did
 * (send each request, receive and parse each answer) and nothing else.
 */
import { parseArgs } from "node:util";
import type { Request, Response } from "./protocol.js";
import { readReplies } from "./transcript.js";

const { values } = parseArgs({ options: { transcript: { type: "string" } } });
if (values.transcript === undefined) throw new Error("--transcript <dir> is required");
const replies = await readReplies(values.transcript);
let next = 0;

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
      const { id } = message;
      // A call the run never saw answered is answered at once here (with the recorded
      // "never answered" error), so the replay does not wait for it forever.
      setTimeout(() => reply({ ...recorded.reply, id }), Math.max(0, recorded.after));
      break;
    }
    case "summary":
      throw new Error("a replay has no simulator to summarise");
    case "exit":
      process.disconnect();
      break;
  }
});
reply({ type: "ready" });
