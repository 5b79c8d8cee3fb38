/**
 * The job input: one zod schema, defaults included. `BatchJobInput` is what users write;
 * `BatchJob` is what the rest of the library works with (durations in milliseconds, sizes as
 * numbers, environment as name/value lists, every default filled in).
 */
import type { RegisterTaskDefinitionCommandInput } from "@aws-sdk/client-ecs";
import { z } from "zod";
import { ECS_LIMITS } from "../aws/limits.js";
import { EcsBatchValidationError, formatPath, type ValidationIssue } from "../errors.js";
import { INJECTED_VARIABLES, RUNNER_TAG_KEYS } from "../request/naming.js";
import type { RandomSource } from "../clock.js";
import { DURATION_HINT, formatDuration, parseDuration, type Duration } from "./duration.js";
import {
  describeFargateMemory,
  FARGATE_SIZES,
  isValidFargateSize,
  parseCpu,
  parseMemory,
} from "./fargate.js";
import type { TaskFailure } from "../result.js";

/**
 * Documentation of a field, kept next to its schema. `z.toJSONSchema` carries it into the JSON
 * Schema, `scripts/gen-config-docs.ts` turns that into docs/configuration.md, and editors show
 * the description. The `x-` keys say what a JSON Schema cannot: `x-type` for values parsed by a
 * transform (durations, sizes), `x-default` for defaults filled in outside the schema, and
 * `x-constraints` for checks made by refinements. Metadata only: parsing is unchanged.
 */
function doc(
  description: string,
  extra: { type?: string; default?: string; constraints?: readonly string[] } = {},
): { description: string; "x-type"?: string; "x-default"?: string; "x-constraints"?: string[] } {
  return {
    description,
    ...(extra.type === undefined ? {} : { "x-type": extra.type }),
    ...(extra.default === undefined ? {} : { "x-default": extra.default }),
    ...(extra.constraints === undefined ? {} : { "x-constraints": [...extra.constraints] }),
  };
}

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
const STARTED_BY = /^[A-Za-z0-9_/-]+$/;
/** Length of a generated job id (see `generateJobId`), used to bound `startedBy` up front. */
const GENERATED_JOB_ID_LENGTH = 16;

/**
 * The longest duration any field accepts: 365 days. Far beyond any sensible job, and it keeps
 * every duration (and sums of them, such as a deadline) a finite, safe number of milliseconds.
 */
export const MAX_DURATION_MS = 365 * 24 * 3_600_000;

const MAX_DURATION_TEXT = `${formatDuration(MAX_DURATION_MS)} (365 days)`;

function durationField(field: string, defaultValue: Duration, minMs: number) {
  return z
    .union([z.number(), z.string()], {
      error: `${field} must be a duration; ${DURATION_HINT}`,
    })
    .default(defaultValue)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `${JSON.stringify(value)} is not a duration; ${DURATION_HINT}`,
        });
        return z.NEVER;
      }
      // `!(ms <= max)` also refuses NaN and Infinity (a string of 400 digits reads as Infinity).
      if (!(ms <= MAX_DURATION_MS)) {
        ctx.addIssue({
          code: "custom",
          message: `${field} is too long; the maximum is ${MAX_DURATION_TEXT}`,
        });
        return z.NEVER;
      }
      if (ms < minMs) {
        ctx.addIssue({
          code: "custom",
          message: `${JSON.stringify(value)} is too short; the minimum is ${minMs}ms`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .meta({
      "x-type": "duration",
      "x-constraints": [
        ...(minMs > 0 ? [`at least ${formatDuration(minMs)}`] : []),
        `at most ${MAX_DURATION_TEXT}`,
      ],
    });
}

const cpuField = z
  .union([z.number(), z.string()], {
    error: 'cpu must be cpu units such as 1024 or "1024", or "1 vCPU"',
  })
  .transform((value, ctx) => {
    const cpu = parseCpu(value);
    if (cpu === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `${JSON.stringify(value)} is not a cpu size; use cpu units such as 1024 ("1024" or "1 vCPU" also work)`,
      });
      return z.NEVER;
    }
    return cpu;
  });

