/**
 * Heimdall's ECS plugin format: a command, a cluster and a job, each with a snake_case
 * `context`. `fromHeimdall` turns the three into a native `BatchJobInput`, keeping Heimdall's
 * meaning (`max_fail_count` is retries, `TASK_NAME` is `heimdall-job-{jobId}-{n}`), and fixing
 * its merge rules to go by container and variable name.
 *
 * Importing the package costs a host little here (issue 23): the `yaml` parser is loaded only
 * when `loadHeimdallFiles` reads a YAML file, and the schemas are built on the first
 * `fromHeimdall` call.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, isAbsolute, resolve as resolvePath } from "node:path";
import type * as Yaml from "yaml";
import { z } from "zod";
import { EcsBatchValidationError, formatPath, type ValidationIssue } from "../errors.js";
import { mergeContainerOverrides } from "../request/overrides.js";
import { parseCpu, parseMemory } from "../job/fargate.js";
import type { BatchJobInput, ContainerOverrideConfig } from "../job/schema.js";

/**
 * The schema of `fromHeimdall`'s input, built on first use: building zod schemas takes a few
 * milliseconds, which a host that never converts a Heimdall job should not pay at import.
 */
function buildHeimdallInputSchema() {
  const sizeValue = z.union([z.number(), z.string()], {
    error: 'must be a number such as 1024 or "1024"',
  });
  const duration = z.union([z.string(), z.number()], {
    error: 'must be a duration such as "30s" or "1h"',
  });

  const OverrideSchema = z.strictObject({
    name: z.string({ error: "is required: the container name" }).min(1),
    command: z.array(z.string(), { error: "must be a list of strings" }).optional(),
    environment: z
      .array(
        z.strictObject({
          name: z.string({ error: "must be a string" }).min(1),
          value: z.union([z.string(), z.number(), z.boolean()], { error: "must be a string" }),
        }),
        { error: "must be a list of { name, value }" },
      )
      .optional(),
    cpu: z.int().min(0).optional(),
    memory: z.int().positive().optional(),
    memory_reservation: z.int().positive().optional(),
  });

  /** Tags: Heimdall's `["type:ecs"]` lists are routing criteria and ignored; only maps become ECS tags. */
  const TagsSchema = z
    .union([z.array(z.string()), z.record(z.string(), z.string())], {
      error: 'must be a list of criteria (["type:ecs"]) or a map of ECS tags ({ team: "data" })',
    })
    .optional();

  /** What a command context and a job context may both set. */
  const runFields = {
    task_count: z.int({ error: "must be a whole number ≥ 1" }).min(1).optional(),
    container_overrides: z
      .array(OverrideSchema, { error: "must be a list of { name, ... }" })
      .optional(),
    polling_interval: duration.optional(),
    timeout: duration.optional(),
    max_fail_count: z
      .int({ error: "must be a whole number ≥ 0 (retries per task)" })
      .min(0)
      .optional(),
    cpu: sizeValue.optional(),
    memory: sizeValue.optional(),
    tags: TagsSchema,
  };

  const CommandContextSchema = z.strictObject({
    task_definition_template: z
      .string({ error: "is required: the path of the task definition JSON" })
      .min(1),
    ...runFields,
    /** Routing criteria for Heimdall; carried in some files inside the context. Ignored here. */
    cluster_tags: z.array(z.string()).optional(),
  });

  const JobContextSchema = z.strictObject(runFields);

  const ClusterContextSchema = z.strictObject({
    max_cpu: sizeValue.optional(),
    max_memory: sizeValue.optional(),
    max_task_count: z.int({ error: "must be a whole number ≥ 1" }).min(1).optional(),
    execution_role_arn: z.string().min(1).optional(),
    task_role_arn: z.string().min(1).optional(),
    cluster_name: z.string({ error: "is required: the ECS cluster name" }).min(1),
    launch_type: z
      .enum(["FARGATE", "FARGATE_SPOT", "EC2"], {
        error: 'must be "FARGATE", "FARGATE_SPOT" or "EC2"',
      })
      .optional(),
    vpc_config: z
      .strictObject({
        subnets: z.array(z.string()).min(1, { error: "needs at least one subnet" }),
        security_groups: z.array(z.string()).optional(),
        assign_public_ip: z.union([z.enum(["ENABLED", "DISABLED"]), z.boolean()]).optional(),
      })
      .optional(),
    tags: TagsSchema,
  });

  /** A Heimdall object: `{ name, context, tags?, ... }` (extra top-level fields are Heimdall's own). */
  function heimdallObject<T extends z.ZodType>(context: T) {
    return z.looseObject({
      name: z.string().optional(),
      context,
      tags: TagsSchema,
    });
  }

  return z.object({
    command: heimdallObject(CommandContextSchema),
    cluster: heimdallObject(ClusterContextSchema),
    job: heimdallObject(JobContextSchema),
    jobId: z.string({ error: "is required: the Heimdall job id" }).min(1),
    baseDir: z.string().optional(),
  });
}

