import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/index.js";

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["45m", 2_700_000],
    ["1h", 3_600_000],
    ["2h15m30s", 8_130_000],
    ["2h30m", 9_000_000],
    ["3600s", 3_600_000],
    ["1.5h", 5_400_000],
    ["1m30.5s", 90_500],
    ["250us", 0.25],
    ["1000", 1000],
    [1500, 1500],
    [0, 0],
  ])("reads %j as %d ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    "30 seconds",
    "",
    "1d",
    "h",
    "-5s",
    "5s ago",
    "1h 30m",
    "abc",
    Number.NaN,
    -1,
    Number.POSITIVE_INFINITY,
  ])("rejects %j", (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe("formatDuration", () => {
  it.each([
    [500, "500ms"],
    [30_000, "30s"],
    [8_130_000, "2h15m30s"],
    [3_600_000, "1h"],
    [60_000, "1m"],
  ])("formats %d as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