const memoryField = z
  .union([z.number(), z.string()], {
    error: 'memory must be MiB such as 2048 or "2048", or "2 GB"',
  })
  .transform((value, ctx) => {
    const memory = parseMemory(value);
    if (memory === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `${JSON.stringify(value)} is not a memory size; use MiB such as 2048 ("2048" or "2 GB" also work)`,
      });
      return z.NEVER;
    }
    return memory;
  });

/** A name/value pair as ECS writes environment variables. */
export interface KeyValuePair {
  name: string;
  value: string;
}

const envValue = z.union([z.string(), z.number(), z.boolean()], {
  error: "must be a string (numbers and booleans are converted)",
});

const envName = z
  .string({ error: "must be a non-empty string" })
  .min(1, { error: "must be a non-empty string" })
  .refine((n) => !n.includes("="), { error: 'must not contain "="' });

/**
 * Keys a record cannot carry as given: a JavaScript object drops `__proto__` when it is parsed
 * (the key would set the prototype), and `constructor` names every object's own constructor.
 * Refused with a message rather than lost or misread.
 */
const UNSAFE_RECORD_KEYS = ["__proto__", "constructor"] as const;

/**
 * `schema`, refusing records with an unsafe key. It looks at the raw input because the record
 * schema itself drops `__proto__` before any refinement could see it.
 */
function refusingUnsafeKeys<T extends z.ZodType>(schema: T, what: "variable name" | "tag key") {
  return z.preprocess((value: z.input<T>, ctx) => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
    for (const key of UNSAFE_RECORD_KEYS) {
      if (Object.hasOwn(value, key)) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `"${key}" cannot be a ${what} here: JavaScript objects give it a special meaning, so it would be lost or misread; rename it`,
        });
      }
    }
    return value;
  }, schema);
}

/** Environment as a `{ name, value }[]` list or a `{ NAME: value }` record; always a list after parsing. */
const EnvironmentSchema = z
  .union(
    [z.array(z.strictObject({ name: envName, value: envValue })), z.record(envName, envValue)],
    { error: 'must be a list of { name, value } or a record such as { "LOG_LEVEL": "info" }' },
  )
  .transform((env): KeyValuePair[] =>
    Array.isArray(env)
      ? env.map((e) => ({ name: e.name, value: String(e.value) }))
      : Object.entries(env).map(([name, value]) => ({ name, value: String(value) })),
  )
  .superRefine((env, ctx) => {
    const seen = new Set<string>();
    env.forEach((e, i) => {
      if ((INJECTED_VARIABLES as readonly string[]).includes(e.name)) {
        ctx.addIssue({
          code: "custom",
          path: [i, "name"],
          message: `${e.name} is set by the runner in every container; remove it from the job`,
        });
      }
      if (seen.has(e.name)) {
        ctx.addIssue({
          code: "custom",
          path: [i, "name"],
          message: `${e.name} is given twice; keep one`,
        });
      }
      seen.add(e.name);
    });
  });

const ContainerOverrideSchema = z.strictObject({
  name: z
    .string({ error: "must be the name of a container in the task definition" })
    .min(1, {
      error: "must be the name of a container in the task definition",
    })
    .meta(
      doc("The container this entry overrides, by name.", {
        constraints: [
          "must name a container of the task definition",
          "each container at most once in the list",
        ],
      }),
    ),
  command: z
    .array(z.string({ error: "must be a list of strings" }), { error: "must be a list of strings" })
    .optional()
    .meta(doc("Replaces the container's `command` (its `entryPoint` is kept).")),
  environment: refusingUnsafeKeys(EnvironmentSchema, "variable name")
    .optional()
    .meta(
      doc(
        "Variables merged over the template's by name; numbers and booleans become strings. The runner's injected variables are added last.",
        {
          type: "`{ name, value }[]` or `Record<string, string | number | boolean>`",
          constraints: [
            'names non-empty, without "=", each at most once',
            `not one of ${INJECTED_VARIABLES.join(", ")} (set by the runner)`,
          ],
        },
      ),
    ),
  cpu: z
    .int({ error: "must be a whole number of cpu units" })
    .min(0)
    .optional()
    .meta(doc("Container-level cpu units (RunTask container override).")),
  memory: z
    .int({ error: "must be a whole number of MiB" })
    .positive()
    .optional()
    .meta(doc("Container-level hard memory limit, MiB.")),
  memoryReservation: z
    .int({ error: "must be a whole number of MiB" })
    .positive()
    .optional()
    .meta(doc("Container-level soft memory limit, MiB.")),
});

