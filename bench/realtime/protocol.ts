/**
 * Messages between the runner process and the simulator process of a real-time run. Requests
 * and answers travel as JSON text, as they do between the AWS SDK and AWS: the runner's process
 * parses every answer with `JSON.parse`, the way the SDK parses a response body.
 */
import type { AwsCommand } from "../../src/index.js";
import type { SimSummary } from "../metrics.js";

export type ServiceName = "ecs" | "logs" | "ec2";

export type Request =
  | {
      readonly type: "call";
      readonly id: number;
      readonly service: ServiceName;
      readonly action: string;
      /** The command's input, `JSON.stringify`-ed. */
      readonly body: string;
    }
  | { readonly type: "summary"; readonly id: number }
  | { readonly type: "exit" };

/** An error as it crosses the process boundary: the fields the runner classifies errors by. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly status?: number;
  readonly requestId?: string;
  readonly throttling?: boolean;
}

export type Response =
  | { readonly type: "ready" }
  /** `body`: the output, `JSON.stringify`-ed (dates as ISO strings). */
  | { readonly type: "result"; readonly id: number; readonly body: string }
  | { readonly type: "error"; readonly id: number; readonly error: WireError }
  | { readonly type: "summary"; readonly id: number; readonly summary: SimSummary };

/**
 * Arguments of the simulator process: `--scenario`, `--speed`, `--epoch`, `--real-start`,
 * `--record`.
 */
export interface SimServerArgs {
  /** The scenario's name: its tasks' run time is scripted in the simulator. */
  readonly scenario: string;
  readonly speed: number;
  readonly epoch: number;
  readonly realStart: number;
  /** Directory to write the transcript of the run into (`transcript.ts`). */
  readonly record?: string;
}

/** A stand-in for the SDK command the runner sent: the simulator reads its name and input. */
export function simulatorCommand(action: string, body: string): AwsCommand {
  return {
    input: JSON.parse(body) as unknown,
    constructor: { name: `${action}Command` },
  } as AwsCommand;
}
