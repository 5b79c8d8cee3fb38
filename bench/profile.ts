/**
 * Who spent the CPU: V8's sampling profiler, and each sample charged to the innermost frame of
 * our own code on its stack (Node built-ins run on behalf of their caller). The workers run as
 * one esbuild bundle, which marks where each source file starts (`// src/execution/job.ts`), so
 * a frame's line tells its source file.
 */
import { readFileSync } from "node:fs";
import type { Profiler } from "node:inspector";
import { Session } from "node:inspector/promises";
import { fileURLToPath } from "node:url";

/** CPU time of the JS thread by owner, from the samples (milliseconds). */
export interface CpuAttribution {
  readonly sampleIntervalUs: number;
  /** The library: `src/**` except the simulator. */
  readonly runnerMs: number;
  /** The simulator and its `ManualClock` (`src/simulator/**`, `src/testing/**`). */
  readonly simulatorMs: number;
  /** The benchmark's own code (`bench/**`). */
  readonly harnessMs: number;
  /** Garbage collection, whoever allocated. */
  readonly gcMs: number;
  /** Node internals with none of our code on the stack (timer lists, microtask queue, ...). */
  readonly otherMs: number;
  /** `runnerMs` plus the runner's share of `gcMs` (in proportion to the attributed time). */
  readonly runnerWithGcShareMs: number;
  /** `runnerMs` by the library's folder (`src/durable`, `src/execution`, ...; `src` for its root files). */
  readonly runnerByFolderMs: Readonly<Record<string, number>>;
}

type Owner = "runner" | "simulator" | "harness";

/** Start line (0-based) of each bundled source file, in order. */
function moduleStarts(file: string): { line: number; path: string }[] {
  const starts: { line: number; path: string }[] = [];
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((text, line) => {
      const m = /^\/\/ ((?:src|bench)\/\S+\.ts)$/.exec(text);
      if (m?.[1] !== undefined) starts.push({ line, path: m[1] });
    });
  return starts;
}

function ownerOf(path: string): Owner {
  if (path.startsWith("src/simulator/") || path.startsWith("src/testing/")) return "simulator";
  return path.startsWith("src/") ? "runner" : "harness";
}

/** Starts sampling; the returned function stops and attributes. */
export async function startProfile(
  bundleUrl: string,
  sampleIntervalUs = 100,
): Promise<() => Promise<CpuAttribution>> {
  const bundlePath = fileURLToPath(bundleUrl);
  const starts = moduleStarts(bundlePath);
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: sampleIntervalUs });
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    return attribute(profile, bundleUrl, starts, sampleIntervalUs);
  };
}

function attribute(
  profile: Profiler.Profile,
  bundleUrl: string,
  starts: readonly { line: number; path: string }[],
  sampleIntervalUs: number,
): CpuAttribution {
  const byId = new Map<number, Profiler.ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const ownerCache = new Map<number, string | null>();
  const framePath = (node: Profiler.ProfileNode): string | null => {
    const { url, lineNumber } = node.callFrame;
    if (url !== bundleUrl) return null;
    let lo = 0;
    let hi = starts.length - 1;
    let found: string | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = starts[mid] as { line: number; path: string };
      if (s.line <= lineNumber) {
        found = s.path;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found ?? null;
  };
  /** The source file of the innermost frame of our code on a sample's stack. */
  const samplePath = (id: number): string | null => {
    const cached = ownerCache.get(id);
    if (cached !== undefined) return cached;
    let path: string | null = null;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (node === undefined) break;
      path = framePath(node);
      if (path !== null) break;
    }
    ownerCache.set(id, path);
    return path;
  };
  const us = { runner: 0, simulator: 0, harness: 0, gc: 0, other: 0 };
  const byFolder: Record<string, number> = {};
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    const dt = deltas[i] ?? 0;
    const name = byId.get(id)?.callFrame.functionName;
    if (name === "(idle)") continue;
    if (name === "(garbage collector)") us.gc += dt;
    else if (name === "(program)") us.other += dt;
    else {
      const path = samplePath(id);
      const owner = path === null ? "other" : ownerOf(path);
      us[owner] += dt;
      if (owner === "runner" && path !== null) {
        const folder = path.split("/").slice(0, -1).slice(0, 2).join("/");
        byFolder[folder] = (byFolder[folder] ?? 0) + dt;
      }
    }
  }
  const attributed = us.runner + us.simulator + us.harness;
  const ms = (x: number): number => x / 1000;
  return {
    sampleIntervalUs,
    runnerMs: ms(us.runner),
    simulatorMs: ms(us.simulator),
    harnessMs: ms(us.harness),
    gcMs: ms(us.gc),
    otherMs: ms(us.other),
    runnerWithGcShareMs: ms(us.runner + (attributed === 0 ? 0 : (us.gc * us.runner) / attributed)),
    runnerByFolderMs: Object.fromEntries(Object.entries(byFolder).map(([k, v]) => [k, ms(v)])),
  };
}