/**
 * What DescribeTaskDefinition accepts: a full ARN with its revision, or `family[:revision]`.
 * Checked here so a typo fails before any AWS call rather than as a setup error after two.
 */
const TASK_DEFINITION_REFERENCE =
  /^(arn:aws[-a-z]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/[A-Za-z0-9_-]{1,255}:[1-9]\d*|[A-Za-z0-9_-]{1,255}(:[1-9]\d*)?)$/;
const TASK_DEFINITION_REFERENCE_HINT =
  'must be a task definition ARN such as "arn:aws:ecs:us-west-2:123456789012:task-definition/batch-job:3", or family[:revision] such as "batch-job" or "batch-job:3" (family: letters, digits, \'-\' and \'_\'; revision: a whole number from 1)';

/** An IAM role ARN: `arn:aws:iam::<account>:role/<path/><name>`, as RunTask and RegisterTaskDefinition need. */
const ROLE_ARN = /^arn:aws[-a-z]*:iam::\d{12}:role\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
const ROLE_ARN_HINT =
  'must be an IAM role ARN such as "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"';

/** Where the task definition comes from. */
export type TaskDefinitionSourceInput =
  | { path: string }
  | { definition: RegisterTaskDefinitionCommandInput | Record<string, unknown> }
  | { arn: string };

/** The parsed task definition source. */
export type TaskDefinitionSource =
  | { kind: "path"; path: string }
  | { kind: "definition"; definition: Record<string, unknown> }
  | { kind: "arn"; arn: string };

const TaskDefinitionSourceSchema = z
  .strictObject(
    {
      path: z
        .string({ error: "must be the path of a JSON task definition file" })
        .min(1)
        .optional()
        .meta(
          doc(
            "A JSON task definition file: RegisterTaskDefinition input, or the output of `aws ecs describe-task-definition`. Relative paths resolve against the runner's `baseDir`.",
          ),
        ),
      definition: z
        .record(z.string(), z.unknown(), { error: "must be a task definition object" })
        .optional()
        .meta(
          doc("A task definition object, in the same shape as the file.", {
            type: "task definition object",
          }),
        ),
      arn: z
        .string({ error: TASK_DEFINITION_REFERENCE_HINT })
        .regex(TASK_DEFINITION_REFERENCE, { error: TASK_DEFINITION_REFERENCE_HINT })
        .optional()
        .meta(
          doc(
            "An existing, ACTIVE task definition: its ARN or `family[:revision]` (no revision: the latest). Used as registered; the job's cpu, memory and roles go into the RunTask overrides.",
          ),
        ),
    },
    { error: "must be { path }, { definition } or { arn }" },
  )
  .transform((src, ctx): TaskDefinitionSource => {
    const given = (["path", "definition", "arn"] as const).filter((k) => src[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message:
          given.length === 0
            ? "give one of { path: 'task-definition.json' }, { definition: {...} } or { arn: 'family:revision' }"
            : `give only one of path, definition or arn (got ${given.join(" and ")})`,
      });
      return z.NEVER;
    }
    if (src.path !== undefined) return { kind: "path", path: src.path };
    if (src.definition !== undefined) return { kind: "definition", definition: src.definition };
    return { kind: "arn", arn: src.arn as string };
  }) as unknown as z.ZodType<TaskDefinitionSource, TaskDefinitionSourceInput>;

/** awsvpc network settings: explicit subnets, or a VPC (default VPC when empty) to infer them from. */
export type NetworkInput =
  | { subnets: string[]; securityGroups?: string[]; assignPublicIp?: "ENABLED" | "DISABLED" }
  | { vpcId?: string };

/** The parsed network settings. */
export type NetworkConfig =
  | {
      kind: "explicit";
      subnets: string[];
      securityGroups: string[];
      assignPublicIp: "ENABLED" | "DISABLED";
    }
  | { kind: "infer"; vpcId?: string };