let builtSchema: ReturnType<typeof buildHeimdallInputSchema> | undefined;
const heimdallInputSchema = () => (builtSchema ??= buildHeimdallInputSchema());

/** A container override as Heimdall writes it (snake_case). */
type HeimdallOverride = NonNullable<
  z.infer<ReturnType<typeof buildHeimdallInputSchema>>["command"]["context"]["container_overrides"]
>[number];

let loadedYaml: typeof Yaml | undefined;

/**
 * The `yaml` module, loaded on first use. Through a `require` made from this module's URL (as
 * the SDK modules in src/aws/sdk.ts): synchronous, the same in the ESM and CommonJS builds, and no
 * `import()` for a CommonJS host's test runner to refuse; where a bundler left no `require` for
 * it, through `import()`, which bundlers follow.
 */
async function yamlModule(): Promise<typeof Yaml> {
  if (loadedYaml !== undefined) return loadedYaml;
  try {
    loadedYaml = createRequire(import.meta.url)("yaml") as typeof Yaml;
  } catch (error) {
    try {
      loadedYaml = await import("yaml");
    } catch {
      throw error;
    }
  }
  return loadedYaml;
}

/** A Heimdall command, cluster or job: the object itself, or a one-element list as in Heimdall's YAML files. */
export type HeimdallObject = Record<string, unknown> | readonly Record<string, unknown>[];

/** The arguments of `fromHeimdall`. */
export interface HeimdallInput {
  command: HeimdallObject;
  cluster: HeimdallObject;
  job: HeimdallObject;
  /** Heimdall's job id; task names read `heimdall-job-{jobId}-{n}`. */
  jobId: string;
  /** Directory relative `task_definition_template` paths are resolved against; default: the working directory. */
  baseDir?: string;
}

function single(value: HeimdallObject, field: string, issues: ValidationIssue[]): unknown {
  if (!Array.isArray(value)) return value;
  if (value.length !== 1) {
    issues.push({
      path: field,
      message: `holds ${value.length} entries; pass exactly one ${field}`,
    });
  }
  return value[0];
}

function ecsTags(
  tags: readonly string[] | Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  return tags === undefined || Array.isArray(tags) ? {} : { ...(tags as Record<string, string>) };
}

function toOverrides(list: HeimdallOverride[] | undefined): ContainerOverrideConfig[] {
  return (list ?? []).map((o) => ({
    name: o.name,
    ...(o.command === undefined ? {} : { command: o.command }),
    ...(o.environment === undefined
      ? {}
      : { environment: o.environment.map((e) => ({ name: e.name, value: String(e.value) })) }),
    ...(o.cpu === undefined ? {} : { cpu: o.cpu }),
    ...(o.memory === undefined ? {} : { memory: o.memory }),
    ...(o.memory_reservation === undefined ? {} : { memoryReservation: o.memory_reservation }),
  }));
}

