/** Messages between the runner process and the simulator process of a real-time run. */
import type { SimSummary } from "../metrics.js";

export type ServiceName = "ecs" | "logs" | "ec2";

export type Request =
  | {
      readonly type: "call";
      readonly id: number;
      readonly service: ServiceName;
      readonly action: string;
      readonly input: unknown;
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
  | { readonly type: "result"; readonly id: number; readonly output: unknown }
  | { readonly type: "error"; readonly id: number; readonly error: WireError }
  | { readonly type: "summary"; readonly id: number; readonly summary: SimSummary };

/** Arguments of the simulator process: `--speed`, `--epoch`, `--real-start`. */
export interface SimServerArgs {
  readonly speed: number;
  readonly epoch: number;
  readonly realStart: number;
}
