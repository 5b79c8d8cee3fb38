/**
 * Register-or-reuse (DESIGN 3.7). A template is compared with the latest ACTIVE revision of its
 * family; when they mean the same, that revision is reused, otherwise a new one is registered.
 * Results are cached by content for the life of the registry, so a hundred jobs sharing one
 * template cost at most one DescribeTaskDefinition and one RegisterTaskDefinition.
 */
import type {
  DescribeTaskDefinitionCommandOutput,
  RegisterTaskDefinitionCommandOutput,
  TaskDefinition,
} from "@aws-sdk/client-ecs";
import { ecsSdk } from "../aws/sdk.js";
import {
  actionOf,
  awsErrorMessage,
  awsErrorName,
  commonSetupError,
  classifyAwsError,
  sendFor,
  withRetries,
  type AwsClient,
  type AwsCommand,
} from "../aws.js";
import { systemClock, type Clock } from "../clock.js";
import { EcsBatchSetupError } from "../errors.js";
import { silentLogger, type Logger } from "../logger.js";
import type { TaskDefinitionTemplate } from "./loader.js";
import { canonicalJson, normalizeTaskDefinition, sameTaskDefinition } from "./normalize.js";

/** A task definition ready to run. */
export interface ResolvedTaskDefinition {
  readonly taskDefinitionArn: string;
  /** `reused`: an equal ACTIVE revision existed; `registered`: a new revision; `described`: given by ARN. */
  readonly action: "reused" | "registered" | "described";
  /** The definition as ECS holds it (container names, essential flags, log configuration). */
  readonly definition: TaskDefinition;
}

/** What `plan` found, without registering anything. */
export type TaskDefinitionPlan =
  | { readonly action: "reuse"; readonly resolved: ResolvedTaskDefinition }
  | { readonly action: "register"; readonly input: TaskDefinitionTemplate };

/**
 * Registers or reuses task definitions, with an in-process cache. Throttled and transiently
 * failing calls are sent again, up to 4 times with backoff on `clock` (the runner's clients do
 * not retry on their own).
 */
export class TaskDefinitionRegistry {
  readonly #ecs: AwsClient;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #random: (() => number) | undefined;
  readonly #byContent = new Map<string, Promise<ResolvedTaskDefinition>>();
  readonly #byReference = new Map<string, Promise<ResolvedTaskDefinition>>();

  /** @param random spreads the waits between retries of throttled calls (see `withRetries`) */
  constructor(
    ecs: AwsClient,
    logger: Logger = silentLogger,
    clock: Clock = systemClock,
    random?: () => number,
  ) {
    this.#ecs = ecs;
    this.#logger = logger;
    this.#clock = clock;
    this.#random = random;
  }

