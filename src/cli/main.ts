#!/usr/bin/env node
/** The `ecs-batch` executable: wires the CLI to the process. */
import { cli, EXIT, ForcedExit } from "./cli.js";

const handlers = new Set<(signal: "SIGINT" | "SIGTERM") => void>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    try {
      for (const h of handlers) h(signal);
    } catch (error) {
      if (error instanceof ForcedExit) process.exit(EXIT.cancelled);
      throw error;
    }
    if (handlers.size === 0) process.exit(EXIT.cancelled);
  });
}

const code = await cli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTty: process.stderr.isTTY,
  columns: process.stderr.columns,
  rows: process.stderr.rows,
  cwd: process.cwd(),
  onSignal: (handler) => {
    handlers.add(handler);
    return () => handlers.delete(handler);
  },
});
process.exitCode = code;
// Exit once the job is done, even if an HTTP keep-alive socket would hold the process open.
setTimeout(() => process.exit(code), 200).unref();
