/**
 * The text format of fetched logs (DESIGN 3.6), as Heimdall prints it:
 *
 *     === ecs/main/abc123def456789 ===
 *
 *     [2023-11-11 13:45:23] Starting application...
 *
 * UTC, second precision. A message's own trailing newline (the awslogs driver keeps it) does not
 * add a blank line; several streams are separated by one blank line.
 */

/** One log event as both GetLogEvents and FilterLogEvents return it. */
export interface LogLine {
  readonly timestamp: number;
  readonly message: string;
}

/** `2023-11-11 13:45:23` in UTC. */
export function formatTimestamp(timestamp: number): string {
  return new Date(timestamp).toISOString().slice(0, 19).replace("T", " ");
}

/** `[2023-11-11 13:45:23] message`, without the message's own trailing newline. */
export function formatLogLine(line: LogLine): string {
  return `[${formatTimestamp(line.timestamp)}] ${line.message.replace(/\r?\n$/, "")}`;
}

/** The header of one stream's section. */
export function formatStreamHeader(stream: string): string {
  return `=== ${stream} ===`;
}

/** One stream's section: header, blank line, one line per event (and notes, such as a truncation). */
export function formatStreamSection(
  stream: string,
  lines: readonly LogLine[],
  notes: readonly string[] = [],
): string {
  const body = [...lines.map(formatLogLine), ...notes].map((l) => `${l}\n`).join("");
  return `${formatStreamHeader(stream)}\n\n${body}`;
}

/** Several sections, one blank line apart. */
export function joinSections(sections: readonly string[]): string {
  return sections.join("\n");
}
