import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Newest modification time under a directory. */
function newest(dir: string): number {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    max = Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return max;
}

function fresh(): boolean {
  const marker = join(root, "dist", "index.js");
  if (!existsSync(marker) || !existsSync(join(root, "dist", "cli", "main.js"))) return false;
  const built = statSync(marker).mtimeMs;
  return (
    built > newest(join(root, "src")) && built > statSync(join(root, "tsup.config.ts")).mtimeMs
  );
}

/**
 * Builds the package before the tests that use the built files (the packed tarball, the CLI
 * binary). A directory lock keeps two test runs from building at once; a build newer than every
 * source file is reused.
 */
export default async function setup(): Promise<void> {
  const lock = join(root, ".tmp", "build.lock");
  mkdirSync(join(root, ".tmp"), { recursive: true });
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (waited > 120_000)
        throw new Error(`timed out waiting for ${lock}; remove it if no build is running`);
      await sleep(100);
    }
  }
  try {
    if (!fresh()) {
      execFileSync(
        process.execPath,
        [join(root, "node_modules", "tsup", "dist", "cli-default.js")],
        { cwd: root, stdio: "pipe" },
      );
    }
  } finally {
    rmdirSync(lock);
  }
}
