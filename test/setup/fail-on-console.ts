import { afterEach, beforeEach } from "vitest";

// A library must not write to the console behind its host's back; a test that triggers console
// output fails, so stray logging is caught where it is introduced.
const methods = ["log", "info", "warn", "error", "debug"] as const;
let calls: string[] = [];
const originals = new Map<string, (...args: unknown[]) => void>();

beforeEach(() => {
  calls = [];
  for (const m of methods) {
    originals.set(m, console[m].bind(console));
    console[m] = (...args: unknown[]) => {
      calls.push(`console.${m}: ${args.map(String).join(" ")}`);
    };
  }
});

afterEach(() => {
  for (const m of methods) console[m] = originals.get(m) as (typeof console)[typeof m];
  if (calls.length > 0) {
    const seen = calls;
    calls = [];
    throw new Error(`unexpected console output:\n${seen.join("\n")}`);
  }
});

// Matchers such as expect(ecsMock).toHaveReceivedCommandWith(RunTaskCommand, {...}).
import "aws-sdk-client-mock-vitest/extend";
