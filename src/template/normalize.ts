/**
 * Comparing a template with a registered definition. DescribeTaskDefinition returns the
 * definition with AWS's defaults filled in (`essential: true`, `cpu: 0`, empty lists, ...), so
 * a naive comparison never matches and every run registers a new revision. Normalising both
 * sides first makes "same meaning" compare equal.
 */
import { REGISTRATION_ONLY_FIELDS } from "./loader.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Drops null, undefined, empty arrays and empty objects, recursively. Keeps `false` and `0`. */
function dropEmpty(value: unknown): Json | undefined {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) {
    const items = value.map(dropEmpty).filter((v): v is Json => v !== undefined);
    return items.length === 0 ? undefined : items;
  }
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) {
      const kept = dropEmpty(v);
      if (kept !== undefined) out[k] = kept;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  if (typeof value === "boolean" || typeof value === "number" || typeof value === "string")
    return value;
  return undefined;
}

function byName(a: Json, b: Json): number {
  const an =
    typeof a === "object" && a !== null && !Array.isArray(a) && typeof a.name === "string"
      ? a.name
      : "";
  const bn =
    typeof b === "object" && b !== null && !Array.isArray(b) && typeof b.name === "string"
      ? b.name
      : "";
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/**
 * Brings a template or a described definition to a canonical form: registration-only fields
 * and tags removed, AWS defaults applied, empties dropped, name-keyed lists sorted, sizes as
 * strings.
 */
export function normalizeTaskDefinition(definition: object): Json {
  const def = structuredClone(definition) as Record<string, unknown>;
  for (const field of REGISTRATION_ONLY_FIELDS) delete def[field];
  delete def.tags;
  def.networkMode ??= "bridge";
  if (typeof def.cpu === "number") def.cpu = String(def.cpu);
  if (typeof def.memory === "number") def.memory = String(def.memory);
  if (Array.isArray(def.requiresCompatibilities))
    def.requiresCompatibilities = [...(def.requiresCompatibilities as string[])].sort();
  const containers = Array.isArray(def.containerDefinitions)
    ? (def.containerDefinitions as Record<string, unknown>[])
    : [];
  for (const c of containers) {
    c.essential ??= true;
    if (c.cpu === 0) delete c.cpu;
    if (Array.isArray(c.portMappings)) {
      for (const p of c.portMappings as Record<string, unknown>[]) {
        p.protocol ??= "tcp";
        if (def.networkMode === "awsvpc" && p.hostPort === p.containerPort) delete p.hostPort;
      }
    }
  }
  const out = dropEmpty(def) ?? {};
  if (typeof out === "object" && !Array.isArray(out) && Array.isArray(out.containerDefinitions)) {
    for (const c of out.containerDefinitions) {
      if (typeof c !== "object" || c === null || Array.isArray(c)) continue;
      for (const key of ["environment", "secrets"]) {
        const list = c[key];
        if (Array.isArray(list)) c[key] = [...list].sort(byName);
      }
    }
  }
  return out;
}

/** JSON with object keys sorted, so equal values print equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

/** Whether two task definitions mean the same once AWS defaults are taken into account. */
export function sameTaskDefinition(a: object, b: object): boolean {
  return canonicalJson(normalizeTaskDefinition(a)) === canonicalJson(normalizeTaskDefinition(b));
}