/** Reads the template's own cpu/memory, so cluster limits hold when neither command nor job sets them. */
function templateSize(path: string): { cpu?: string | number; memory?: string | number } {
  try {
    const json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    const def = (
      typeof json.taskDefinition === "object" && json.taskDefinition !== null
        ? json.taskDefinition
        : json
    ) as Record<string, unknown>;
    const pick = (v: unknown): string | number | undefined =>
      typeof v === "string" || typeof v === "number" ? v : undefined;
    const cpu = pick(def.cpu);
    const memory = pick(def.memory);
    return { ...(cpu === undefined ? {} : { cpu }), ...(memory === undefined ? {} : { memory }) };
  } catch {
    // The loader reports an unreadable template with the field name; nothing to check here.
    return {};
  }
}

/**
 * Converts Heimdall-format command, cluster and job into a native job (DESIGN 2.4, 3.8):
 * overrides merge command < job by container and variable name, tags cluster < command < job,
 * roles, cluster name, launch type and network come from the cluster, and cpu, memory and task
 * count above the cluster's `max_*` are rejected (no clamping).
 */
export function fromHeimdall(input: HeimdallInput): BatchJobInput {
  const issues: ValidationIssue[] = [];
  const raw = {
    command: single(input.command, "command", issues),
    cluster: single(input.cluster, "cluster", issues),
    job: single(input.job, "job", issues),
    jobId: input.jobId,
    baseDir: input.baseDir,
  };
  const parsed = heimdallInputSchema().safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      if (i.code === "unrecognized_keys") {
        for (const k of i.keys)
          issues.push({
            path: formatPath([...i.path, k]),
            message: "is not a Heimdall ECS field; check the spelling",
          });
      } else issues.push({ path: formatPath(i.path), message: i.message });
    }
  }
  if (!parsed.success || issues.length > 0)
    throw new EcsBatchValidationError(issues, { intro: "Invalid Heimdall job" });
  const { command, cluster, job, jobId } = parsed.data;
  const cmd = command.context;
  const ctx = job.context;
  const cl = cluster.context;

  const templatePath = isAbsolute(cmd.task_definition_template)
    ? cmd.task_definition_template
    : resolvePath(input.baseDir ?? process.cwd(), cmd.task_definition_template);
  const taskCount = ctx.task_count ?? cmd.task_count ?? 1;
  const cpu = ctx.cpu ?? cmd.cpu;
  const memory = ctx.memory ?? cmd.memory;
  const fromTemplate = cpu === undefined || memory === undefined ? templateSize(templatePath) : {};

  const limit = (
    field: string,
    value: string | number | undefined,
    max: string | number | undefined,
    maxField: string,
    parse: (v: string | number) => number | undefined,
  ): void => {
    if (value === undefined || max === undefined) return;
    const v = parse(value);
    const m = parse(max);
    if (v !== undefined && m !== undefined && v > m) {
      issues.push({
        path: field,
        message: `${String(value)} exceeds the cluster's ${maxField} (${String(max)}); lower it or use a larger cluster`,
      });
    }
  };
  limit(
    ctx.cpu === undefined
      ? cmd.cpu === undefined
        ? "taskDefinition.cpu"
        : "command.context.cpu"
      : "job.context.cpu",
    cpu ?? fromTemplate.cpu,
    cl.max_cpu,
    "max_cpu",
    parseCpu,
  );
  limit(
    ctx.memory === undefined
      ? cmd.memory === undefined
        ? "taskDefinition.memory"
        : "command.context.memory"
      : "job.context.memory",
    memory ?? fromTemplate.memory,
    cl.max_memory,
    "max_memory",
    parseMemory,
  );
  limit(
    ctx.task_count === undefined ? "command.context.task_count" : "job.context.task_count",
    taskCount,
    cl.max_task_count,
    "max_task_count",
    (v) => Number(v),
  );
  if (issues.length > 0)
    throw new EcsBatchValidationError(issues, { intro: "Invalid Heimdall job" });

  const vpc = cl.vpc_config;
  const assignPublicIp =
    vpc?.assign_public_ip === undefined
      ? undefined
      : typeof vpc.assign_public_ip === "boolean"
        ? vpc.assign_public_ip
          ? "ENABLED"
          : "DISABLED"
        : vpc.assign_public_ip;
  return {
    jobId,
    cluster: cl.cluster_name,
    taskDefinition: { path: templatePath },
    taskCount,
    ...(cpu === undefined ? {} : { cpu }),
    ...(memory === undefined ? {} : { memory }),
    containerOverrides: mergeContainerOverrides(
      toOverrides(cmd.container_overrides),
      toOverrides(ctx.container_overrides),
    ),
    launchType: cl.launch_type ?? "FARGATE",
    ...(vpc === undefined
      ? {}
      : {
          network: {
            subnets: vpc.subnets,
            ...(vpc.security_groups === undefined ? {} : { securityGroups: vpc.security_groups }),
            ...(assignPublicIp === undefined ? {} : { assignPublicIp }),
          },
        }),
    ...(cl.execution_role_arn === undefined ? {} : { executionRoleArn: cl.execution_role_arn }),
    ...(cl.task_role_arn === undefined ? {} : { taskRoleArn: cl.task_role_arn }),
    tags: {
      ...ecsTags(cluster.tags),
      ...ecsTags(cl.tags),
      ...ecsTags(command.tags),
      ...ecsTags(cmd.tags),
      ...ecsTags(job.tags),
      ...ecsTags(ctx.tags),
    },
    ...((ctx.polling_interval ?? cmd.polling_interval) === undefined
      ? {}
      : { pollInterval: ctx.polling_interval ?? cmd.polling_interval }),
    ...((ctx.timeout ?? cmd.timeout) === undefined ? {} : { timeout: ctx.timeout ?? cmd.timeout }),
    ...((ctx.max_fail_count ?? cmd.max_fail_count) === undefined
      ? {}
      : { maxFailCount: ctx.max_fail_count ?? cmd.max_fail_count }),
    taskNamePrefix: "heimdall-job",
  };
}

