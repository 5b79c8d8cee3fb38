/**
 * The supervisor that stands between the runner and each container process. It starts the
 * command in a process group of its own, forwards stop requests to the whole group, exits with
 * the command's exit status, and kills the group if the runner goes away, even abruptly: its IPC
 * channel to the runner closes when the runner's process dies, whatever killed it. That is what
 * guarantees no container process outlives the runner. It tells the runner the group's id
 * (`{ started: pid }`) so the runner can kill the group itself, synchronously, as it exits.
 *
 * It runs as `node -e <source>`, so it needs no file of its own in the package.
 */
export const SUPERVISOR_SOURCE = String.raw`
"use strict";
const { spawn } = require("node:child_process");
const argv = JSON.parse(process.argv[1]);
const cwd = process.argv[2];
let child;
let exited = false;
const killGroup = (signal) => {
  if (child === undefined || exited) return;
  try { process.kill(-child.pid, signal); } catch { try { child.kill(signal); } catch {} }
};
try {
  child = spawn(argv[0], argv.slice(1), { stdio: "inherit", detached: true, cwd, env: process.env });
} catch (error) {
  process.stderr.write("CannotStartContainerError: " + error.message + "\n");
  process.exit(127);
}
child.on("error", (error) => {
  exited = true;
  process.stderr.write("CannotStartContainerError: " + error.message + "\n");
  if (process.connected) process.send({ startFailed: String(error.message) }, () => process.exit(127));
  else process.exit(127);
});
// With a callback, a runner already gone (EPIPE) is not an uncaught error; "disconnect" follows.
child.on("spawn", () => { if (process.connected) process.send({ started: child.pid }, () => {}); });
child.on("exit", (code, signal) => {
  // Like a container: when the main process ends, whatever it left running in its group ends too.
  try { process.kill(-child.pid, "SIGKILL"); } catch {}
  exited = true;
  const signals = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  process.exitCode = code !== null ? code : 128 + (signals[signal] || 0);
  if (process.connected) process.disconnect();
});
process.on("message", (message) => { if (message && message.signal) killGroup(message.signal); });
process.on("disconnect", () => { if (!exited) killGroup("SIGKILL"); });
process.on("SIGTERM", () => killGroup("SIGTERM"));
// Whatever goes wrong in here, the command's group must not outlive its supervisor.
process.on("uncaughtException", (error) => {
  killGroup("SIGKILL");
  try { process.stderr.write("ecs-batch-runner supervisor: " + String(error && error.stack || error) + "\n"); } catch {}
  process.exit(70);
});
// SIGINT, SIGQUIT and SIGHUP from a terminal reach its whole process group, the runner too:
// the runner decides (the CLI stops the tasks on a first Ctrl-C and kills them on a second).
// Dying here would orphan the command's group; a runner that dies closes the channel instead.
for (const signal of ["SIGINT", "SIGQUIT", "SIGHUP"]) process.on(signal, () => {});
`;
