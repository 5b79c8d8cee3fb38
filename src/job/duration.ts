/**
 * Durations as Heimdall and Go write them: `"500ms"`, `"30s"`, `"45m"`, `"2h15m30s"`,
 * `"1.5h"`, or a plain number of milliseconds.
 */

/** A duration as users write it: milliseconds, or a Go-style string such as `"2h15m30s"`. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Why a duration string was rejected; the schema turns it into a field-named message. */
export const DURATION_HINT = 'use "30s", "1h", "2h15m30s" or milliseconds';

/**
 * Parses a duration to milliseconds. Returns `undefined` for anything that is not a duration
 * (the caller owns the error message, because only it knows the field name).
 */
export function parseDuration(input: Duration): number | undefined {
  if (typeof input === "number") return Number.isFinite(input) && input >= 0 ? input : undefined;
  const text = input.trim();
  if (text === "") return undefined;
  // A bare number in a string is read as milliseconds, like the number itself.
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (m === null) return undefined;
    const [, amount, unit] = m as unknown as [string, string, string];
    total += Number(amount) * (UNIT_MS[unit] ?? Number.NaN);
    pos = PART.lastIndex;
  }
  return Number.isFinite(total) ? total : undefined;
}

/** Formats milliseconds the Go way (`"2h15m30s"`, `"500ms"`), for messages and docs. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const s = rest - m * 60;
  return `${h > 0 ? `${h}h` : ""}${m > 0 ? `${m}m` : ""}${s > 0 || (h === 0 && m === 0) ? `${s}s` : ""}`;
}
