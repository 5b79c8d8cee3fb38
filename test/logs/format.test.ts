import { describe, expect, it } from "vitest";
import {
  formatLogLine,
  formatStreamSection,
  formatTimestamp,
  joinSections,
} from "../../src/index.js";

const at = (iso: string) => Date.parse(`${iso}Z`);

describe("log text format", () => {
  it("matches the reference README's example byte for byte", () => {
    const text = formatStreamSection("ecs/main/abc123def456789", [
      { timestamp: at("2023-11-11T13:45:23.512"), message: "Starting application..." },
      { timestamp: at("2023-11-11T13:45:24.001"), message: "Processing data batch\n" },
      { timestamp: at("2023-11-11T13:45:25.999"), message: "Task completed successfully" },
    ]);
    expect(text).toBe(
      "=== ecs/main/abc123def456789 ===\n" +
        "\n" +
        "[2023-11-11 13:45:23] Starting application...\n" +
        "[2023-11-11 13:45:24] Processing data batch\n" +
        "[2023-11-11 13:45:25] Task completed successfully\n",
    );
  });

  it("uses UTC at second precision", () => {
    expect(formatTimestamp(Date.UTC(2024, 1, 29, 23, 59, 59, 999))).toBe("2024-02-29 23:59:59");
  });

  it("drops one trailing newline (LF or CRLF) but keeps inner ones and blank messages", () => {
    expect(formatLogLine({ timestamp: 0, message: "a\r\n" })).toBe("[1970-01-01 00:00:00] a");
    expect(formatLogLine({ timestamp: 0, message: "a\nb\n" })).toBe("[1970-01-01 00:00:00] a\nb");
    expect(formatLogLine({ timestamp: 0, message: "a\n\n" })).toBe("[1970-01-01 00:00:00] a\n");
    expect(formatLogLine({ timestamp: 0, message: "" })).toBe("[1970-01-01 00:00:00] ");
  });

  it("separates streams by one blank line", () => {
    const text = joinSections([
      formatStreamSection("ecs/main/t1", [{ timestamp: 0, message: "m" }]),
      formatStreamSection("ecs/side/t1", [], ["[ecs-batch-runner] note"]),
    ]);
    expect(text).toBe(
      "=== ecs/main/t1 ===\n\n[1970-01-01 00:00:00] m\n\n=== ecs/side/t1 ===\n\n[ecs-batch-runner] note\n",
    );
  });
});
