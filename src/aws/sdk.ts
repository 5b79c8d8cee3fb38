/**
 * The AWS SDK client modules, each loaded on first use. Importing the runner loads no SDK, so
 * a host that only reads or validates jobs (an orchestrator parsing its DAG files, a CI check, a
 * test importing types) never pays for one, and a job loads only the clients it calls: the EC2
 * module, the heaviest of the three, only when a job's network is inferred.
 *
 * Loaded with a synchronous `require`: no real I/O is left in flight between the call and its
 * use, so a `ManualClock` cannot skip time while a module loads (an `import()` would leave such
 * a gap, and `runUntil` would jump to the next timer: a job's timeout, say). Where a bundler
 * left no `require` for a module, `importSdkModules` loads it through `import()` instead (which
 * bundlers follow); the runner calls it before a job's first request.
 */
import { createRequire } from "node:module";
import type * as LogsSdk from "@aws-sdk/client-cloudwatch-logs";
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import type * as EcsSdk from "@aws-sdk/client-ecs";

/** `@aws-sdk/client-ecs`, the module. */
export type EcsModule = typeof EcsSdk;
/** `@aws-sdk/client-cloudwatch-logs`, the module. */
export type LogsModule = typeof LogsSdk;
/** `@aws-sdk/client-ec2`, the module. */
export type Ec2Module = typeof Ec2Sdk;

const loaded: { ecs?: EcsModule; logs?: LogsModule; ec2?: Ec2Module } = {};

function requireHere(name: string): unknown {
  return createRequire(import.meta.url)(name);
}

/** `@aws-sdk/client-ecs`, loaded now if nothing has loaded it yet. */
export function ecsSdk(): EcsModule {
  return (loaded.ecs ??= requireHere("@aws-sdk/client-ecs") as EcsModule);
}

/** `@aws-sdk/client-cloudwatch-logs`, loaded now if nothing has loaded it yet. */
export function logsSdk(): LogsModule {
  return (loaded.logs ??= requireHere("@aws-sdk/client-cloudwatch-logs") as LogsModule);
}

/**
 * `@aws-sdk/client-ec2`, loaded now if nothing has loaded it yet: about 50 MB of memory and 0.3
 * s, more than the ECS and CloudWatch Logs modules together.
 */
export function ec2Module(): Ec2Module {
  return (loaded.ec2 ??= requireHere("@aws-sdk/client-ec2") as Ec2Module);
}

/**
 * Loads the ECS and CloudWatch Logs modules: synchronously when `require` finds them, else
 * through `import()`, for bundles that dropped `require`. Resolves at once when they are loaded
 * already.
 */
export async function importSdkModules(): Promise<void> {
  loaded.ecs ??= await fallback(ecsSdk, () => import("@aws-sdk/client-ecs"));
  loaded.logs ??= await fallback(logsSdk, () => import("@aws-sdk/client-cloudwatch-logs"));
}

/** The EC2 module, loaded as `importSdkModules` loads the others (network inference calls it). */
export async function importEc2Module(): Promise<Ec2Module> {
  return (loaded.ec2 ??= await fallback(ec2Module, () => import("@aws-sdk/client-ec2")));
}

async function fallback<M>(load: () => M, dynamic: () => Promise<M>): Promise<M> {
  try {
    return load();
  } catch (error) {
    try {
      return await dynamic();
    } catch {
      throw error;
    }
  }
}
