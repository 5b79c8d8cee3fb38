/**
 * The runner process's side of a real-time run: starts the simulator process and hands the
 * runner structural clients (`send(command)`) that forward each call to it over IPC.
 */
import { fork, type ChildProcess } from "node:child_process";
import type { AwsClient, AwsClients, AwsCommand } from "../../src/index.js";
import { serviceError } from "../../src/testing/index.js";
import type { SimSummary } from "../metrics.js";
import type { Request, Response, ServiceName, SimServerArgs, WireError } from "./protocol.js";

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Rebuilds an error with the fields AWS SDK errors carry (name, `$fault`, `$metadata`, ...). */
function rebuild(error: WireError): Error {
  if (error.status === undefined)
    return Object.assign(new Error(error.message), { name: error.name });
  return serviceError(error.name, error.message, {}, error.requestId);
}

/**
 * The SDK hands timestamps to its callers as `Date`s (ECS sends them as epoch seconds; the
 * simulator's JSON carries them as ISO strings). Every timestamp field in the ECS shapes the
 * runner reads ends in `At` (`createdAt`, `startedAt`, `stoppedAt`, `registeredAt`, ...).
 */
function reviveDates(key: string, value: unknown): unknown {
  return typeof value === "string" && key.endsWith("At") ? new Date(value) : value;
}

export class RemoteSimulator {
  readonly clients: AwsClients;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (message: unknown) => this.#receive(message as Response));
    this.clients = {
      ecs: this.#client("ecs"),
      logs: this.#client("logs"),
      ec2: this.#client("ec2"),
    };
  }

  /**
   * Forks `script` (the built `sim-server.js`, or `replay-server.js`) with `args` and waits
   * until it is ready.
   */
  static start(script: string, args: readonly string[]): Promise<RemoteSimulator> {
    const child = fork(script, args, {
      // Not the measured process's flags (`--expose-gc`, profiling): the peer runs plainly.
      execArgv: [],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) =>
        reject(new Error(`the simulator process exited (${String(code)})`)),
      );
      child.once("message", (message: unknown) => {
        if ((message as Response).type === "ready") resolve(new RemoteSimulator(child));
      });
    });
  }

  /** The arguments of `sim-server.js`. */
  static simServerArgs(args: SimServerArgs): string[] {
    return [
      "--scenario",
      args.scenario,
      "--speed",
      String(args.speed),
      "--epoch",
      String(args.epoch),
      "--real-start",
      String(args.realStart),
      ...(args.record === undefined ? [] : ["--record", args.record]),
    ];
  }

  /** Sends one call as JSON text; the answer comes back parsed, as the SDK would return it. */
  call(service: ServiceName, action: string, body: string): Promise<unknown> {
    return this.#request((id) => ({ type: "call", id, service, action, body }));
  }

  #client(service: ServiceName): AwsClient {
    return {
      send: (command: AwsCommand) => {
        const name = (command as { constructor: { name: string } }).constructor.name;
        const action = name.endsWith("Command") ? name.slice(0, -"Command".length) : name;
        return this.call(service, action, JSON.stringify(command.input));
      },
    };
  }

  #request(build: (id: number) => Request): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send(build(id));
    });
  }

  #receive(message: Response): void {
    if (message.type === "ready") return;
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    switch (message.type) {
      case "result":
        pending.resolve(JSON.parse(message.body, reviveDates));
        break;
      case "error":
        pending.reject(rebuild(message.error));
        break;
      case "summary":
        pending.resolve(message.summary);
        break;
    }
  }

  /** What the simulated account saw (calls, launches, duplicates, orphans). */
  async summary(): Promise<SimSummary> {
    return (await this.#request((id) => ({ type: "summary", id }))) as SimSummary;
  }

  /** Ends the simulator process. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#child.removeAllListeners("exit");
      this.#child.once("exit", () => resolve());
      this.#child.send({ type: "exit" } satisfies Request);
    });
  }
}
