/**
 * The job input: one zod schema, defaults included. `BatchJobInput` is what users write;
 * `BatchJob` is what the rest of the library works with (durations in milliseconds, sizes as
 * numbers, environment as name/value lists, every default filled in).
 */
import type { RegisterTaskDefinitionCommandInput } from "@aws-sdk/client-ecs";
import { z } from "zod";
import { EcsBatchValidationError, formatPath, type ValidationIssue } from "../errors.js";
import type { RandomSource } from "../clock.js";
import { DURATION_HINT, parseDuration, type Duration } from "./duration.js";
import {
  describeFargateMemory,
  FARGATE_SIZES,
  isValidFargateSize,
  parseCpu,
  parseMemory,
} from "./fargate.js";
import type { TaskFailure } from "../execution/types.js";

/** Limits ECS enforces, checked up front so a job that would be refused launches nothing. */
export const ECS_LIMITS = {
  /** RunTask `startedBy`. */
  startedByMaxLength: 128,
  /** RunTask `overrides`, serialised. */
  overridesMaxLength: 8192,
  /** Tags per task, including the three this library adds. */
  maxTags: 50,
  tagKeyMaxLength: 128,
  tagValueMaxLength: 256,
  /** RunTask `clientToken`. */
  clientTokenMaxLength: 64,
  /** StopTask `reason`. */
  stopReasonMaxLength: 255,
  /** awsvpcConfiguration. */
  maxSubnets: 16,
  maxSecurityGroups: 5,
} as const;

/** Environment variables the runner sets in every container; the last word on their values. */
export const INJECTED_VARIABLES = ["TASK_NAME", "TASK_NUM", "TASK_COUNT", "TASK_ATTEMPT"] as const;

/** Tag keys the runner adds to every task. */
export const RUNNER_TAG_KEYS = {
  jobId: "ecs-batch:job-id",
  taskIndex: "ecs-batch:task-index",
  attempt: "ecs-batch:attempt",
} as const;

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
const STARTED_BY = /^[A-Za-z0-9_/-]+$/;
/** Length of a generated job id (see `generateJobId`), used to bound `startedBy` up front. */
const GENERATED_JOB_ID_LENGTH = 16;

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
      if (ms < minMs) {
        ctx.addIssue({
          code: "custom",
          message: `${JSON.stringify(value)} is too short; the minimum is ${minMs}ms`,
        });
        return z.NEVER;
      }
      return ms;
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
  name: z.string({ error: "must be the name of a container in the task definition" }).min(1, {
    error: "must be the name of a container in the task definition",
  }),
  command: z
    .array(z.string({ error: "must be a list of strings" }), { error: "must be a list of strings" })
    .optional(),
  environment: EnvironmentSchema.optional(),
  cpu: z.int({ error: "must be a whole number of cpu units" }).min(0).optional(),
  memory: z.int({ error: "must be a whole number of MiB" }).positive().optional(),
  memoryReservation: z.int({ error: "must be a whole number of MiB" }).positive().optional(),
});

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
        .optional(),
      definition: z
        .record(z.string(), z.unknown(), { error: "must be a task definition object" })
        .optional(),
      arn: z
        .string({ error: "must be a task definition ARN or family[:revision]" })
        .min(1)
        .optional(),
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
        .optional(),
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
        .optional(),
      assignPublicIp: z
        .enum(["ENABLED", "DISABLED"], { error: 'must be "ENABLED" or "DISABLED"' })
        .optional(),
      vpcId: z
        .string()
        .regex(/^vpc-[0-9a-zA-Z]+$/, { error: 'must be a VPC id such as "vpc-0abc1234"' })
        .optional(),
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
        message: `ECS allows ${ECS_LIMITS.maxTags} tags per task and the runner adds 3; give at most ${max}`,
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
    maxLaunchRetries: z.int({ error: "must be a whole number ≥ 0" }).min(0).max(1000).default(5),
    backoff: z
      .strictObject({
        initial: durationField("retry.backoff.initial", "1s", 0),
        max: durationField("retry.backoff.max", "1m", 0),
        factor: z
          .number({ error: "must be a number ≥ 1" })
          .min(1, { error: "must be ≥ 1" })
          .default(2),
      })
      .prefault({})
      .refine((b) => b.initial <= b.max, {
        error: "initial must not exceed max; raise max or lower initial",
        path: ["initial"],
      }),
    shouldRetry: z
      .custom<ShouldRetry>((v) => typeof v === "function", {
        error: "must be a function (failure, { taskIndex, attempt }) => boolean",
      })
      .optional(),
  })
  .prefault({});

