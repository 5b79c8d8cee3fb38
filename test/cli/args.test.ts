/**
 * The command line, read in-process: the answers that need no job (help, version, mistakes in
 * the command line) and what they print.
 */
import { describe, expect, it } from "vitest";
import { parseCommandLine, USAGE } from "../../src/cli/args.js";
import {
  CLI_EXIT_CODES,
  cliExitCode,
  describeCliExitCode,
  signalExitCode,
} from "../../src/exit-codes.js";

function answered(argv: string[]) {
  const parsed = parseCommandLine(argv);
  if (parsed.kind !== "answered") throw new Error(`expected an answer, got ${parsed.kind}`);
  return parsed;
}

describe("the command line", () => {
  it('says "unknown option --bogus" and the usage, without Node\'s unbalanced quote', () => {
    const r = answered(["run", "job.yaml", "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBeUndefined();
    const [first, ...rest] = (r.stderr ?? "").split("\n");
    expect(first).toBe("ecs-batch: unknown option --bogus");
    expect(rest.join("\n")).toContain("Usage:\n  ecs-batch run <job.json|job.yaml> [options]");
    expect(r.stderr).toContain('Run "ecs-batch --help" for the options.');
    expect(r.stderr).not.toMatch(/positional argument|'--/);
  });

  it("names an unknown short option and an option missing its value", () => {
    expect(answered(["run", "-x"]).stderr).toMatch(/^ecs-batch: unknown option -x\n/);
    expect(answered(["run", "job.yaml", "--region"]).stderr).toMatch(
      /^ecs-batch: option --region needs a value\n/,
    );
    expect(answered(["run", "job.yaml", "--json=yes"]).stderr).toMatch(
      /^ecs-batch: option --json takes no value\n/,
    );
  });

  it("with --json, reports a mistake as one JSON object on stderr, with its issues", () => {
    const r = answered(["run", "job.yaml", "--json", "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBeUndefined();
    expect(r.stderr?.endsWith("\n")).toBe(true);
    expect(JSON.parse(r.stderr ?? "")).toEqual({
      event: "error",
      name: "EcsBatchValidationError",
      code: "VALIDATION",
      message: "Invalid command line: unknown option --bogus",
      issues: [{ path: "arguments", message: "unknown option --bogus" }],
    });
  });

  it("answers --help on stdout and a missing command with the usage on stderr", () => {
    expect(answered(["--help"])).toEqual({ kind: "answered", code: 0, stdout: USAGE });
    expect(answered([])).toEqual({ kind: "answered", code: 2, stderr: USAGE });
    expect(answered(["frobnicate"]).stderr).toMatch(
      /^ecs-batch: unknown command "frobnicate"; use "run", "preview", "demo", "attach", "stop", "status" or "stop-overdue"\nUsage:/,
    );
  });

  it("reads a job command, --quiet and the demo", () => {
    expect(parseCommandLine(["run", "job.yaml", "--quiet"])).toMatchObject({
      kind: "job",
      command: "run",
      file: "job.yaml",
      values: { quiet: true },
    });
    expect(parseCommandLine(["demo", "-q"])).toMatchObject({ kind: "job", command: "demo" });
    expect(answered(["demo", "job.yaml"]).stderr).toContain('"demo" runs its own job');
  });
});

describe("the exit codes, for wrappers", () => {
  it("are the documented ones, signals as 128 + the signal's number", () => {
    expect(CLI_EXIT_CODES).toEqual({
      succeeded: 0,
      failed: 1,
      invalid: 2,
      timedOut: 124,
      interrupted: 130,
      terminated: 143,
    });
    expect(signalExitCode("SIGINT")).toBe(130);
    expect(signalExitCode("SIGTERM")).toBe(143);
  });

  it("map a job's status, and a cancel by the signal that caused it", () => {
    expect(cliExitCode("succeeded")).toBe(0);
    expect(cliExitCode("failed")).toBe(1);
    expect(cliExitCode("timedOut")).toBe(124);
    expect(cliExitCode("cancelled")).toBe(130);
    expect(cliExitCode("cancelled", "SIGINT")).toBe(130);
    expect(cliExitCode("cancelled", "SIGTERM")).toBe(143);
    expect(describeCliExitCode(143)).toBe("cancelled by SIGTERM");
    expect(describeCliExitCode(3)).toBeUndefined();
  });

  it("are the ones --help lists", () => {
    const listed = /Exit codes: ([^]*)$/.exec(USAGE)?.[1]?.replace(/\s+/g, " ").trim();
    expect(listed).toBe(
      "0 succeeded, 1 failed, 2 invalid input or setup error, 124 timed out, 130 cancelled by SIGINT, 143 cancelled by SIGTERM.",
    );
    for (const code of Object.values(CLI_EXIT_CODES)) expect(listed).toContain(`${code} `);
  });
});

describe("the durable commands", () => {
  it("attach takes a job file, a run id and a state directory", () => {
    const parsed = parseCommandLine([
      "attach",
      "job.yaml",
      "--run-id",
      "r1",
      "--state-dir",
      "/var/lib/ecs-batch",
    ]);
    expect(parsed).toMatchObject({
      kind: "job",
      command: "attach",
      file: "job.yaml",
      values: { "run-id": "r1", "state-dir": "/var/lib/ecs-batch" },
    });
  });

  it("stop and status take a job id, a cluster name and a run id", () => {
    expect(
      parseCommandLine(["stop", "nightly", "--cluster", "batch", "--run-id", "r1"]),
    ).toMatchObject({
      kind: "janitor",
      command: "stop",
      jobId: "nightly",
      values: { cluster: "batch", "run-id": "r1" },
    });
    expect(parseCommandLine(["status", "nightly", "--json"])).toMatchObject({
      kind: "janitor",
      command: "status",
      jobId: "nightly",
    });
  });

  it("stop without a job id is a mistake in the command line", () => {
    const r = answered(["stop"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`"stop" needs the job's id`);
  });

  it("stop-overdue takes the cluster, a family, a grace and --dry-run, and no job id", () => {
    expect(
      parseCommandLine([
        "stop-overdue",
        "--cluster",
        "batch",
        "--family",
        "export",
        "--grace",
        "10m",
        "--dry-run",
      ]),
    ).toMatchObject({
      kind: "overdue",
      values: { cluster: "batch", family: "export", grace: "10m", "dry-run": true },
    });
    const r = answered(["stop-overdue", "nightly"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `"stop-overdue" looks at every job's tasks; to stop one job's, use "ecs-batch stop nightly"`,
    );
  });

  it("the usage lists them", () => {
    expect(USAGE).toContain("ecs-batch stop-overdue [--cluster <name>]");
    expect(USAGE).toContain("ecs-batch attach <job file>");
    expect(USAGE).toContain("ecs-batch stop <jobId>");
    expect(USAGE).toContain("ecs-batch status <jobId>");
  });
});
