/**
 * Simulated CloudWatch Logs: groups, streams and events, read with GetLogEvents (forward and
 * backward tokens, the forward token repeating at the end of a stream) and FilterLogEvents
 * (many streams per call, interleaved by time), with the documented size limits.
 */
import type { ActionHandler } from "./control.js";
import { serviceError } from "./errors.js";

/** One stored log event. */
export interface StoredLogEvent {
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
  readonly eventId: string;
  /** Global arrival order, the tie-breaker between equal timestamps. */
  readonly seq: number;
}

interface Stream {
  readonly name: string;
  readonly creationTime: number;
  readonly events: StoredLogEvent[];
  storedBytes: number;
}

interface Group {
  readonly name: string;
  readonly creationTime: number;
  readonly streams: Map<string, Stream>;
}

/** CloudWatch counts an event as its UTF-8 message size plus 26 bytes. */
const EVENT_OVERHEAD = 26;
const MAX_RESPONSE_BYTES = 1_048_576;
const MAX_EVENTS = 10_000;

function eventSize(e: { message: string }): number {
  return Buffer.byteLength(e.message, "utf8") + EVENT_OVERHEAD;
}

function compareEvents(a: StoredLogEvent, b: StoredLogEvent): number {
  return a.timestamp - b.timestamp || a.seq - b.seq;
}

/** The log store and its API. */
export class SimulatedLogs {
  readonly #groups = new Map<string, Group>();
  #seq = 0;

  constructor(private readonly now: () => number) {}

