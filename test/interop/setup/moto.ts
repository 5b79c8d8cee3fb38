/**
 * Global setup of the interop suite: starts moto (an AWS emulator) on a free loopback port,
 * waits until it answers, hands its endpoint to the tests and stops it at the end.
 *
 * Without python3 or moto the suite is skipped with one line saying how to enable it; under
 * `CI=true` a missing moto fails the run instead. The python comes from
 * `ECS_BATCH_INTEROP_PYTHON` (default `python3`). moto records every request it receives
 * (its own recorder, `MOTO_ENABLE_RECORDING`) into a file the tests read: that is how they see
 * RunTask inputs as moto received them. docs/testing.md lists the ways moto differs from ECS.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DescribeVpcsCommand, EC2Client } from "@aws-sdk/client-ec2";
import type { TestProject } from "vitest/node";

/** What the tests get through `inject("moto")`. */
export type MotoContext =
  | { readonly endpoint: string; readonly recording: string; readonly version: string }
  | { readonly skipped: string };

declare module "vitest" {
  export interface ProvidedContext {
    moto: MotoContext;
  }
}

const python = process.env.ECS_BATCH_INTEROP_PYTHON ?? "python3";
const STARTUP_MS = 30_000;

/**
 * Runs moto's server in this python, and ends it when its stdin closes: should this test run
 * die without its teardown, the pipe closes with it and moto does not outlive it. moto's
 * recorder writes each request from the request's own thread, in several writes once an entry
 * passes 8 KiB, so concurrent requests interleave their lines: one lock around it keeps each
 * entry whole. moto also keeps whether an answer carries tags (DescribeTasks' TAGS) in a table
 * every request of a service shares, so a DescribeTasks without tags running beside one with
 * them could strip the tags from its answer, and a runner finding its tasks by their tags missed
 * some: each request gets its own copy of the table (docs/testing.md, moto's gaps).
 */
const LAUNCHER = `
import os, sys, threading
def watch():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.moto_api._internal.recorder.models import Recorder
record, lock = Recorder._record_request, threading.Lock()
def record_whole(self, *args, **kwargs):
    with lock:
        return record(self, *args, **kwargs)
Recorder._record_request = record_whole
from moto.core.responses import BaseResponse
def per_request(choose):
    def method(self, path):
        if "RESPONSE_KEY_PATH_TO_TRANSFORMER" not in vars(self):
            self.RESPONSE_KEY_PATH_TO_TRANSFORMER = dict(self.RESPONSE_KEY_PATH_TO_TRANSFORMER)
        return choose(self, path)
    return method
BaseResponse._include_in_response = per_request(BaseResponse._include_in_response)
BaseResponse._exclude_from_response = per_request(BaseResponse._exclude_from_response)
from moto.server import main
main(["-H", "127.0.0.1", "-p", "0"])
`;

/** moto's version, or why it cannot run. */
function probe(): { version: string } | { missing: string } {
  const check = spawnSync(python, ["-c", "import moto, moto.server; print(moto.__version__)"], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (check.error !== undefined) {
    const code = (check.error as NodeJS.ErrnoException).code;
    return { missing: `${python} not found (${code ?? check.error.message})` };
  }
  if (check.status !== 0) {
    const last = check.stderr.trim().split("\n").at(-1) ?? "";
    return { missing: `${python} cannot import moto.server (${last})` };
  }
  return { version: check.stdout.trim() };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const found = probe();
  if ("missing" in found) {
    const how =
      "install moto with `pip install 'moto[server]'` (or point ECS_BATCH_INTEROP_PYTHON at a python that has it)";
    if (process.env.CI === "true") {
      throw new Error(
        `interop suite: moto is required under CI=true, but ${found.missing}; ${how}`,
      );
    }
    // The one line that says the suite did not run, and how to make it run.
    process.stderr.write(`\ninterop suite SKIPPED: ${found.missing}; to run it, ${how}.\n\n`);
    project.provide("moto", { skipped: found.missing });
    return () => Promise.resolve();
  }

  const dir = mkdtempSync(join(tmpdir(), "ecs-batch-interop-"));
  const recording = join(dir, "requests.jsonl");
  const child = spawn(python, ["-c", LAUNCHER], {
    env: {
      ...process.env,
      PYTHONUNBUFFERED: "1",
      MOTO_ENABLE_RECORDING: "true",
      MOTO_RECORDER_FILEPATH: recording,
    },
    stdio: ["pipe", "ignore", "pipe"],
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await end(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const endpoint = await started(child);
    await answers(endpoint, child);
    await warmUp(endpoint);
    project.provide("moto", { endpoint, recording, version: found.version });
  } catch (error) {
    await stop();
    throw error;
  }
  return stop;
}

/** The endpoint moto prints once it listens (`* Running on http://127.0.0.1:PORT`). */
function started(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let tail = "";
    let found = false;
    const timer = setTimeout(() => {
      reject(new Error(`moto did not start within ${STARTUP_MS} ms:\n${tail}`));
    }, STARTUP_MS);
    // moto logs every request on stderr: keep reading it (a full pipe would block moto), and
    // keep the last lines for an error message.
    child.stderr?.on("data", (data: Buffer) => {
      tail = (tail + data.toString()).slice(-4000);
      const match = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(tail);
      if (!found && match?.[1] !== undefined) {
        found = true;
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (!found) {
        reject(new Error(`moto exited before it listened (${String(code ?? signal)}):\n${tail}`));
      }
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Waits until moto answers HTTP. */
async function answers(endpoint: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    try {
      const response = await fetch(`${endpoint}/moto-api/data.json`);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`moto at ${endpoint} did not answer within ${STARTUP_MS} ms`);
    }
    await sleep(100);
  }
}

/**
 * moto builds a region's EC2 backend (the default VPC, its catalogue of AMIs) on the first EC2
 * call, which takes seconds: made here, so no test's timeout runs out during it.
 */
async function warmUp(endpoint: string): Promise<void> {
  const ec2 = new EC2Client({
    region: "us-west-2",
    endpoint,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  try {
    await ec2.send(new DescribeVpcsCommand({}));
  } finally {
    ec2.destroy();
  }
}

/** Stops moto: SIGTERM, then SIGKILL if it has not exited after 5 s. */
async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.stdin?.end();
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}
