/**
 * Loading a task definition template from a file or an object, and turning it into the
 * RegisterTaskDefinition input for a job (DESIGN 3.7). No AWS calls here.
 */
import { readFile as fsReadFile } from "node:fs/promises";
import { isAbsolute, resolve as resolvePath } from "node:path";
import type { ContainerDefinition, RegisterTaskDefinitionCommandInput } from "@aws-sdk/client-ecs";
import { z } from "zod";
import { EcsBatchValidationError, formatPath, type ValidationIssue } from "../errors.js";
import type { BatchJob, TaskDefinitionSource } from "../job/schema.js";
import {
  describeFargateMemory,
  FARGATE_SIZES,
  isValidFargateSize,
  parseCpu,
  parseMemory,
} from "../job/fargate.js";

/** A task definition as RegisterTaskDefinition takes it. */
export type TaskDefinitionTemplate = RegisterTaskDefinitionCommandInput;

/** A loaded source: a template to register (or reuse), or a reference to an existing definition. */
export type LoadedTaskDefinition =
  | { kind: "template"; template: TaskDefinitionTemplate; origin: string }
  | { kind: "arn"; arn: string };

/** Fields DescribeTaskDefinition returns that RegisterTaskDefinition does not take. */
export const REGISTRATION_ONLY_FIELDS = [
  "taskDefinitionArn",
  "revision",
  "status",
  "requiresAttributes",
  "compatibilities",
  "registeredAt",
  "registeredBy",
  "deregisteredAt",
] as const;

const envValue = z.union([z.string(), z.number(), z.boolean()], { error: "must be a string" });

const TemplateSchema = z.looseObject({
  family: z
    .string({ error: "is required: the task definition family name" })
    .regex(/^[A-Za-z0-9_-]{1,255}$/, { error: "must be 1-255 letters, digits, '-' or '_'" }),
  containerDefinitions: z
    .array(
      z.looseObject({
        name: z
          .string({ error: "is required: every container needs a name" })
          .regex(/^[A-Za-z0-9_-]{1,255}$/, { error: "must be 1-255 letters, digits, '-' or '_'" }),
        image: z.string({ error: "is required: every container needs an image" }).min(1),
        essential: z.boolean({ error: "must be true or false" }).optional(),
        environment: z
          .array(z.looseObject({ name: z.string({ error: "must be a string" }), value: envValue }))
          .optional(),
      }),
      { error: "is required: a list of containers" },
    )
    .min(1, { error: "needs at least one container" }),
  cpu: z.union([z.string(), z.number()], { error: 'must be cpu units such as "1024"' }).optional(),
  memory: z.union([z.string(), z.number()], { error: 'must be MiB such as "2048"' }).optional(),
  networkMode: z
    .enum(["bridge", "host", "awsvpc", "none"], {
      error: 'must be "awsvpc", "bridge", "host" or "none"',
    })
    .optional(),
  requiresCompatibilities: z
    .array(z.string(), { error: 'must be a list such as ["FARGATE"]' })
    .optional(),
});

/**
 * Validates a template object and strips what only DescribeTaskDefinition returns. Accepts the
 * whole `aws ecs describe-task-definition` output too (`{ taskDefinition: {...}, tags }`).
 * `where` names the source in error paths.
 */
export function templateFromObject(
  input: unknown,
  where: string,
  origin = where,
): TaskDefinitionTemplate {
  let raw = input;
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const wrapped = (raw as Record<string, unknown>).taskDefinition;
    if (wrapped !== null && typeof wrapped === "object" && "containerDefinitions" in wrapped)
      raw = wrapped;
  }
  const parsed = TemplateSchema.safeParse(raw);
  if (!parsed.success) {
    const issues: ValidationIssue[] = parsed.error.issues.map((i) => ({
      path: where,
      message: `${origin === where ? "" : `${origin}: `}${formatPath(i.path) || "template"} ${i.message}`,
    }));
    throw new EcsBatchValidationError(issues, { intro: "Invalid task definition template" });
  }
  const names = new Set<string>();
  for (const [i, c] of parsed.data.containerDefinitions.entries()) {
    if (names.has(c.name)) {
      throw new EcsBatchValidationError(
        [
          {
            path: where,
            message: `containerDefinitions[${i}].name "${c.name}" is used twice; container names must be unique`,
          },
        ],
        { intro: "Invalid task definition template" },
      );
    }
    names.add(c.name);
  }
  const template = structuredClone(raw) as Record<string, unknown>;
  for (const field of REGISTRATION_ONLY_FIELDS) delete template[field];
  // Tags live outside the definition in DescribeTaskDefinition; the runner tags tasks instead.
  delete template.tags;
  const containers = template.containerDefinitions as Record<string, unknown>[];
  for (const c of containers) {
    if (Array.isArray(c.environment)) {
      c.environment = (c.environment as { name: string; value: unknown }[]).map((e) => ({
        ...e,
        value: String(e.value),
      }));
    }
  }
  if (typeof template.cpu === "number") template.cpu = String(template.cpu);
  if (typeof template.memory === "number") template.memory = String(template.memory);
  return template as unknown as TaskDefinitionTemplate;
}

