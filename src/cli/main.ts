#!/usr/bin/env node
/**
 * The `ecs-batch` executable: wires the CLI to the process. The command line is read first,
 * with nothing but Node loaded: `--help`, `--version` and a mistyped option are answered
 * without loading the runner or the AWS SDK, as fast as Node starts. The rest of the CLI is
 * imported only for a command that runs or previews a job.
 */
import { parseCommandLine } from "./args.js";
import { signalExitCode, type CancelSignal } from "../exit-codes.js";

const handlers = new Set<(signal: CancelSignal) => void>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    try {
      for (const h of handlers) h(signal);
    } catch (error) {
      // A second signal: leave at once (the handler has killed local tasks already).
      if (error instanceof Error && error.name === "ForcedExit")
        process.exit(signalExitCode(signal));
      throw error;
    }
    // No job running yet (reading files, loading modules, preparing): nothing to stop.
    if (handlers.size === 0) process.exit(signalExitCode(signal));
  });
}

const argv = process.argv.slice(2);
if (argv.includes("--json")) jsonWarnings();
const parsed = parseCommandLine(argv);
let code: number;
if (parsed.kind === "answered") {
  if (parsed.stdout !== undefined) process.stdout.write(parsed.stdout);
  if (parsed.stderr !== undefined) process.stderr.write(parsed.stderr);
  code = parsed.code;
} else {
  const { runCommand } = await import("./cli.js");
  code = await runCommand(parsed, {
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
}
process.exitCode = code;
// Exit once the job is done, even if an HTTP keep-alive socket would hold the process open.
setTimeout(() => process.exit(code), 200).unref();

/**
 * With `--json`, stderr carries JSON only: a process warning (the AWS SDK warns on Node.js
 * versions it will drop) is written as one JSON line instead of Node's plain text.
 */
function jsonWarnings(): void {
  const write = (warning: string | Error, type: string | undefined): void => {
    const message = typeof warning === "string" ? warning : warning.message;
    const name = typeof warning === "string" ? (type ?? "Warning") : warning.name;
    process.stderr.write(`${JSON.stringify({ level: "warn", message: `${name}: ${message}` })}\n`);
  };
  const emitWarning = (warning: string | Error, options?: unknown): void => {
    const type =
      typeof options === "string"
        ? options
        : typeof (options as { type?: unknown } | undefined)?.type === "string"
          ? (options as { type: string }).type
          : undefined;
    write(warning, type);
  };
  process.emitWarning = emitWarning;
}