const NetworkSchema = z
  .strictObject(
    {
      subnets: z
        .array(
          z.string().regex(/^subnet-[0-9a-zA-Z]+$/, {
            error: 'must be a subnet id such as "subnet-0abc1234"',
          }),
          { error: "must be a list of subnet ids" },
        )
        .min(1, { error: "needs at least one subnet id" })
        .max(ECS_LIMITS.maxSubnets, {
          error: `ECS accepts at most ${ECS_LIMITS.maxSubnets} subnets`,
        })
        .optional()
        .meta(
          doc("Subnets for the tasks' network interfaces, used as given.", {
            constraints: ["not together with `vpcId`"],
          }),
        ),
      securityGroups: z
        .array(
          z.string().regex(/^sg-[0-9a-zA-Z]+$/, {
            error: 'must be a security group id such as "sg-0abc1234"',
          }),
          { error: "must be a list of security group ids" },
        )
        .max(ECS_LIMITS.maxSecurityGroups, {
          error: `ECS accepts at most ${ECS_LIMITS.maxSecurityGroups} security groups`,
        })
        .optional()
        .meta(
          doc("Security groups; none given: ECS uses the VPC's default security group.", {
            default: "`[]`",
            constraints: ["needs `subnets`"],
          }),
        ),
      assignPublicIp: z
        .enum(["ENABLED", "DISABLED"], { error: 'must be "ENABLED" or "DISABLED"' })
        .optional()
        .meta(
          doc(
            "Whether tasks get a public IP. A Fargate task in a public subnet needs one to pull images from the internet.",
            { default: '`"DISABLED"`', constraints: ["needs `subnets`"] },
          ),
        ),
      vpcId: z
        .string()
        .regex(/^vpc-[0-9a-zA-Z]+$/, { error: 'must be a VPC id such as "vpc-0abc1234"' })
        .optional()
        .meta(
          doc(
            "Infer the network from this VPC instead of the default VPC: all its subnets, its `default` security group, `assignPublicIp: ENABLED`.",
          ),
        ),
    },
    { error: "must be { subnets, securityGroups?, assignPublicIp? } or { vpcId? }" },
  )
  .transform((n, ctx): NetworkConfig => {
    if (n.subnets !== undefined) {
      if (n.vpcId !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["vpcId"],
          message: "give subnets (used as given) or vpcId (subnets inferred), not both",
        });
        return z.NEVER;
      }
      return {
        kind: "explicit",
        subnets: n.subnets,
        securityGroups: n.securityGroups ?? [],
        assignPublicIp: n.assignPublicIp ?? "DISABLED",
      };
    }
    for (const key of ["securityGroups", "assignPublicIp"] as const) {
      if (n[key] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `${key} needs subnets; give subnets too, or drop ${key} to infer the network`,
        });
        return z.NEVER;
      }
    }
    return n.vpcId === undefined ? { kind: "infer" } : { kind: "infer", vpcId: n.vpcId };
  }) as unknown as z.ZodType<NetworkConfig, NetworkInput>;

const TagsSchema = z
  .record(
    z
      .string()
      .min(1, { error: "tag keys must not be empty" })
      .max(ECS_LIMITS.tagKeyMaxLength, {
        error: `tag keys are at most ${ECS_LIMITS.tagKeyMaxLength} characters`,
      }),
    z.string({ error: "tag values must be strings" }).max(ECS_LIMITS.tagValueMaxLength, {
      error: `tag values are at most ${ECS_LIMITS.tagValueMaxLength} characters`,
    }),
    { error: 'must be a record of strings such as { "team": "data" }' },
  )
  .superRefine((tags, ctx) => {
    const keys = Object.keys(tags);
    const max = ECS_LIMITS.maxTags - Object.keys(RUNNER_TAG_KEYS).length;
    if (keys.length > max) {
      ctx.addIssue({
        code: "custom",
        message: `ECS allows ${ECS_LIMITS.maxTags} tags per task and the runner adds ${Object.keys(RUNNER_TAG_KEYS).length}; give at most ${max}`,
      });
    }
    for (const key of keys) {
      if (/^aws:/i.test(key)) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: 'the "aws:" prefix is reserved by AWS; rename the tag',
        });
      } else if (key.startsWith("ecs-batch:")) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: 'the "ecs-batch:" prefix is reserved for the runner\'s own tags; rename the tag',
        });
      }
    }
  });

/** One RFC 6902 operation, applied to every RunTask input. */
export type PatchOperation =
  | { op: "add" | "replace" | "test"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; from: string; path: string };

const pointer = z
  .string({ error: 'must be a JSON pointer such as "/overrides/cpu"' })
  .refine((p) => p === "" || p.startsWith("/"), {
    error: 'must be a JSON pointer such as "/overrides/cpu"',
  });

