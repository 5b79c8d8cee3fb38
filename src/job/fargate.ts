/**
 * Fargate task sizes. Fargate accepts only these cpu/memory pairs (Linux platform version 1.4.0;
 * 8 and 16 vCPU need it). A pair outside the table fails at RunTask time with a
 * ClientException; checking it up front turns that into a validation error before any call.
 */

/** The valid memory values (MiB) for each task cpu value (cpu units, 1024 = 1 vCPU). */
export const FARGATE_SIZES: ReadonlyMap<number, readonly number[]> = new Map([
  [256, [512, 1024, 2048]],
  [512, range(1024, 4096, 1024)],
  [1024, range(2048, 8192, 1024)],
  [2048, range(4096, 16384, 1024)],
  [4096, range(8192, 30720, 1024)],
  [8192, range(16384, 61440, 4096)],
  [16384, range(32768, 122880, 8192)],
]);

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

/** Whether `cpu`/`memory` is a size Fargate runs. */
export function isValidFargateSize(cpu: number, memory: number): boolean {
  return FARGATE_SIZES.get(cpu)?.includes(memory) ?? false;
}

/** A short human description of the memory values valid for `cpu`, for error messages. */
export function describeFargateMemory(cpu: number): string {
  const mems = FARGATE_SIZES.get(cpu);
  if (mems === undefined) return `cpu must be one of ${[...FARGATE_SIZES.keys()].join(", ")}`;
  if (mems.length <= 3) return `with cpu ${cpu}, memory must be one of ${mems.join(", ")}`;
  const step = (mems[1] ?? 0) - (mems[0] ?? 0);
  return `with cpu ${cpu}, memory must be ${mems[0]}-${mems[mems.length - 1]} in steps of ${step}`;
}

/**
 * Reads a cpu value as ECS accepts it: a number of units, a numeric string, or vCPUs
 * (`"1 vCPU"`, `"0.25 vcpu"`). Returns `undefined` when it is none of those.
 */
export function parseCpu(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value > 0 ? value : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const vcpu = /^(\d+(?:\.\d+)?)\s*vcpu$/i.exec(text);
  if (vcpu?.[1] !== undefined) return Math.round(Number(vcpu[1]) * 1024);
  return undefined;
}

/**
 * Reads a memory value as ECS accepts it: MiB as a number or numeric string, or GB
 * (`"2 GB"`, `"0.5GB"`). Returns `undefined` when it is none of those.
 */
export function parseMemory(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value > 0 ? value : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const gb = /^(\d+(?:\.\d+)?)\s*gb$/i.exec(text);
  if (gb?.[1] !== undefined) return Math.round(Number(gb[1]) * 1024);
  return undefined;
}
