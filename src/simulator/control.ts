/**
 * What sits in front of every simulated call: the call log, latency, injected faults and
 * per-action token buckets (the way AWS rate-limits an account and Region).
 */
import type { AwsClient, AwsCommand } from "../aws.js";
import { sleepUnlessAborted, type Clock } from "../clock.js";
import { serviceError, SimulatedServiceError } from "./errors.js";

/** The three simulated services. */
export type ServiceName = "ecs" | "logs" | "ec2";

/** One call the simulator received. */
export interface CallRecord {
  readonly service: ServiceName;
  /** The API action, e.g. `RunTask`. */
  readonly action: string;
  readonly input: Readonly<Record<string, unknown>>;
  /** Clock time the call arrived. */
  readonly at: number;
  /** Set when the call failed (throttled, injected fault, or a real error of the simulated API). */
  error?: string;
}

/** A token bucket shared by one or more actions (DESIGN 3.10). */
export interface TokenBucketConfig {
  readonly service: ServiceName;
  readonly actions: readonly string[];
  readonly burst: number;
  readonly ratePerSecond: number;
}

/** A fault to inject into matching calls. */
export interface FaultRule {
  readonly service?: ServiceName;
  /** Action name or names; all actions of the service when absent. */
  readonly action?: string | readonly string[];
  /** The error to throw: a service error name (`"ThrottlingException"`, `"ServerException"`, ...) or an Error. */
  readonly error: string | Error;
  readonly message?: string;
  /** Chance that a matching call fails, from the simulator's seeded random source. Default 1. */
  readonly probability?: number;
  /** How many calls to fail at most. Default: unlimited. */
  readonly times?: number;
  /** Clock window (ms since epoch) in which the rule applies. */
  readonly from?: number;
  readonly until?: number;
  /** Extra condition on the call's input. */
  readonly when?: (input: Readonly<Record<string, unknown>>) => boolean;
  /**
   * Process the call, then throw: the request took effect but its response was "lost", as
   * with a timeout. Tests idempotency (RunTask `clientToken`).
   */
  readonly afterProcessing?: boolean;
}

/** Latency per call, in clock milliseconds. */
export type LatencyConfig = number | ((service: ServiceName, action: string) => number);

class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly config: TokenBucketConfig,
    now: number,
  ) {
    this.#tokens = config.burst;
    this.#last = now;
  }

  take(now: number, n = 1): boolean {
    this.#tokens = Math.min(
      this.config.burst,
      this.#tokens + ((now - this.#last) / 1000) * this.config.ratePerSecond,
    );
    this.#last = now;
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }
}

/** A small seeded PRNG (mulberry32), so fault probabilities are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A handler for one action: takes the input, returns the output (without `$metadata`). */
export type ActionHandler = (input: Record<string, unknown>) => Record<string, unknown>;

/** The shared front of the simulated services. */
export class CallControl {
  readonly calls: CallRecord[] = [];
  /** Task ARNs an ECS answer that reached its caller named: the tasks a caller could know of. */
  readonly answeredTaskArns = new Set<string>();
  /** Those of them an answer showed with the task's details (RunTask, DescribeTasks). */
  readonly describedTaskArns = new Set<string>();
  readonly #counts = new Map<string, number>();
  readonly #buckets: TokenBucket[] = [];
  readonly #faults: { rule: FaultRule; used: number }[] = [];
  #latency: LatencyConfig = 0;
  #requestSeq = 0;

  constructor(
    readonly clock: Clock,
    readonly random: () => number,
  ) {}

  /** Rate-limits the given actions with a token bucket. */
  addTokenBucket(config: TokenBucketConfig): void {
    this.#buckets.push(new TokenBucket(config, this.clock.now()));
  }

  /** Removes every token bucket. */
  clearTokenBuckets(): void {
    this.#buckets.length = 0;
  }

  /** Adds a fault rule; returns a function that removes it. */
  addFault(rule: FaultRule): () => void {
    const entry = { rule, used: 0 };
    this.#faults.push(entry);
    return () => {
      const i = this.#faults.indexOf(entry);
      if (i >= 0) this.#faults.splice(i, 1);
    };
  }

  setLatency(latency: LatencyConfig): void {
    this.#latency = latency;
  }

  /** Calls of `action` (any service) so far, failed ones included. */
  count(action: string): number {
    return this.#counts.get(action) ?? 0;
  }

