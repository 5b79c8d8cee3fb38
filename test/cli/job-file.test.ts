/**
 * A job file that does not parse is reported with the parser's complaint, the line and column,
 * and the offending line with a caret under the column.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { excerptAt, jsonErrorOffset, parseJobText } from "../../src/cli/job-file.js";
import { EcsBatchValidationError } from "../../src/errors.js";

/** The message of the one issue `parseJobText` reports for `text`. */
function problem(text: string, path: string): string {
  try {
    parseJobText(text, `/jobs/${path}`, path);
  } catch (error) {
    if (!(error instanceof EcsBatchValidationError)) throw error;
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.path).toBe("job file");
    return error.issues[0]?.message ?? "";
  }
  throw new Error("expected a parse error");
}

describe("a malformed YAML job file", () => {
  it("names the problem, the line and column, and shows the line", () => {
    const text = "jobId: demo\ntaskDefinition:\n  path: a: b\ntaskCount: 4\n";
    expect(problem(text, "job.yaml")).toBe(
      [
        "job.yaml is not valid YAML: Nested mappings are not allowed in compact mappings, at line 3, column 9:",
        "    3 |   path: a: b",
        "      |         ^",
      ].join("\n"),
    );
  });

  it("never ends on the dangling colon of the parser's first line", () => {
    const message = problem("a: 1\na: 2\n", "job.yml");
    expect(message).toMatch(
      /^job\.yml is not valid YAML: Map keys must be unique, at line 2, column 1:\n/,
    );
    expect(message.trimEnd()).not.toMatch(/:$/);
    expect(message).toContain("    2 | a: 2\n      | ^");
  });
});

describe("a malformed JSON job file", () => {
  it("gives a line and column instead of a character position", () => {
    const text = '{\n  "jobId": "demo",\n  "taskCount": 2\n  "cluster": "batch"\n}\n';
    expect(problem(text, "job.json")).toBe(
      [
        "job.json is not valid JSON: Expected ',' or '}' after property value, at line 4, column 3:",
        '    4 |   "cluster": "batch"',
        "      |   ^",
      ].join("\n"),
    );
  });

  it("finds the place of an error JSON.parse reports without a position", () => {
    const message = problem('{\n  "logs": { "follow": tru }\n}', "job.json");
    expect(message).toBe(
      [
        "job.json is not valid JSON: Unexpected token ' ', at line 2, column 26:",
        '    2 |   "logs": { "follow": tru }',
        "      |                          ^",
      ].join("\n"),
    );
  });

  it("says where a truncated file ends", () => {
    expect(problem('{\n  "jobId": "demo",\n  "taskCount":', "job.json")).toBe(
      [
        "job.json is not valid JSON: the file ends before the JSON does, at line 3, column 15:",
        '    3 |   "taskCount":',
        "      |               ^",
      ].join("\n"),
    );
  });

  it("accepts a byte order mark, as Windows editors write one", () => {
    expect(parseJobText('\uFEFF{"taskCount": 2}', "job.json")).toEqual({ taskCount: 2 });
  });
});

describe("the excerpt", () => {
  it("keeps tabs under the line, so the caret stays under the column", () => {
    expect(excerptAt("\tkey: [1,\n", { line: 1, column: 7 })).toBe(
      "    1 | \tkey: [1,\n      | \t     ^",
    );
  });

  it("cuts a long line (minified JSON) to the part around the column", () => {
    const line = `${"a".repeat(200)}X${"b".repeat(200)}`;
    const [shown = "", caret = ""] = excerptAt(line, { line: 1, column: 201 }).split("\n");
    expect(shown.length).toBeLessThan(120);
    expect(shown.charAt(caret.indexOf("^"))).toBe("X");
  });
});

describe("jsonErrorOffset", () => {
  it("finds no error in what JSON.parse accepts", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, pretty) => {
        expect(
          jsonErrorOffset(JSON.stringify(value, null, pretty ? 2 : undefined)),
        ).toBeUndefined();
      }),
    );
  });

  it("finds an error exactly where JSON.parse rejects", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...Array.from('{}[]:,"\\ -01e.tfnalsru\n')) }),
        (text) => {
          let valid = true;
          try {
            JSON.parse(text);
          } catch {
            valid = false;
          }
          expect(jsonErrorOffset(text) === undefined).toBe(valid);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
