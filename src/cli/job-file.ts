/**
 * Reading a job file's text (JSON or YAML) into a value, with parse errors a person can act on:
 * the parser's complaint, the line and column, and the offending line with a caret under the
 * column. `JSON.parse` reports a character offset at best (and for an unexpected token, none),
 * and YAML's message puts its location and context after the first line.
 */
import { parse as parseYaml, YAMLParseError } from "yaml";
import { EcsBatchValidationError } from "../errors.js";

/** Where a parse error is: 1-based line and column. */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

/**
 * Parses a job file: JSON when `path` ends in `.json`, else YAML (a superset of JSON). Throws
 * `EcsBatchValidationError` with one issue (path `job file`) naming `shownPath`, the position and
 * the offending line. A leading byte order mark is ignored, as editors on Windows write one.
 */
export function parseJobText(text: string, path: string, shownPath: string = path): unknown {
  const source = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const json = /\.json$/i.test(path);
  try {
    return json ? JSON.parse(source) : parseYaml(source);
  } catch (error) {
    const { problem, position } = json ? jsonProblem(error, source) : yamlProblem(error);
    const where =
      position === undefined ? "" : `, at line ${position.line}, column ${position.column}`;
    const excerpt = position === undefined ? "" : `:\n${excerptAt(source, position)}`;
    throw new EcsBatchValidationError(
      [
        {
          path: "job file",
          message: `${shownPath} is not valid ${json ? "JSON" : "YAML"}: ${problem}${where}${excerpt}`,
        },
      ],
      { intro: "Invalid job file" },
    );
  }
}

/** What YAML found wrong, without the location and context its message appends. */
function yamlProblem(error: unknown): { problem: string; position?: TextPosition } {
  const message = error instanceof Error ? error.message : String(error);
  const problem = message.split(/ at line \d+, column \d+/)[0]?.trim() ?? message;
  const at = error instanceof YAMLParseError ? error.linePos?.[0] : undefined;
  return at === undefined ? { problem } : { problem, position: { line: at.line, column: at.col } };
}

/** What `JSON.parse` found wrong, and where: from its message, else from our own scan. */
function jsonProblem(error: unknown, text: string): { problem: string; position?: TextPosition } {
  const message = error instanceof Error ? error.message : String(error);
  const problem = /^Unexpected end of JSON input/.test(message)
    ? "the file ends before the JSON does"
    : message
        // `... in JSON at position 23` (and, in newer Node, `(line 4 column 3)`)
        .replace(/\s+in JSON at position \d+.*$/, "")
        // `Unexpected token '}', "{"a": tru}" is not valid JSON`
        .replace(/,\s*(\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, "")
        .replace(/\s+is not valid JSON$/, "");
  const reported = /at position (\d+)/.exec(message)?.[1];
  const offset = reported === undefined ? jsonErrorOffset(text) : Number(reported);
  return offset === undefined ? { problem } : { problem, position: positionAt(text, offset) };
}

/** Line and column (1-based) of a character offset. */
export function positionAt(text: string, offset: number): TextPosition {
  const before = text.slice(0, Math.min(offset, text.length));
  const lines = before.split("\n");
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

/**
 * The offending line with its number and a caret under the column; a long line (minified
 * JSON) is cut to the part around the column.
 */
export function excerptAt(text: string, position: TextPosition): string {
  const raw = (text.split(/\r?\n/)[position.line - 1] ?? "").replace(/\r$/, "");
  let line = raw;
  let column = position.column;
  const before = 60;
  const after = 40;
  if (column - 1 > before) {
    const cut = column - 1 - before;
    line = `…${line.slice(cut + 1)}`;
    column -= cut;
  }
  if (line.length > column + after) line = `${line.slice(0, column + after)}…`;
  const number = String(position.line);
  const gutter = " ".repeat(number.length);
  // Tabs stay tabs under the line, so the caret lands under the column in any tab width.
  const pad = line.slice(0, Math.max(0, column - 1)).replace(/[^\t]/g, " ");
  return `    ${number} | ${line}\n    ${gutter} | ${pad}^`;
}

/**
 * The offset of the first JSON syntax error in `text`, or `undefined` when it has none. For the
 * errors `JSON.parse` reports without a position (an unexpected token, a bad literal).
 */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new JsonSyntaxAt(i);
  };
  const space = (): void => {
    while (i < text.length && " \t\n\r".includes(text.charAt(i))) i++;
  };
  const expect = (c: string): void => {
    if (text.charAt(i) !== c) fail();
    i++;
  };
  const string = (): void => {
    expect('"');
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charAt(i);
      if (c === '"') {
        i++;
        return;
      }
      if (c < " ") fail();
      if (c === "\\") {
        i++;
        const e = text.charAt(i);
        if (e === "u") {
          for (let k = 1; k <= 4; k++) {
            if (!/[0-9a-fA-F]/.test(text.charAt(i + k))) {
              i += k;
              fail();
            }
          }
          i += 5;
        } else if ('"\\/bfnrt'.includes(e) && e !== "") i++;
        else fail();
      } else i++;
    }
  };
  const digits = (): void => {
    if (!/[0-9]/.test(text.charAt(i))) fail();
    while (/[0-9]/.test(text.charAt(i))) i++;
  };
  const number = (): void => {
    if (text.charAt(i) === "-") i++;
    if (text.charAt(i) === "0") i++;
    else digits();
    if (text.charAt(i) === ".") {
      i++;
      digits();
    }
    if (/[eE]/.test(text.charAt(i))) {
      i++;
      if (/[+-]/.test(text.charAt(i))) i++;
      digits();
    }
  };
  const literal = (word: string): void => {
    for (const c of word) expect(c);
  };
  const value = (): void => {
    space();
    const c = text.charAt(i);
    if (c === "{") {
      i++;
      space();
      if (text.charAt(i) === "}") {
        i++;
        return;
      }
      for (;;) {
        space();
        string();
        space();
        expect(":");
        value();
        space();
        if (text.charAt(i) === ",") i++;
        else return expect("}");
      }
    }
    if (c === "[") {
      i++;
      space();
      if (text.charAt(i) === "]") {
        i++;
        return;
      }
      for (;;) {
        value();
        space();
        if (text.charAt(i) === ",") i++;
        else return expect("]");
      }
    }
    if (c === '"') return string();
    if (c === "-" || /[0-9]/.test(c)) return number();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    fail();
  };
  try {
    value();
    space();
    return i < text.length ? i : undefined;
  } catch (error) {
    if (error instanceof JsonSyntaxAt) return error.offset;
    throw error;
  }
}

/** Where `jsonErrorOffset`'s scan stopped; never leaves it. */
class JsonSyntaxAt extends Error {
  constructor(readonly offset: number) {
    super(`JSON syntax error at ${offset}`);
  }
}
