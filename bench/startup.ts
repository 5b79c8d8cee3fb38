/**
 * `npm run bench:startup`: what starting costs a host. In one run, each in a fresh `node`
 * process, several times, interleaved: importing the built library (ESM and CommonJS), the
 * CLI's `--help`, and as yardsticks `node -e 0` and importing the two SDK clients every job
 * needs (ECS and CloudWatch Logs) alone. Prints the medians of wall time and peak RSS, and the
 * targets met or missed (issue 23):
 *
 * - importing the library takes at most 1.25 times as long as importing the two clients, and
 *   at most 15 MB more RSS;
 * - `ecs-batch --help` takes at most twice as long as `node -e 0`.
 *
 *   npm run bench:startup                 # 15 runs of each case
 *   npm run bench:startup -- --runs 31    # more runs, steadier medians on a busy machine
 *
 * Wall time is the parent's, from spawning the process to its exit (process creation and
 * Node's own start included, the same for every case); the targets read its medians. CPU time
 * (user + system) and peak RSS are the child's own (`process.resourceUsage()`), written at exit
 * by a preloaded probe (`-r`, a few lines of CommonJS, the same for every case). On a busy
 * machine wall time varies from run to run and CPU time much less: compare the two. Writes
 * bench/out/startup.json.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import buildPackage from "../test/setup/build.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const out = join(root, "bench", "out");

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "15" },
    "no-build": { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs takes a whole number ≥ 1");

/** One way of starting a process. */
interface Case {
  readonly name: string;
  readonly args: readonly string[];
}

const clientsEsm =
  'await import("@aws-sdk/client-ecs"); await import("@aws-sdk/client-cloudwatch-logs");';
const clientsCjs = 'require("@aws-sdk/client-ecs"); require("@aws-sdk/client-cloudwatch-logs");';

/** The package imports itself by name (Node resolves a package's own name from inside it). */
const CASES = {
  node: { name: "node -e 0", args: ["-e", "0"] },
  clientsEsm: {
    name: "import ECS + Logs clients",
    args: ["--input-type=module", "-e", clientsEsm],
  },
  libraryEsm: {
    name: 'import("ecs-batch-runner")',
    args: ["--input-type=module", "-e", 'await import("ecs-batch-runner");'],
  },
  // The library loads the SDK modules on first use (src/aws/sdk.ts): this is what a host
  // that goes on to run a job pays by then (the EC2 module only if a network is inferred).
  libraryAndClientsEsm: {
    name: "import library + ECS + Logs clients",
    args: ["--input-type=module", "-e", `await import("ecs-batch-runner"); ${clientsEsm}`],
  },
  clientsCjs: { name: "require ECS + Logs clients", args: ["-e", clientsCjs] },
  libraryCjs: { name: 'require("ecs-batch-runner")', args: ["-e", 'require("ecs-batch-runner");'] },
  help: { name: "ecs-batch --help", args: [join(root, "dist", "cli", "main.js"), "--help"] },
  ec2: { name: "require EC2 client (for scale)", args: ["-e", 'require("@aws-sdk/client-ec2");'] },
} satisfies Record<string, Case>;

type CaseId = keyof typeof CASES;

/** Writes the process's peak RSS (KiB) and CPU time (µs) to fd 3 as it exits. */
const PROBE = `process.on("exit", () => { try { const u = process.resourceUsage(); require("node:fs").writeSync(3, JSON.stringify({ rss: u.maxRSS, cpu: u.userCPUTime + u.systemCPUTime })); } catch {} });\n`;

interface Sample {
  readonly ms: number;
  readonly cpuMs: number;
  readonly rssMb: number;
}

function once(probe: string, c: Case): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["-r", probe, ...c.args], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe", "pipe"],
    });
    let probed = "";
    let stderr = "";
    child.stdio[3]?.on("data", (d: Buffer) => (probed += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      const ms = performance.now() - started;
      child.on("close", () => {
        if (code !== 0) reject(new Error(`${c.name} exited ${String(code)}: ${stderr}`));
        else {
          const { rss, cpu } = JSON.parse(probed) as { rss: number; cpu: number };
          resolve({ ms, cpuMs: cpu / 1000, rssMb: rss / 1024 });
        }
      });
    });
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

interface Figures {
  readonly name: string;
  readonly medianMs: number;
  readonly minMs: number;
  readonly medianCpuMs: number;
  readonly medianRssMb: number;
}