/** Paths of Heimdall-format files, YAML or JSON. */
export interface HeimdallFiles {
  command: string;
  cluster: string;
  job: string;
}

/**
 * Reads Heimdall-format command, cluster and job files (YAML or JSON). Returns them with
 * `baseDir` set to the command file's directory, where its template path is usually relative to.
 */
export async function loadHeimdallFiles(files: HeimdallFiles): Promise<{
  command: HeimdallObject;
  cluster: HeimdallObject;
  job: HeimdallObject;
  baseDir: string;
}> {
  const read = async (field: keyof HeimdallFiles): Promise<HeimdallObject> => {
    const path = files[field];
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      throw new EcsBatchValidationError(
        [
          {
            path: field,
            message: `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? "unreadable"}); check the path`,
          },
        ],
        { cause: err, intro: "Invalid Heimdall files" },
      );
    }
    const json = /\.json$/i.test(path);
    // Loaded here, not at import: only YAML files need the parser.
    const parse: (text: string) => unknown = json ? JSON.parse : (await yamlModule()).parse;
    let value: unknown;
    try {
      value = parse(text);
    } catch (err) {
      throw new EcsBatchValidationError(
        [
          {
            path: field,
            message: `${path} is not valid ${json ? "JSON" : "YAML"}: ${(err as Error).message.split("\n")[0] ?? ""}`,
          },
        ],
        {
          cause: err,
          intro: "Invalid Heimdall files",
        },
      );
    }
    if (value === null || typeof value !== "object") {
      throw new EcsBatchValidationError(
        [{ path: field, message: `${path} must hold a Heimdall ${field} object` }],
        {
          intro: "Invalid Heimdall files",
        },
      );
    }
    return value as HeimdallObject;
  };
  const [command, cluster, job] = await Promise.all([
    read("command"),
    read("cluster"),
    read("job"),
  ]);
  return { command, cluster, job, baseDir: dirname(resolvePath(files.command)) };
}
