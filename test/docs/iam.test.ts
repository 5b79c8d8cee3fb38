/**
 * docs/iam.md lists exactly the AWS actions the library calls. The commands are found in the
 * source (every `new XxxCommand(` and `new (ecsSdk().XxxCommand)(` outside the simulator and the
 * testing entry point, with the service taken from the SDK module accessor of `src/aws/sdk.ts`,
 * the `@aws-sdk/client-*` package the file imports it from, or, for a command destructured
 * from a module loaded on demand, the one client package that has it) and compared with the
 * first JSON policy block of docs/iam.md.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const src = join(root, "src");

/** Parts of src/ that answer AWS calls rather than send them. */
const EXCLUDED = ["simulator", "testing"].map((dir) => join(src, dir));

/** IAM actions that authorise part of another call and have no command of their own. */
const AUTHORISATION_ONLY = new Map([
  ["iam:PassRole", "RegisterTaskDefinition and RunTask with task or execution roles"],
  ["ecs:TagResource", "RunTask with tags (tag on create)"],
]);

/** IAM service prefix of each SDK client package. */
const SERVICE_PREFIX: Record<string, string> = {
  "@aws-sdk/client-ecs": "ecs",
  "@aws-sdk/client-cloudwatch-logs": "logs",
  "@aws-sdk/client-ec2": "ec2",
  "@aws-sdk/client-dynamodb": "dynamodb",
};

/** The package each SDK module accessor of `src/aws/sdk.ts` loads. */
const ACCESSOR_PACKAGE: Record<string, string> = {
  ecsSdk: "@aws-sdk/client-ecs",
  logsSdk: "@aws-sdk/client-cloudwatch-logs",
  ec2Module: "@aws-sdk/client-ec2",
};

/** The DynamoDB job store: its actions are a policy of their own, the second block. */
const STORE_DIR = join(src, "dynamodb");

function sourceFiles(dir: string): string[] {
  if (EXCLUDED.includes(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Which package each name imported from an `@aws-sdk/client-*` package comes from. */
function sdkImports(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*"(@aws-sdk\/[^"]+)"/g)) {
    const [, names = "", pkg = ""] = m;
    for (const raw of names.split(",")) {
      const local = raw
        .replace(/^\s*type\s+/, "")
        .split(/\s+as\s+/)
        .pop()
        ?.trim();
      if (local !== undefined && local !== "") out.set(local, pkg);
    }
  }
  return out;
}

/**
 * The client package of a command no import names: the one of `SERVICE_PREFIX` that has it
 * (`DescribeVpcsCommand` destructured from the EC2 module loaded on demand). Undefined when none
 * or several do.
 */
function packageWithCommand(command: string): string | undefined {
  const found = Object.keys(SERVICE_PREFIX).filter((pkg) =>
    existsSync(join(root, "node_modules", pkg, "dist-types", "commands", `${command}.d.ts`)),
  );
  return found.length === 1 ? found[0] : undefined;
}

/** `service:Action` for every command the files send, with where it is sent from. */
function actionsInCode(files: readonly string[]): Map<string, string[]> {
  const actions = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const imports = sdkImports(text);
    const commands = /new\s+(?:\((\w+)\(\)\.)?([A-Z][A-Za-z0-9]*)Command\s*\)?\s*\(/g;
    for (const m of text.matchAll(commands)) {
      const [, accessor, action = ""] = m;
      const where = relative(root, file);
      const pkg =
        (accessor === undefined ? undefined : ACCESSOR_PACKAGE[accessor]) ??
        imports.get(`${action}Command`) ??
        packageWithCommand(`${action}Command`);
      const prefix = pkg === undefined ? undefined : SERVICE_PREFIX[pkg];
      if (prefix === undefined) {
        throw new Error(
          `${where}: ${action}Command does not come from a known @aws-sdk client (${String(pkg)}); add its IAM prefix to this test`,
        );
      }
      const key = `${prefix}:${action}`;
      actions.set(key, [...(actions.get(key) ?? []), where]);
    }
  }
  return actions;
}

interface Statement {
  Action: string | string[];
}

/** The actions of the `index`th JSON policy block of the page. */
function actionsInDocs(doc: string, index = 0): Set<string> {
  const block = [...doc.matchAll(/```json\n([\s\S]*?)\n```/g)][index]?.[1];
  if (block === undefined)
    throw new Error(`docs/iam.md has no ${index + 1}. \`\`\`json policy block`);
  const policy = JSON.parse(block) as { Statement: Statement[] };
  return new Set(
    policy.Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])),
  );
}

describe("docs/iam.md", () => {
  const doc = readFileSync(join(root, "docs", "iam.md"), "utf8");
  const files = sourceFiles(src);
  const code = actionsInCode(files.filter((f) => !f.startsWith(STORE_DIR)));
  const documented = actionsInDocs(doc);
  const storeCode = actionsInCode(files.filter((f) => f.startsWith(STORE_DIR)));
  const storeDocumented = actionsInDocs(doc, 1);

  it("finds the commands the library sends", () => {
    // A guard against the scan silently finding nothing.
    expect(code.has("ecs:RunTask")).toBe(true);
    expect(code.size).toBeGreaterThanOrEqual(8);
  });

  it("lists exactly the actions the code calls, plus the authorisation-only ones", () => {
    const expected = [...code.keys(), ...AUTHORISATION_ONLY.keys()].sort();
    expect([...documented].sort()).toEqual(expected);
  });

  it("lists exactly the actions the DynamoDB store calls, in a policy of its own", () => {
    expect(storeCode.has("dynamodb:UpdateItem")).toBe(true);
    expect([...storeDocumented].sort()).toEqual([...storeCode.keys()].sort());
  });

  it("explains every action in the feature table", () => {
    for (const action of [...documented, ...storeDocumented]) {
      expect(doc, `no row for ${action} in the feature table`).toMatch(
        new RegExp(`^\\| \`${action.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\` +\\|`, "m"),
      );
    }
  });
});