const LogsSchema = z
  .strictObject({
    fetch: z
      .enum(["representative", "all", "none"], {
        error: 'must be "representative", "all" or "none"',
      })
      .default("representative"),
    follow: z.boolean({ error: "must be true or false" }).default(false),
    maxBytes: z
      .int({ error: "must be a whole number of bytes" })
      .positive()
      .default(10 * 1024 * 1024),
    tailLines: z.int({ error: "must be a whole number ≥ 0" }).min(0).max(10_000).default(20),
  })
  .prefault({});

const BatchJobObject = z.strictObject({
  jobId: z
    .string({ error: "must be a string" })
    .regex(JOB_ID, { error: "must be 1-64 letters, digits, '-' or '_'" })
    .optional(),
  cluster: z
    .string({ error: "must be a cluster name or ARN" })
    .regex(
      /^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]{1,255})$/,
      {
        error: "must be a cluster name (letters, digits, '-', '_') or a cluster ARN",
      },
    )
    .default("default"),
  taskDefinition: TaskDefinitionSourceSchema,
  taskCount: z
    .int({ error: "must be a whole number ≥ 1" })
    .min(1, { error: "must be at least 1" })
    .max(100_000)
    .default(1),
  cpu: cpuField.optional(),
  memory: memoryField.optional(),
  containerOverrides: z
    .array(ContainerOverrideSchema, { error: "must be a list of { name, ... }" })
    .default([]),
  launchType: z
    .enum(["FARGATE", "FARGATE_SPOT", "EC2"], {
      error: 'must be "FARGATE", "FARGATE_SPOT" or "EC2"',
    })
    .default("FARGATE"),
  platformVersion: z.string().min(1).optional(),
  network: NetworkSchema.optional(),
  executionRoleArn: z.string().min(1).optional(),
  taskRoleArn: z.string().min(1).optional(),
  tags: TagsSchema.default({}),
  taskCustomizations: z
    .array(PatchOperationSchema, { error: "must be a list of RFC 6902 operations" })
    .default([]),
  pollInterval: durationField("pollInterval", "30s", 100),
  timeout: durationField("timeout", "1h", 1),
  maxFailCount: z
    .int({ error: "must be a whole number ≥ 0 (retries per task)" })
    .min(0)
    .max(1000)
    .default(1),
  retry: RetrySchema,
  taskNamePrefix: z
    .string()
    .min(1)
    .regex(STARTED_BY, {
      error: "must use only letters, digits, '-', '_' and '/' (it becomes RunTask startedBy)",
    })
    .default("ecs-batch"),
  logs: LogsSchema,
});

/**
 * The schema of a batch job (DESIGN 2.1). Parse with `parseJob` to get our validation error
 * rather than zod's.
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

/** What users write: every field optional except `taskDefinition`. */
export type BatchJobInput = z.input<typeof BatchJobSchema>;

/** A parsed job: defaults filled in, durations in milliseconds, and a job id. */
export type BatchJob = Omit<z.output<typeof BatchJobSchema>, "jobId"> & { jobId: string };

/** The container override of a parsed job. */
export type ContainerOverrideConfig = BatchJob["containerOverrides"][number];

/** The retry settings of a parsed job. */
export type RetryConfig = BatchJob["retry"];

/** The log settings of a parsed job. */
export type LogsConfig = BatchJob["logs"];

/** Same schema, exported under the contract's name (DESIGN 2.1) for `BatchJobInput.parse(...)`. */
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
