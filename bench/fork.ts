/**
 * One measurement in a fresh `node` process (a clean heap, no TypeScript loader): the forked
 * script sends its result over IPC and exits; its wall time is printed on stderr.
 */
import { fork } from "node:child_process";

/** Forks `script` with `args` and resolves with the result it sends. */
export function forkMeasurement<T>(
  script: string,
  args: readonly string[],
  label: string,
): Promise<T> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = fork(script, args, {
      execArgv: ["--expose-gc"],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let result: T | undefined;
    child.on("message", (message: unknown) => {
      result = message as T;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (result === undefined) {
        reject(new Error(`${label} exited with code ${String(code)} and no result`));
        return;
      }
      process.stderr.write(`  ${label}: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      resolve(result);
    });
  });
}
