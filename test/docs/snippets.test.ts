/**
 * Every ```ts block of README.md and docs/*.md compiles: each is type-checked as a module of its
 * own, with the repository's compiler options (strict, `noUncheckedIndexedAccess`) and
 * `ecs-batch-runner` resolved to src/ as tsconfig.json maps it. A snippet a reader copies must
 * work as written.
 *
 * The info string can say more about a block:
 * - ```ts continues: the block goes on from the previous checked block of the same page (the
 *   page says so in its text), and is checked appended to it;
 * - ```ts nocheck: not checked at all; for a fragment that cannot stand alone. Keep them rare.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** One fenced block of a page. */
interface Block {
  readonly doc: string;
  /** Line of the first line of code in the page (1-based). */
  readonly line: number;
  readonly info: string[];
  readonly code: string;
}

/** A checked unit: a block, after the blocks it continues. */
interface Snippet {
  readonly doc: string;
  readonly fileName: string;
  readonly text: string;
  /** Where each part of `text` comes from: its first line in `text` (0-based) and in the page. */
  readonly parts: { readonly at: number; readonly line: number; readonly lines: number }[];
}

const pages = [
  "README.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`),
];

function blocks(doc: string): Block[] {
  const lines = readFileSync(join(root, doc), "utf8").split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i] ?? "");
    if (open === null) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    if (end === -1) throw new Error(`${doc}:${i + 1}: unclosed code block`);
    out.push({
      doc,
      line: i + 2,
      info: [open[1] ?? "", ...(open[2] ?? "").trim().split(/\s+/).filter(Boolean)],
      code: lines.slice(i + 1, end).join("\n"),
    });
    i = end;
  }
  return out;
}

const isTs = (b: Block): boolean => b.info[0] === "ts" || b.info[0] === "typescript";

function snippets(): { checked: Snippet[]; skipped: Block[] } {
  const checked: Snippet[] = [];
  const skipped: Block[] = [];
  for (const doc of pages) {
    let previous: Snippet | undefined;
    for (const block of blocks(doc).filter(isTs)) {
      if (block.info.includes("nocheck")) {
        skipped.push(block);
        continue;
      }
      const base = block.info.includes("continues") ? previous : undefined;
      if (block.info.includes("continues") && base === undefined) {
        throw new Error(`${doc}:${block.line}: "ts continues" with no checked block before it`);
      }
      const head = base === undefined ? "" : `${base.text}\n`;
      const at = head === "" ? 0 : head.split("\n").length - 1;
      const snippet: Snippet = {
        doc,
        fileName: join(root, ".tmp", "snippets", `${doc.replace(/[/.]/g, "_")}_${block.line}.ts`),
        text: `${head}${block.code}\n`,
        parts: [
          ...(base?.parts ?? []),
          { at, line: block.line, lines: block.code.split("\n").length },
        ],
      };
      checked.push(snippet);
      previous = snippet;
    }
  }
  return { checked, skipped };
}

/** The repository's compiler options, for modules of their own that may use top-level await. */
function compilerOptions(): ts.CompilerOptions {
  const configPath = join(root, "tsconfig.json");
  const read = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  if (read.error !== undefined)
    throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, "\n"));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configPath);
  return {
    ...parsed.options,
    noEmit: true,
    // Each snippet is a module (so top-level await works and names do not collide).
    moduleDetection: ts.ModuleDetectionKind.Force,
  };
}

/** Where a diagnostic is, in the page: `docs/testing.md:27`. */
function pageLine(snippet: Snippet, line: number): string {
  const part = [...snippet.parts].reverse().find((p) => line >= p.at) ?? snippet.parts[0];
  return `${snippet.doc}:${(part?.line ?? 0) + line - (part?.at ?? 0)}`;
}

const { checked, skipped } = snippets();
const problems = new Map<string, string[]>();

beforeAll(() => {
  const options = compilerOptions();
  const files = new Map(checked.map((s) => [s.fileName, s]));
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, language, onError, create) => {
    const snippet = files.get(fileName);
    return snippet === undefined
      ? getSourceFile(fileName, language, onError, create)
      : ts.createSourceFile(fileName, snippet.text, language, true);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => files.has(fileName) || fileExists(fileName);
  const readFile = host.readFile.bind(host);
  host.readFile = (fileName) => files.get(fileName)?.text ?? readFile(fileName);
  const program = ts.createProgram([...files.keys()], options, host);
  for (const snippet of checked) {
    const source = program.getSourceFile(snippet.fileName);
    if (source === undefined) throw new Error(`${snippet.fileName} not in the program`);
    const diagnostics = [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ];
    const list = problems.get(snippet.doc) ?? [];
    for (const d of diagnostics) {
      const line = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line;
      list.push(
        `${pageLine(snippet, line)}: TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`,
      );
    }
    problems.set(snippet.doc, list);
  }
}, 120_000);

describe("the TypeScript in the docs", () => {
  it("is found: README.md and docs/ hold checked blocks, and few are left unchecked", () => {
    expect(checked.length).toBeGreaterThanOrEqual(20);
    expect(new Set(checked.map((s) => s.doc))).toContain("README.md");
    expect(
      skipped.map((b) => `${b.doc}:${b.line}`),
      "keep ```ts nocheck for the rare fragment that cannot stand alone",
    ).toHaveLength(0);
  });

  for (const doc of pages) {
    it(`compiles in ${doc}`, () => {
      expect(problems.get(doc) ?? [], relative(root, join(root, doc))).toEqual([]);
    });
  }
});