const PatchOperationSchema = z.discriminatedUnion(
  "op",
  [
    z
      .strictObject({ op: z.enum(["add", "replace", "test"]), path: pointer, value: z.unknown() })
      .refine((o) => "value" in o, { error: "needs a value", path: ["value"] }),
    z.strictObject({ op: z.literal("remove"), path: pointer }),
    z.strictObject({ op: z.enum(["move", "copy"]), from: pointer, path: pointer }),
  ],
  {
    error:
      'must be an RFC 6902 operation: op is one of "add", "remove", "replace", "move", "copy", "test"',
  },
) as unknown as z.ZodType<PatchOperation, PatchOperation>;

/** Decides whether a failed attempt may be retried; return `false` to veto a retry. */
export type ShouldRetry = (
  failure: TaskFailure,
  context: { taskIndex: number; attempt: number },
) => boolean;

const RetrySchema = z
  .strictObject({
    maxLaunchRetries: z
      .int({ error: "must be a whole number ≥ 0" })
      .min(0)
      .max(1000)
      .default(5)
      .meta(
        doc(
          "Retries per task slot after `launch` and `interrupted` failures (RunTask `failures[]`, Spot reclaims), counted apart from `maxFailCount`.",
        ),
      ),
    backoff: z
      .strictObject({
        initial: durationField("retry.backoff.initial", "1s", 0).meta(
          doc("Upper bound of the wait before the first retry of a slot."),
        ),
        max: durationField("retry.backoff.max", "1m", 0).meta(
          doc("The upper bound never grows past this."),
        ),
        factor: z
          .number({ error: "must be a number ≥ 1" })
          .min(1, { error: "must be ≥ 1" })
          .default(2)
          .meta(doc("The upper bound is multiplied by this for each further attempt.")),
      })
      .prefault({})
      .refine((b) => b.initial <= b.max, {
        error: "initial must not exceed max; raise max or lower initial",
        path: ["initial"],
      })
      .meta(
        doc(
          "Wait before a retry: a uniform draw from [0, min(max, initial × factor^(attempt − 1))], where attempt is the number of the attempt that failed (full jitter).",
          { default: "each field's default", constraints: ["`initial` ≤ `max`"] },
        ),
      ),
    shouldRetry: z
      .custom<ShouldRetry>((v) => typeof v === "function", {
        error: "must be a function (failure, { taskIndex, attempt }) => boolean",
      })
      .optional()
      .meta(
        doc(
          "Asked after the retry policy allowed a retry; returning `false` vetoes it, which exhausts the slot and fails the job. A throw counts as a veto. Not serialisable: code only.",
          { type: "`(failure, { taskIndex, attempt }) => boolean`" },
        ),
      ),
  })
  .prefault({});

const LogsSchema = z
  .strictObject({
    fetch: z
      .enum(["representative", "all", "none"], {
        error: 'must be "representative", "all" or "none"',
      })
      .default("representative")
      .meta(
        doc(
          "Which logs go into the result: the representative task's (`result.logs`), also every task's last attempt (`result.taskLogs`), or none.",
        ),
      ),
    follow: z
      .boolean({ error: "must be true or false" })
      .default(false)
      .meta(doc("Emit a `log` event for each log line while tasks run (FilterLogEvents).")),
    maxBytes: z
      .int({ error: "must be a whole number of bytes" })
      .positive()
      .default(10 * 1024 * 1024)
      .meta(
        doc(
          "Message bytes read per task, all its containers together; the rest is replaced by a truncation line.",
          { default: "`10485760` (10 MiB)" },
        ),
      ),
    tailLines: z
      .int({ error: "must be a whole number ≥ 0" })
      .min(0)
      .max(10_000)
      .default(20)
      .meta(
        doc(
          "Last lines of the deciding container's log attached to each failure of a task that started, as `failure.logTail`; 0 turns it off.",
        ),
      ),
  })
  .prefault({});