  /** A structural AWS client for one service. */
  client(
    service: ServiceName,
    handlers: Readonly<Record<string, ActionHandler>>,
    sync: () => void,
  ): AwsClient {
    return {
      send: async (command: AwsCommand, options?: { abortSignal?: AbortSignal }) => {
        const action = actionName(command);
        const input = (command.input ?? {}) as Record<string, unknown>;
        const record: CallRecord = {
          service,
          action,
          input, // as sent: SDK command inputs are not changed after sending
          at: this.clock.now(),
        };
        this.calls.push(record);
        this.#counts.set(action, (this.#counts.get(action) ?? 0) + 1);
        const requestId = `sim-${(++this.#requestSeq).toString(16).padStart(8, "0")}`;
        const latency =
          typeof this.#latency === "number" ? this.#latency : this.#latency(service, action);
        if (latency > 0 && !(await sleepUnlessAborted(this.clock, latency, options?.abortSignal))) {
          const err = new Error("Request aborted");
          err.name = "AbortError";
          record.error = err.name;
          throw err;
        }
        const handler = handlers[action];
        try {
          if (handler === undefined) {
            throw serviceError(
              "UnknownOperationException",
              `The simulator does not implement ${service}:${action}`,
              {},
              requestId,
            );
          }
          const fault = this.#matchFault(service, action, input);
          if (fault !== undefined && fault.afterProcessing !== true)
            throw this.#faultError(fault, requestId);
          this.#throttle(service, action, requestId);
          sync();
          const output = handler(input);
          if (fault?.afterProcessing === true) throw this.#faultError(fault, requestId);
          if (service === "ecs") this.#noteTaskArns(output);
          return {
            // Handlers build fresh objects and freeze shared state, so nothing is copied here.
            ...output,
            $metadata: { httpStatusCode: 200, requestId, attempts: 1, totalRetryDelay: 0 },
          };
        } catch (err) {
          record.error = err instanceof Error ? err.name : String(err);
          throw err;
        }
      },
    };
  }

  /** Notes the task ARNs an ECS answer names: RunTask's and DescribeTasks' tasks, ListTasks'. */
  #noteTaskArns(output: Record<string, unknown>): void {
    const { tasks, taskArns } = output as { tasks?: { taskArn?: string }[]; taskArns?: string[] };
    for (const task of tasks ?? []) {
      if (task.taskArn === undefined) continue;
      this.answeredTaskArns.add(task.taskArn);
      this.describedTaskArns.add(task.taskArn);
    }
    for (const arn of taskArns ?? []) this.answeredTaskArns.add(arn);
  }

  /** Takes tokens from a bucket other than the per-call ones (Fargate task launches). */
  takeTokens(bucket: TokenBucketConfig, n: number): boolean {
    const b = this.#buckets.find((x) => x.config === bucket);
    return b === undefined ? true : b.take(this.clock.now(), n);
  }

  #throttle(service: ServiceName, action: string, requestId: string): void {
    const now = this.clock.now();
    for (const bucket of this.#buckets) {
      if (bucket.config.service !== service || !bucket.config.actions.includes(action)) continue;
      if (!bucket.take(now))
        throw serviceError(
          service === "ec2" ? "RequestLimitExceeded" : "ThrottlingException",
          "Rate exceeded",
          {},
          requestId,
        );
    }
  }

  #matchFault(
    service: ServiceName,
    action: string,
    input: Record<string, unknown>,
  ): FaultRule | undefined {
    const now = this.clock.now();
    for (const entry of this.#faults) {
      const r = entry.rule;
      if (r.service !== undefined && r.service !== service) continue;
      if (
        r.action !== undefined &&
        !(typeof r.action === "string" ? [r.action] : r.action).includes(action)
      )
        continue;
      if (r.from !== undefined && now < r.from) continue;
      if (r.until !== undefined && now >= r.until) continue;
      if (r.times !== undefined && entry.used >= r.times) continue;
      if (r.when !== undefined && !r.when(input)) continue;
      if (r.probability !== undefined && this.random() >= r.probability) continue;
      entry.used++;
      return r;
    }
    return undefined;
  }

  #faultError(rule: FaultRule, requestId: string): Error {
    if (rule.error instanceof Error) return rule.error;
    return serviceError(rule.error, rule.message ?? defaultMessage(rule.error), {}, requestId);
  }
}

function defaultMessage(name: string): string {
  switch (name) {
    case "ThrottlingException":
    case "RequestLimitExceeded":
      return "Rate exceeded";
    case "ServerException":
      return "Service unavailable. Try again later.";
    case "AccessDeniedException":
      return "User is not authorized to perform this action";
    default:
      return name;
  }
}

/** `RunTaskCommand` → `RunTask`. Falls back to the operation schema the SDK attaches. */
export function actionName(command: AwsCommand): string {
  const ctor = (command as { constructor?: { name?: string } }).constructor?.name;
  if (ctor !== undefined && ctor.endsWith("Command") && ctor !== "Command")
    return ctor.slice(0, -"Command".length);
  const schema = (command as { schema?: unknown }).schema;
  if (Array.isArray(schema) && typeof schema[2] === "string") return schema[2];
  throw new SimulatedServiceError(
    "UnknownOperationException",
    "cannot tell which API action this command is",
    400,
    "sim",
  );
}
