/**
 * A reporter that fails the interop run under `CI=true` when any of its tests was skipped: in
 * CI every interop test runs (a missing moto already fails the global setup there).
 */
import type { Reporter, TestModule } from "vitest/node";

export default class NoSkipsUnderCi implements Reporter {
  onTestRunEnd(testModules: readonly TestModule[]): void {
    if (process.env.CI !== "true") return;
    const skipped = testModules.flatMap((m) => [...m.children.allTests("skipped")]);
    if (skipped.length === 0) return;
    process.stderr.write(
      `\ninterop suite: ${skipped.length} test(s) skipped under CI=true, where every interop test must run:\n${skipped
        .map((t) => `  - ${t.module.moduleId}: ${t.fullName}`)
        .join("\n")}\n`,
    );
    process.exitCode = 1;
  }
}