const BatchJobObject = z.strictObject({
  jobId: z
    .string({ error: "must be a string" })
    .regex(JOB_ID, { error: "must be 1-64 letters, digits, '-' or '_'" })
    .optional()
    .meta(
      doc(
        "Names the job in task names, tags, RunTask client tokens and events. Client tokens stay valid for 24 hours per cluster, so do not reuse a job id on one cluster within a day.",
        { default: `${GENERATED_JOB_ID_LENGTH} random lowercase letters and digits` },
      ),
    ),
  cluster: z
    .string({ error: "must be a cluster name or ARN" })
    .regex(
      /^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]{1,255})$/,
      {
        error: "must be a cluster name (letters, digits, '-', '_') or a cluster ARN",
      },
    )
    .default("default")
    .meta(doc("The ECS cluster, by name or ARN.")),
  taskDefinition: TaskDefinitionSourceSchema.meta(
    doc(
      "Where the task definition comes from. A template (`path`, `definition`) is registered, unless the latest ACTIVE revision of its family is equal to it, which is then reused. See [`taskDefinition`](#taskdefinition).",
      {
        type: "`{ path }` | `{ definition }` | `{ arn }`",
        constraints: ["exactly one of `path`, `definition`, `arn`"],
      },
    ),
  ),
  taskCount: z
    .int({ error: "must be a whole number ≥ 1" })
    .min(1, { error: "must be at least 1" })
    .max(100_000)
    .default(1)
    .meta(doc("Task slots, run in parallel. Slot i is named `<taskNamePrefix>-<jobId>-<i>`.")),
  cpu: cpuField.optional().meta(
    doc(
      "Task-level cpu. Replaces the template's; with `{ arn }` it goes into the RunTask overrides.",
      {
        type: '`number` | `string`: cpu units (`1024`, `"1024"`) or vCPUs (`"1 vCPU"`)',
        default: "the template's",
        constraints: [`Fargate: one of ${[...FARGATE_SIZES.keys()].join(", ")}`],
      },
    ),
  ),
  memory: memoryField.optional().meta(
    doc(
      "Task-level memory. Replaces the template's; with `{ arn }` it goes into the RunTask overrides.",
      {
        type: '`number` | `string`: MiB (`2048`, `"2048"`) or GB (`"2 GB"`)',
        default: "the template's",
        constraints: ["Fargate: a valid pair with cpu (see [Fargate sizes](#fargate-sizes))"],
      },
    ),
  ),
  containerOverrides: z
    .array(ContainerOverrideSchema, { error: "must be a list of { name, ... }" })
    .default([])
    .meta(
      doc(
        "Changes to containers, matched by container name: see [`containerOverrides[]`](#containeroverrides).",
        {
          constraints: [
            `RunTask overrides (with the injected variables) at most ${ECS_LIMITS.overridesMaxLength} characters`,
          ],
        },
      ),
    ),
  launchType: z
    .enum(["FARGATE", "FARGATE_SPOT", "EC2"], {
      error: 'must be "FARGATE", "FARGATE_SPOT" or "EC2"',
    })
    .default("FARGATE")
    .meta(
      doc(
        '`FARGATE_SPOT` is sent as the capacity provider strategy `[{ capacityProvider: "FARGATE_SPOT", weight: 1 }]`. With either Fargate type a template gets `requiresCompatibilities: ["FARGATE"]` and `networkMode: "awsvpc"`.',
      ),
    ),
  platformVersion: z
    .string()
    .min(1)
    .optional()
    .meta(doc("RunTask `platformVersion`, such as `1.4.0`.", { default: "ECS's (`LATEST`)" })),
  network: NetworkSchema.optional().meta(
    doc(
      "The awsvpc network: explicit subnets, or a VPC to infer them from. Ignored when the definition's `networkMode` is not `awsvpc`. See [`network`](#network).",
      {
        type: "`{ subnets, securityGroups?, assignPublicIp? }` | `{ vpcId? }`",
        default: "inferred from the default VPC",
      },
    ),
  ),
  executionRoleArn: z
    .string({ error: ROLE_ARN_HINT })
    .regex(ROLE_ARN, { error: ROLE_ARN_HINT })
    .optional()
    .meta(
      doc(
        "Role ECS uses to pull the image and write logs. Replaces the template's; with `{ arn }` it goes into the RunTask overrides.",
        { default: "the template's" },
      ),
    ),
  taskRoleArn: z
    .string({ error: ROLE_ARN_HINT })
    .regex(ROLE_ARN, { error: ROLE_ARN_HINT })
    .optional()
    .meta(
      doc(
        "Role the containers run as. Replaces the template's; with `{ arn }` it goes into the RunTask overrides.",
        { default: "the template's" },
      ),
    ),
  // `prefault`: a default on a schema with a transform (here the key check) is left out of the
  // input JSON Schema, and so out of the docs; a prefault is kept, and gives the same `{}`.
  tags: refusingUnsafeKeys(TagsSchema, "tag key")
    .prefault({})
    .meta(
      doc(
        `ECS tags added to every task, next to the runner's own ${Object.values(RUNNER_TAG_KEYS)
          .map((k) => `\`${k}\``)
          .join(", ")}.`,
        {
          constraints: [
            `at most ${ECS_LIMITS.maxTags - Object.keys(RUNNER_TAG_KEYS).length} tags`,
            'no key starting with "aws:" or "ecs-batch:"',
          ],
        },
      ),
    ),
  taskCustomizations: z
    .array(PatchOperationSchema, { error: "must be a list of RFC 6902 operations" })
    .default([])
    .meta(
      doc(
        "RFC 6902 operations (`add`, `remove`, `replace`, `move`, `copy`, `test`) applied, in order, to every RunTask input after it is built: the way to set RunTask fields this schema does not model. `runner.preview(job)` shows the input they apply to.",
        {
          type: "RFC 6902 operation[]",
          constraints: [
            "every operation must apply to the first task's RunTask input (checked before any launch)",
          ],
        },
      ),
    ),
  pollInterval: durationField("pollInterval", "30s", 100).meta(
    doc("How often each running task is described (DescribeTasks)."),
  ),
  timeout: durationField("timeout", "1h", 1).meta(
    doc(
      "Time limit of the whole job, counted from `run()` or `submit()`. When it passes every unfinished task is stopped and the job ends `timedOut`.",
    ),
  ),
  maxFailCount: z
    .int({ error: "must be a whole number ≥ 0 (retries per task)" })
    .min(0)
    .max(1000)
    .default(1)
    .meta(
      doc(
        "Retries per task slot after `exit`, `start`, `stopped` and `missing` failures. With 3 a slot runs at most 4 times for these; 0 means no retry.",
      ),
    ),
  retry: RetrySchema.meta(
    doc("The launch-failure budget, backoff and veto: see [`retry`](#retry).", {
      default: "each field's default",
    }),
  ),
  taskNamePrefix: z
    .string()
    .min(1)
    .regex(STARTED_BY, {
      error: "must use only letters, digits, '-', '_' and '/' (it becomes RunTask startedBy)",
    })
    .default("ecs-batch")
    .meta(
      doc(
        "First part of every task name, which is the RunTask `startedBy` and the `TASK_NAME` variable.",
        {
          constraints: [
            `task names (\`<taskNamePrefix>-<jobId>-<index>\`) at most ${ECS_LIMITS.startedByMaxLength} characters (a generated jobId counts ${GENERATED_JOB_ID_LENGTH})`,
          ],
        },
      ),
    ),
  logs: LogsSchema.meta(
    doc("What happens to the tasks' CloudWatch logs: see [`logs`](#logs).", {
      default: "each field's default",
    }),
  ),
});