  /** Creates a group if it does not exist. */
  ensureGroup(name: string): void {
    if (!this.#groups.has(name))
      this.#groups.set(name, { name, creationTime: this.now(), streams: new Map() });
  }

  hasGroup(name: string): boolean {
    return this.#groups.has(name);
  }

  /** Appends events to a stream, creating the stream (and, with `createGroup`, the group). */
  append(
    group: string,
    stream: string,
    events: readonly { timestamp: number; message: string }[],
    createGroup = true,
  ): void {
    if (createGroup) this.ensureGroup(group);
    const g = this.#groups.get(group);
    if (g === undefined)
      throw serviceError("ResourceNotFoundException", "The specified log group does not exist.");
    let s = g.streams.get(stream);
    if (s === undefined) {
      s = { name: stream, creationTime: this.now(), events: [], storedBytes: 0 };
      g.streams.set(stream, s);
    }
    for (const e of events) {
      const seq = ++this.#seq;
      const stored: StoredLogEvent = {
        timestamp: e.timestamp,
        message: e.message,
        ingestionTime: this.now(),
        eventId: String(seq).padStart(56, "0"),
        seq,
      };
      s.storedBytes += eventSize(stored);
      // Events mostly arrive in time order; insert in place when one does not.
      let i = s.events.length;
      while (i > 0 && compareEvents(s.events[i - 1] as StoredLogEvent, stored) > 0) i--;
      s.events.splice(i, 0, stored);
    }
  }

  /** Every event of a stream, for assertions. */
  events(group: string, stream: string): readonly StoredLogEvent[] {
    return this.#groups.get(group)?.streams.get(stream)?.events ?? [];
  }

  /** The API handlers. */
  handlers(): Record<string, ActionHandler> {
    return {
      CreateLogGroup: (input) => {
        const name = str(input.logGroupName, "logGroupName");
        if (this.#groups.has(name))
          throw serviceError(
            "ResourceAlreadyExistsException",
            "The specified log group already exists",
          );
        this.ensureGroup(name);
        return {};
      },
      CreateLogStream: (input) => {
        const g = this.#group(input);
        const name = str(input.logStreamName, "logStreamName");
        if (g.streams.has(name))
          throw serviceError(
            "ResourceAlreadyExistsException",
            "The specified log stream already exists",
          );
        g.streams.set(name, { name, creationTime: this.now(), events: [], storedBytes: 0 });
        return {};
      },
      PutLogEvents: (input) => {
        const g = this.#group(input);
        const name = str(input.logStreamName, "logStreamName");
        if (!g.streams.has(name))
          throw serviceError(
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
          );
        const events = (input.logEvents ?? []) as { timestamp: number; message: string }[];
        if (events.length === 0 || events.length > MAX_EVENTS) {
          throw serviceError("InvalidParameterException", "logEvents must hold 1 to 10000 events");
        }
        this.append(g.name, name, events, false);
        return { rejectedLogEventsInfo: undefined };
      },
      DescribeLogGroups: (input) => {
        const prefix = typeof input.logGroupNamePrefix === "string" ? input.logGroupNamePrefix : "";
        return {
          logGroups: [...this.#groups.values()]
            .filter((g) => g.name.startsWith(prefix))
            .map((g) => ({ logGroupName: g.name, creationTime: g.creationTime, storedBytes: 0 })),
        };
      },
      DescribeLogStreams: (input) => this.#describeStreams(input),
      GetLogEvents: (input) => this.#getLogEvents(input),
      FilterLogEvents: (input) => this.#filterLogEvents(input),
    };
  }

  #group(input: Record<string, unknown>): Group {
    const name = groupName(input);
    const g = this.#groups.get(name);
    if (g === undefined)
      throw serviceError("ResourceNotFoundException", "The specified log group does not exist.");
    return g;
  }

  #describeStreams(input: Record<string, unknown>): Record<string, unknown> {
    const g = this.#group(input);
    const prefix = typeof input.logStreamNamePrefix === "string" ? input.logStreamNamePrefix : "";
    if (prefix !== "" && input.orderBy === "LastEventTime") {
      throw serviceError(
        "InvalidParameterException",
        "Cannot order by LastEventTime with a logStreamNamePrefix.",
      );
    }
    const limit = Math.min(Number(input.limit ?? 50), 50);
    const start = typeof input.nextToken === "string" ? Number(input.nextToken.slice(2)) : 0;
    let streams = [...g.streams.values()].filter((s) => s.name.startsWith(prefix));
    if (input.orderBy === "LastEventTime") {
      streams.sort((a, b) => (a.events.at(-1)?.timestamp ?? 0) - (b.events.at(-1)?.timestamp ?? 0));
    } else streams.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (input.descending === true) streams = streams.reverse();
    const page = streams.slice(start, start + limit);
    return {
      logStreams: page.map((s) => ({
        logStreamName: s.name,
        creationTime: s.creationTime,
        firstEventTimestamp: s.events[0]?.timestamp,
        lastEventTimestamp: s.events.at(-1)?.timestamp,
        lastIngestionTime: s.events.at(-1)?.ingestionTime,
        storedBytes: 0,
      })),
      ...(start + limit < streams.length ? { nextToken: `d/${start + limit}` } : {}),
    };
  }

  #getLogEvents(input: Record<string, unknown>): Record<string, unknown> {
    const g = this.#group(input);
    const s = g.streams.get(str(input.logStreamName, "logStreamName"));
    if (s === undefined)
      throw serviceError("ResourceNotFoundException", "The specified log stream does not exist.");
    const limit = clampLimit(input.limit);
    const startTime =
      typeof input.startTime === "number" ? input.startTime : Number.NEGATIVE_INFINITY;
    const endTime = typeof input.endTime === "number" ? input.endTime : Number.POSITIVE_INFINITY;
    const inRange = (e: StoredLogEvent): boolean =>
      e.timestamp >= startTime && e.timestamp < endTime;
    const token = typeof input.nextToken === "string" ? parseToken(input.nextToken) : undefined;
    const all = s.events;
    const out: StoredLogEvent[] = [];
    let bytes = 0;
    let first: number;
    let end: number;
    if (token?.dir === "b" || (token === undefined && input.startFromHead !== true)) {
      // Backward: the newest events before the position, returned oldest first.
      end = token?.pos ?? all.length;
      let i = end - 1;
      for (; i >= 0 && out.length < limit; i--) {
        const e = all[i] as StoredLogEvent;
        if (!inRange(e)) continue;
        if (bytes + eventSize(e) > MAX_RESPONSE_BYTES) break;
        bytes += eventSize(e);
        out.push(e);
      }
      out.reverse();
      first = i + 1;
    } else {
      first = token?.pos ?? 0;
      let i = first;
      for (; i < all.length && out.length < limit; i++) {
        const e = all[i] as StoredLogEvent;
        if (!inRange(e)) continue;
        if (bytes + eventSize(e) > MAX_RESPONSE_BYTES) break;
        bytes += eventSize(e);
        out.push(e);
      }
      end = i;
    }
    return {
      events: out.map((e) => ({
        timestamp: e.timestamp,
        message: e.message,
        ingestionTime: e.ingestionTime,
      })),
      // At the end of the stream the forward token comes back unchanged: that is how a reader
      // knows it has everything (there is no "done" flag).
      nextForwardToken:
        token?.dir === "f" && out.length === 0 ? input.nextToken : makeToken("f", end),
      nextBackwardToken:
        token?.dir === "b" && out.length === 0 ? input.nextToken : makeToken("b", first),
    };
  }

