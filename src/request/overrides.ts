/**
 * Merging environment and container overrides, always by name (DESIGN 3.8). Positional merging
 * (override 0 applies to container 0) silently gives one container another's settings when a
 * template is reordered; here a container is matched by its name and a variable by its name.
 */
import type { ContainerOverride } from "@aws-sdk/client-ecs";
import type { ContainerOverrideConfig, KeyValuePair } from "../job/schema.js";

/**
 * Merges environment lists by variable name; later layers win. A variable keeps the position
 * where it first appeared, so the result reads like the template with values replaced.
 */
export function mergeEnvironment(
  ...layers: readonly (readonly KeyValuePair[] | undefined)[]
): KeyValuePair[] {
  const merged = new Map<string, string>();
  for (const layer of layers) {
    for (const { name, value } of layer ?? []) merged.set(name, value);
  }
  return [...merged].map(([name, value]) => ({ name, value }));
}

/**
 * Merges two lists of container overrides by container name; `top` wins field by field and
 * environment variables are merged by name. Containers keep the order they first appear in.
 */
export function mergeContainerOverrides(
  base: readonly ContainerOverrideConfig[],
  top: readonly ContainerOverrideConfig[],
): ContainerOverrideConfig[] {
  const byName = new Map<string, ContainerOverrideConfig>();
  for (const o of base) byName.set(o.name, { ...o });
  for (const o of top) {
    const prev = byName.get(o.name);
    if (prev === undefined) {
      byName.set(o.name, { ...o });
      continue;
    }
    const merged: ContainerOverrideConfig = { ...prev, ...withoutUndefined(o) };
    if (prev.environment !== undefined || o.environment !== undefined) {
      merged.environment = mergeEnvironment(prev.environment, o.environment);
    }
    byName.set(o.name, merged);
  }
  return [...byName.values()];
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The RunTask container overrides of one task: one entry per container of the definition,
 * each with the job's override for that container (by name) and the injected variables.
 * Template variables are not repeated: ECS merges override variables over the definition's by
 * name, and leaving them out keeps the request under the 8 KiB overrides limit.
 */
export function buildContainerOverrides(
  containerNames: readonly string[],
  jobOverrides: readonly ContainerOverrideConfig[],
  injected: readonly KeyValuePair[],
): ContainerOverride[] {
  return containerNames.map((name) => {
    const o = jobOverrides.find((x) => x.name === name);
    const out: ContainerOverride = { name };
    if (o?.command !== undefined) out.command = [...o.command];
    // The injected variables win; without variables of the job's, they are the whole list.
    out.environment =
      o?.environment === undefined || o.environment.length === 0
        ? injected.map(({ name, value }) => ({ name, value }))
        : mergeEnvironment(o.environment, injected);
    if (o?.cpu !== undefined) out.cpu = o.cpu;
    if (o?.memory !== undefined) out.memory = o.memory;
    if (o?.memoryReservation !== undefined) out.memoryReservation = o.memoryReservation;
    return out;
  });
}

/**
 * The environment a container actually sees: template < job override < injected. Useful to
 * show users the final variables (values included, so never put it in an error message).
 */
export function effectiveEnvironment(
  templateEnvironment: readonly KeyValuePair[] | undefined,
  override: ContainerOverride | undefined,
): KeyValuePair[] {
  return mergeEnvironment(
    templateEnvironment,
    override?.environment?.map((e) => ({ name: e.name ?? "", value: e.value ?? "" })),
  );
}