async function main(): Promise<void> {
  if (!values["no-build"]) {
    process.stdout.write("building the package (tsup, unless dist/ is fresh)...\n");
    await buildPackage();
  }
  mkdirSync(out, { recursive: true });
  const probe = join(out, "startup-probe.cjs");
  writeFileSync(probe, PROBE);
  const ids = Object.keys(CASES) as CaseId[];
  const samples = new Map<CaseId, Sample[]>(ids.map((id) => [id, []]));
  // One warm-up round (file system caches), then the measured rounds, cases interleaved so
  // that a busy moment of the machine spreads over all of them.
  for (const id of ids) await once(probe, CASES[id]);
  for (let r = 0; r < runs; r++) {
    for (const id of ids) samples.get(id)?.push(await once(probe, CASES[id]));
    process.stdout.write(`\rround ${r + 1}/${runs}`);
  }
  process.stdout.write("\n\n");
  const figures = Object.fromEntries(
    ids.map((id) => {
      const s = samples.get(id) ?? [];
      const f: Figures = {
        name: CASES[id].name,
        medianMs: median(s.map((x) => x.ms)),
        minMs: Math.min(...s.map((x) => x.ms)),
        medianCpuMs: median(s.map((x) => x.cpuMs)),
        medianRssMb: median(s.map((x) => x.rssMb)),
      };
      return [id, f];
    }),
  ) as Record<CaseId, Figures>;

  const rows = ids.map((id) => {
    const f = figures[id];
    return [
      f.name,
      f.medianMs.toFixed(0),
      f.minMs.toFixed(0),
      f.medianCpuMs.toFixed(0),
      f.medianRssMb.toFixed(1),
    ];
  });
  printTable(
    ["case", "wall ms (median)", "wall ms (min)", "CPU ms (median)", "peak RSS MB (median)"],
    rows,
  );

  const targets: [string, string, boolean][] = [];
  const time = (lib: CaseId, base: CaseId, factor: number, label: string) => {
    const ratio = figures[lib].medianMs / figures[base].medianMs;
    targets.push([
      `${label} ≤ ${factor}× ${figures[base].name}`,
      `${figures[lib].medianMs.toFixed(0)} ms vs ${figures[base].medianMs.toFixed(0)} ms (${ratio.toFixed(2)}×)`,
      ratio <= factor,
    ]);
  };
  const rss = (lib: CaseId, base: CaseId, extraMb: number, label: string) => {
    const extra = figures[lib].medianRssMb - figures[base].medianRssMb;
    targets.push([
      `${label} RSS ≤ ${figures[base].name} + ${extraMb} MB`,
      `${figures[lib].medianRssMb.toFixed(1)} MB vs ${figures[base].medianRssMb.toFixed(1)} MB (${extra >= 0 ? "+" : ""}${extra.toFixed(1)} MB)`,
      extra <= extraMb,
    ]);
  };
  time("libraryEsm", "clientsEsm", 1.25, figures.libraryEsm.name);
  rss("libraryEsm", "clientsEsm", 15, figures.libraryEsm.name);
  time("libraryCjs", "clientsCjs", 1.25, figures.libraryCjs.name);
  rss("libraryCjs", "clientsCjs", 15, figures.libraryCjs.name);
  time("help", "node", 2, figures.help.name);
  process.stdout.write("\nTARGETS\n\n");
  printTable(
    ["", "target", "measured"],
    targets.map(([target, measured, met]) => [met ? "met" : "MISSED", target, measured]),
  );
  const both = figures.libraryAndClientsEsm;
  process.stdout.write(
    `\nNot a target: a host that goes on to run a job has paid ${both.medianMs.toFixed(0)} ms and ${both.medianRssMb.toFixed(1)} MB once the job has loaded the two clients (${(both.medianMs / figures.clientsEsm.medianMs).toFixed(2)}× the clients alone; zod and the library's own modules are the difference).\n`,
  );
  process.stdout.write(
    "\n(The 10,000-task benchmark's peak RSS is measured by `npm run bench`, real-time mode.)\n",
  );
  const file = join(out, "startup.json");
  writeFileSync(
    file,
    `${JSON.stringify({ runs, node: process.version, figures, targets }, null, 2)}\n`,
  );
  process.stdout.write(`written: ${file}\n`);
}

function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  process.stdout.write(`${line(header)}\n${line(widths.map((w) => "-".repeat(w)))}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

await main();