/**
 * The schema of a batch job (DESIGN 2.1): `BatchJobInput` is its input type, `BatchJob` its
 * output. Parse with `parseJob` to get our validation error rather than zod's.
 */
export const BatchJobSchema = BatchJobObject.superRefine((job, ctx) => {
  const jobIdLength = job.jobId?.length ?? GENERATED_JOB_ID_LENGTH;
  const longest =
    job.taskNamePrefix.length + 1 + jobIdLength + 1 + String(job.taskCount - 1).length;
  if (longest > ECS_LIMITS.startedByMaxLength) {
    ctx.addIssue({
      code: "custom",
      path: ["taskNamePrefix"],
      message: `task names (${job.taskNamePrefix}-<jobId>-<index>) would be ${longest} characters; ECS startedBy allows ${ECS_LIMITS.startedByMaxLength}; shorten taskNamePrefix or jobId`,
    });
  }
  const names = new Map<string, number>();
  job.containerOverrides.forEach((o, i) => {
    const first = names.get(o.name);
    if (first !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["containerOverrides", i, "name"],
        message: `container "${o.name}" is already overridden at containerOverrides[${first}]; merge the two entries`,
      });
    } else names.set(o.name, i);
  });
  if (job.launchType !== "EC2") {
    if (job.cpu !== undefined && !FARGATE_SIZES.has(job.cpu)) {
      ctx.addIssue({
        code: "custom",
        path: ["cpu"],
        message: `${job.cpu} is not a Fargate cpu size; use one of ${[...FARGATE_SIZES.keys()].join(", ")}`,
      });
    } else if (
      job.cpu !== undefined &&
      job.memory !== undefined &&
      !isValidFargateSize(job.cpu, job.memory)
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["memory"],
        message: `${job.memory} MiB is not valid on Fargate: ${describeFargateMemory(job.cpu)}`,
      });
    }
  }
});