  /** Reuses the latest ACTIVE revision of the template's family when equal, else registers one. */
  resolveTemplate(template: TaskDefinitionTemplate): Promise<ResolvedTaskDefinition> {
    const key = canonicalJson(normalizeTaskDefinition(template));
    return this.#cached(this.#byContent, key, async () => {
      const latest = await this.#describeLatest(template.family as string);
      if (latest !== undefined && sameTaskDefinition(latest, template)) {
        this.#logger.debug("reusing task definition", {
          taskDefinitionArn: latest.taskDefinitionArn,
        });
        return {
          taskDefinitionArn: latest.taskDefinitionArn as string,
          action: "reused",
          definition: latest,
        };
      }
      const { definition, reused } = await this.#register(template);
      this.#logger.info(reused ? "reusing task definition" : "registered task definition", {
        taskDefinitionArn: definition.taskDefinitionArn,
      });
      return {
        taskDefinitionArn: definition.taskDefinitionArn as string,
        action: reused ? "reused" : "registered",
        definition,
      };
    });
  }

  /** Like `resolveTemplate`, but never registers: says what would happen. */
  async planTemplate(template: TaskDefinitionTemplate): Promise<TaskDefinitionPlan> {
    const key = canonicalJson(normalizeTaskDefinition(template));
    const known = this.#byContent.get(key);
    if (known !== undefined) return { action: "reuse", resolved: await known };
    const latest = await this.#describeLatest(template.family as string);
    if (latest !== undefined && sameTaskDefinition(latest, template)) {
      return {
        action: "reuse",
        resolved: {
          taskDefinitionArn: latest.taskDefinitionArn as string,
          action: "reused",
          definition: latest,
        },
      };
    }
    return { action: "register", input: template };
  }

  /** Describes an existing definition (ARN or `family[:revision]`) once; it must be ACTIVE. */
  describe(reference: string): Promise<ResolvedTaskDefinition> {
    return this.#cached(this.#byReference, reference, async () => {
      let out: DescribeTaskDefinitionCommandOutput;
      try {
        out = await this.#send<DescribeTaskDefinitionCommandOutput>(
          new (ecsSdk().DescribeTaskDefinitionCommand)({ taskDefinition: reference }),
        );
      } catch (err) {
        throw describeError(err, reference);
      }
      const def = out.taskDefinition;
      if (def?.taskDefinitionArn === undefined) {
        throw new EcsBatchSetupError(
          "TASK_DEFINITION_NOT_FOUND",
          `task definition "${reference}" was not found; check taskDefinition.arn and the region`,
        );
      }
      if (def.status !== undefined && def.status !== "ACTIVE") {
        throw new EcsBatchSetupError(
          "TASK_DEFINITION_NOT_FOUND",
          `task definition ${def.taskDefinitionArn} is ${def.status}; ECS runs new tasks only from ACTIVE revisions, so register it again or use another revision`,
        );
      }
      return { taskDefinitionArn: def.taskDefinitionArn, action: "described", definition: def };
    });
  }

  /** Forgets every cached result (for example after deregistering definitions by hand). */
  clear(): void {
    this.#byContent.clear();
    this.#byReference.clear();
  }

  async #describeLatest(family: string): Promise<TaskDefinition | undefined> {
    try {
      const out = await this.#send<DescribeTaskDefinitionCommandOutput>(
        new (ecsSdk().DescribeTaskDefinitionCommand)({ taskDefinition: family }),
      );
      return out.taskDefinition?.status === "ACTIVE" || out.taskDefinition?.status === undefined
        ? out.taskDefinition
        : undefined;
    } catch (err) {
      // A family with no ACTIVE revision is reported as a ClientException: register the first one.
      if (isNotFound(err)) return undefined;
      throw describeError(err, family);
    }
  }

  /**
   * Registers the template. Before each resend of a throttled or failed call, the family's
   * latest revision is read again: runner processes that start together all register the same
   * template, and the first one through leaves nothing for the others to register.
   */
  async #register(
    template: TaskDefinitionTemplate,
  ): Promise<{ definition: TaskDefinition; reused: boolean }> {
    const family = template.family as string;
    try {
      return await this.#retried("RegisterTaskDefinition", async (attempt) => {
        if (attempt > 1) {
          const latest = await this.#describeLatest(family).catch(() => undefined);
          if (latest !== undefined && sameTaskDefinition(latest, template)) {
            return { definition: latest, reused: true };
          }
        }
        const out = await sendFor<RegisterTaskDefinitionCommandOutput>(
          this.#ecs,
          new (ecsSdk().RegisterTaskDefinitionCommand)(template),
        );
        if (out.taskDefinition?.taskDefinitionArn === undefined) {
          throw new Error("RegisterTaskDefinition returned no task definition");
        }
        return { definition: out.taskDefinition, reused: false };
      });
    } catch (err) {
      const common = commonSetupError("RegisterTaskDefinition", err);
      if (common !== undefined) throw common;
      if (classifyAwsError(err) === "accessDenied") {
        throw new EcsBatchSetupError(
          "ACCESS_DENIED",
          `RegisterTaskDefinition was denied (${awsErrorName(err)}); grant ecs:RegisterTaskDefinition and iam:PassRole for the task's roles, or pass an existing definition as taskDefinition.arn`,
          { cause: err },
        );
      }
      throw new EcsBatchSetupError(
        "TASK_DEFINITION_NOT_REGISTRABLE",
        `RegisterTaskDefinition failed for family "${String(template.family)}": ${awsErrorName(err)}: ${awsErrorMessage(err)}`,
        { cause: err },
      );
    }
  }

  /** One call, sent again after throttling and transient errors (see `withRetries`). */
  #send<T extends object>(command: AwsCommand): Promise<T> {
    return this.#retried(actionOf(command), () => sendFor<T>(this.#ecs, command));
  }

  /** `call` made again after throttling and transient errors, each resend logged as `action`. */
  #retried<T>(action: string, call: (attempt: number) => Promise<T>): Promise<T> {
    return withRetries(call, {
      clock: this.#clock,
      ...(this.#random === undefined ? {} : { random: this.#random }),
      onRetry: (error, attempt, delayMs) =>
        this.#logger.warn(`${action} failed; sending it again`, {
          error: `${awsErrorName(error)}: ${awsErrorMessage(error)}`,
          attempt,
          delayMs,
        }),
    });
  }

  #cached(
    cache: Map<string, Promise<ResolvedTaskDefinition>>,
    key: string,
    load: () => Promise<ResolvedTaskDefinition>,
  ): Promise<ResolvedTaskDefinition> {
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const pending = load();
    cache.set(key, pending);
    // A failure is not cached: the next job tries again.
    pending.catch(() => {
      if (cache.get(key) === pending) cache.delete(key);
    });
    return pending;
  }
}

function isNotFound(err: unknown): boolean {
  const name = awsErrorName(err);
  return (
    name === "ClientException" ||
    name === "ResourceNotFoundException" ||
    (name === "InvalidParameterException" &&
      /not found|unable to describe/i.test(awsErrorMessage(err)))
  );
}

function describeError(err: unknown, reference: string): EcsBatchSetupError {
  const common = commonSetupError("DescribeTaskDefinition", err);
  if (common !== undefined) return common;
  if (classifyAwsError(err) === "accessDenied") {
    return new EcsBatchSetupError(
      "ACCESS_DENIED",
      `DescribeTaskDefinition of "${reference}" was denied (${awsErrorName(err)}); grant ecs:DescribeTaskDefinition`,
      { cause: err },
    );
  }
  if (isNotFound(err)) {
    return new EcsBatchSetupError(
      "TASK_DEFINITION_NOT_FOUND",
      `task definition "${reference}" was not found (${awsErrorMessage(err)}); check taskDefinition.arn and the region`,
      { cause: err },
    );
  }
  return new EcsBatchSetupError(
    "AWS_ERROR",
    `DescribeTaskDefinition of "${reference}" failed: ${awsErrorName(err)}: ${awsErrorMessage(err)}`,
    { cause: err },
  );
}
