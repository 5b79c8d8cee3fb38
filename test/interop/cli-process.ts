/**
 * The built \`ecs-batch\` binary as its own process, pointed at moto: what the CLI and the
 * multi-host tests share.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { endpoint, REGION, unique } from "./helpers.js";

const root = join(import.meta.dirname, "..", "..");
const bin = join(root, "dist", "cli", "main.js");
/** Where job files are written and the CLI runs. */
export const dir = join(root, ".tmp", "interop-cli");
mkdirSync(dir, { recursive: true });

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One JSON line of `--json` output. */
export type JsonEvent = { event: string; [key: string]: unknown };

/**
 * Runs `ecs-batch <args> --endpoint <moto> --region us-west-2` with dummy credentials in the
 * environment; `onEvent` sees each `--json` event as it is printed, `onSpawn` the process at once.
 */
export function ecsBatch(
  args: string[],
  onEvent?: (event: JsonEvent, child: ChildProcess) => void,
  onSpawn?: (child: ChildProcess) => void,
): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_EC2_METADATA_DISABLED: "true",
  };
  for (const name of ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"]) {
    env[name] = undefined;
  }
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [bin, ...args, "--endpoint", endpoint(), "--region", REGION],
      { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    let pending = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      pending += d.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (onEvent !== undefined && line.startsWith("{")) {
          onEvent(JSON.parse(line) as JsonEvent, child);
        }
      }
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Writes a native job file (JSON) and returns its path. */
export function jobFile(job: Record<string, unknown>): string {
  const path = join(dir, `${unique("job")}.json`);
  writeFileSync(path, JSON.stringify(job));
  return path;
}

export function lastEvent(run: Run): JsonEvent {
  return JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as JsonEvent;
}