/** What users write, the input of `BatchJobSchema`: every field optional except `taskDefinition`. */
export type BatchJobInput = z.input<typeof BatchJobSchema>;

/** A parsed job: defaults filled in, durations in milliseconds, and a job id. */
export type BatchJob = Omit<z.output<typeof BatchJobSchema>, "jobId"> & { jobId: string };

/** The container override of a parsed job. */
export type ContainerOverrideConfig = BatchJob["containerOverrides"][number];

/** The retry settings of a parsed job. */
export type RetryConfig = BatchJob["retry"];

/** The log settings of a parsed job. */
export type LogsConfig = BatchJob["logs"];

/**
 * The job input under the contract's name (DESIGN 2.1): the schema, as `BatchJobInput.parse()`
 * and `.safeParse()`, and, as a type, what it accepts. One thing, the job input, in the usual
 * zod pattern; `BatchJobSchema` is the same schema.
 */
export const BatchJobInput = BatchJobSchema;

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** A fresh job id: 16 lowercase letters and digits from `random`. */
export function generateJobId(random: RandomSource): string {
  let id = "";
  for (let i = 0; i < GENERATED_JOB_ID_LENGTH; i++) {
    id += ID_ALPHABET.charAt(Math.floor(random() * ID_ALPHABET.length) % ID_ALPHABET.length);
  }
  return id;
}

/**
 * Validates a job and fills in defaults. Throws `EcsBatchValidationError` naming every
 * offending field; never calls AWS.
 */
export function parseJob(input: unknown, options: { random?: RandomSource } = {}): BatchJob {
  const parsed = BatchJobSchema.safeParse(input);
  if (!parsed.success) throw new EcsBatchValidationError(issuesFromZod(parsed.error.issues, input));
  const job = parsed.data;
  return { ...job, jobId: job.jobId ?? generateJobId(options.random ?? Math.random) };
}

const KNOWN_FIELDS = Object.keys(BatchJobObject.shape);

/** Turns zod issues into our issues: field path plus a message that says how to fix it. */
export function issuesFromZod(
  issues: readonly z.core.$ZodIssue[],
  input?: unknown,
): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of issues) {
    const path = formatPath(issue.path);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const suggestion = issue.path.length === 0 ? suggestField(key) : undefined;
        out.push({
          path: formatPath([...issue.path, key]),
          message: `unknown field${suggestion === undefined ? "; check the spelling" : `; did you mean "${suggestion}"?`}`,
        });
      }
      continue;
    }
    if (issue.code === "invalid_type" && valueAt(input, issue.path) === undefined) {
      out.push({ path, message: "is required" });
      continue;
    }
    out.push({ path, message: issue.message });
  }
  return out;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** Suggests a known field for a misspelt or snake_case one (`max_fail_count` → `maxFailCount`). */
function suggestField(key: string): string | undefined {
  const camel = key.replace(/[_-]([a-z])/g, (_, c: string) => c.toUpperCase());
  const lower = (s: string): string => s.toLowerCase().replace(/[_-]/g, "");
  const byCase = KNOWN_FIELDS.find((f) => lower(f) === lower(camel));
  if (byCase !== undefined) return byCase;
  if (key === "polling_interval") return "pollInterval";
  let best: string | undefined;
  let bestDistance = 3;
  for (const f of KNOWN_FIELDS) {
    const d = editDistance(lower(f), lower(key));
    if (d < bestDistance) {
      best = f;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] ?? 0;
      prev[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (prev[j - 1] ?? 0) + 1,
        diag + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      diag = tmp;
    }
  }
  return prev[b.length] ?? 0;
}