/** How a path source is read; injectable so tests need no files. */
export type ReadTextFile = (path: string) => Promise<string>;

/**
 * Loads a job's task definition source. A `path` is resolved against `baseDir` (default: the
 * working directory) and read as JSON; an unreadable or invalid file is a validation error.
 */
export async function loadTaskDefinition(
  source: TaskDefinitionSource,
  options: { baseDir?: string; readFile?: ReadTextFile } = {},
): Promise<LoadedTaskDefinition> {
  switch (source.kind) {
    case "arn":
      return { kind: "arn", arn: source.arn };
    case "definition":
      return {
        kind: "template",
        template: templateFromObject(source.definition, "taskDefinition.definition"),
        origin: "taskDefinition.definition",
      };
    case "path": {
      const file = isAbsolute(source.path)
        ? source.path
        : resolvePath(options.baseDir ?? process.cwd(), source.path);
      const read = options.readFile ?? ((p: string) => fsReadFile(p, "utf8"));
      let text: string;
      try {
        text = await read(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
        throw new EcsBatchValidationError(
          [
            {
              path: "taskDefinition.path",
              message: `cannot read ${file} (${code}); check the path`,
            },
          ],
          { cause: err, intro: "Invalid batch job" },
        );
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        throw new EcsBatchValidationError(
          [
            {
              path: "taskDefinition.path",
              message: `${file} is not valid JSON (${(err as Error).message}); fix the file`,
            },
          ],
          { cause: err },
        );
      }
      return {
        kind: "template",
        template: templateFromObject(json, "taskDefinition.path", file),
        origin: file,
      };
    }
  }
}

/** Names of the containers in a template or described definition. */
export function containerNames(definition: {
  containerDefinitions?: ContainerDefinition[];
}): string[] {
  return (definition.containerDefinitions ?? []).flatMap((c) =>
    c.name === undefined ? [] : [c.name],
  );
}

/**
 * Checks that every container named in `containerOverrides` exists in the definition.
 * Returns the issues rather than throwing: for `{ arn }` sources the caller raises a setup
 * error instead (the definition came from AWS, not from the input).
 */
export function checkOverrideNames(job: BatchJob, names: readonly string[]): ValidationIssue[] {
  return job.containerOverrides.flatMap((o, i) =>
    names.includes(o.name)
      ? []
      : [
          {
            path: `containerOverrides[${i}].name`,
            message: `no container "${o.name}" in the task definition; its containers are ${names.map((n) => `"${n}"`).join(", ")}`,
          },
        ],
  );
}

/**
 * Applies a job to a template (DESIGN 3.7): job cpu, memory and roles win over the template's,
 * Fargate jobs get `requiresCompatibilities: ["FARGATE"]` and `networkMode: "awsvpc"`, and the
 * resulting size is checked against the Fargate table. Every other field is kept as written.
 */
export function applyJobToTemplate(
  template: TaskDefinitionTemplate,
  job: BatchJob,
): TaskDefinitionTemplate {
  const out = structuredClone(template);
  const issues: ValidationIssue[] = checkOverrideNames(job, containerNames(out));
  if (job.cpu !== undefined) out.cpu = String(job.cpu);
  if (job.memory !== undefined) out.memory = String(job.memory);
  if (job.executionRoleArn !== undefined) out.executionRoleArn = job.executionRoleArn;
  if (job.taskRoleArn !== undefined) out.taskRoleArn = job.taskRoleArn;
  if (job.launchType !== "EC2") {
    const compat = new Set(out.requiresCompatibilities ?? []);
    compat.add("FARGATE");
    out.requiresCompatibilities = [...compat] as TaskDefinitionTemplate["requiresCompatibilities"];
    if (out.networkMode === undefined) out.networkMode = "awsvpc";
    else if (out.networkMode !== "awsvpc") {
      issues.push({
        path: "taskDefinition",
        message: `networkMode is "${out.networkMode}" but Fargate needs "awsvpc"; change the template or use launchType "EC2"`,
      });
    }
    issues.push(...checkFargateSize(out.cpu, out.memory));
  }
  if (issues.length > 0) throw new EcsBatchValidationError(issues);
  return out;
}

/** Checks a task-level size against the Fargate table; names `cpu`/`memory` in the issues. */
export function checkFargateSize(
  cpuText: string | undefined,
  memoryText: string | undefined,
): ValidationIssue[] {
  if (cpuText === undefined || memoryText === undefined) {
    const missing = cpuText === undefined ? "cpu" : "memory";
    return [
      {
        path: missing,
        message: `Fargate needs a task-level ${missing}; set ${missing} in the job or the template`,
      },
    ];
  }
  const cpu = parseCpu(cpuText);
  const memory = parseMemory(memoryText);
  if (cpu === undefined || !FARGATE_SIZES.has(cpu)) {
    return [
      {
        path: "cpu",
        message: `${cpuText} is not a Fargate cpu size; use one of ${[...FARGATE_SIZES.keys()].join(", ")}`,
      },
    ];
  }
  if (memory === undefined || !isValidFargateSize(cpu, memory)) {
    return [
      {
        path: "memory",
        message: `${memoryText} is not valid on Fargate: ${describeFargateMemory(cpu)}`,
      },
    ];
  }
  return [];
}
