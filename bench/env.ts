/**
 * Where a strategy runs: the clients it sends calls through, the clock it waits on, and how a
 * promise is driven to its end (skipping through time on a `ManualClock`, plain waiting on a
 * real clock).
 */
import type { AwsClients, Clock } from "../src/index.js";

export interface Env {
  readonly clients: AwsClients;
  readonly clock: Clock;
  drive<T>(promise: Promise<T>): Promise<T>;
}