  #filterLogEvents(input: Record<string, unknown>): Record<string, unknown> {
    const g = this.#group(input);
    const names = input.logStreamNames as string[] | undefined;
    if (names !== undefined && input.logStreamNamePrefix !== undefined) {
      throw serviceError(
        "InvalidParameterException",
        "logStreamNames and logStreamNamePrefix are mutually exclusive",
      );
    }
    if (names !== undefined && (names.length === 0 || names.length > 100)) {
      throw serviceError("InvalidParameterException", "logStreamNames must hold 1 to 100 names");
    }
    const prefix =
      typeof input.logStreamNamePrefix === "string" ? input.logStreamNamePrefix : undefined;
    const streams = [...g.streams.values()].filter(
      (s) =>
        (names === undefined || names.includes(s.name)) &&
        (prefix === undefined || s.name.startsWith(prefix)),
    );
    const limit = clampLimit(input.limit);
    const startTime =
      typeof input.startTime === "number" ? input.startTime : Number.NEGATIVE_INFINITY;
    const endTime = typeof input.endTime === "number" ? input.endTime : Number.POSITIVE_INFINITY;
    const pattern = typeof input.filterPattern === "string" ? input.filterPattern.trim() : "";
    const after = typeof input.nextToken === "string" ? parseCursor(input.nextToken) : undefined;
    const matches: { e: StoredLogEvent; stream: string }[] = [];
    for (const s of streams) {
      for (const e of s.events) {
        if (e.timestamp < startTime || e.timestamp >= endTime) continue;
        if (after !== undefined && compareEvents(e, after) <= 0) continue;
        if (pattern !== "" && !matchesPattern(e.message, pattern)) continue;
        matches.push({ e, stream: s.name });
      }
    }
    matches.sort((a, b) => compareEvents(a.e, b.e));
    const out: typeof matches = [];
    let bytes = 0;
    for (const m of matches) {
      if (out.length >= limit || bytes + eventSize(m.e) > MAX_RESPONSE_BYTES) break;
      bytes += eventSize(m.e);
      out.push(m);
    }
    const last = out.at(-1);
    return {
      events: out.map((m) => ({
        logStreamName: m.stream,
        timestamp: m.e.timestamp,
        message: m.e.message,
        ingestionTime: m.e.ingestionTime,
        eventId: m.e.eventId,
      })),
      // Deprecated by the service in 2020: always empty.
      searchedLogStreams: [],
      ...(last !== undefined && out.length < matches.length
        ? { nextToken: `c/${last.e.timestamp}/${last.e.seq}` }
        : {}),
    };
  }
}

function groupName(input: Record<string, unknown>): string {
  const name = input.logGroupName ?? input.logGroupIdentifier;
  return str(name, "logGroupName");
}

function str(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") {
    throw serviceError(
      "InvalidParameterException",
      `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

function clampLimit(value: unknown): number {
  if (value === undefined) return MAX_EVENTS;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_EVENTS) {
    throw serviceError("InvalidParameterException", "limit must be between 1 and 10000");
  }
  return n;
}

function makeToken(dir: "f" | "b", pos: number): string {
  return `${dir}/${String(pos).padStart(20, "0")}/s`;
}

function parseToken(token: string): { dir: "f" | "b"; pos: number } {
  const m = /^([fb])\/(\d+)\/s$/.exec(token);
  if (m === null)
    throw serviceError("InvalidParameterException", "The specified nextToken is invalid.");
  return { dir: m[1] as "f" | "b", pos: Number(m[2]) };
}

function parseCursor(token: string): StoredLogEvent {
  const m = /^c\/(-?\d+)\/(\d+)$/.exec(token);
  if (m === null)
    throw serviceError("InvalidParameterException", "The specified nextToken is invalid.");
  return { timestamp: Number(m[1]), seq: Number(m[2]), message: "", ingestionTime: 0, eventId: "" };
}

/** Filter patterns, simplified: space-separated terms that must all appear ("quoted phrases" allowed). */
function matchesPattern(message: string, pattern: string): boolean {
  const terms = pattern.match(/"[^"]*"|\S+/g) ?? [];
  return terms.every((t) => message.includes(t.startsWith('"') ? t.slice(1, -1) : t));
}
