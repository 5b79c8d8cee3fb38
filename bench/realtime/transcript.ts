/**
 * The calls of a real-time run as the simulator process saw them, so that the same calls and
 * answers can be replayed without the runner (`replay-server.ts`, `bench/replay.ts`): what the
 * runner's process spends on the transport alone. Two JSON-lines files in one directory: the
 * requests (read by the replaying process) and the replies (read by the replay server).
 */
import { createWriteStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import type { ServiceName, WireError } from "./protocol.js";
import { realNow, type ScaledClock } from "./scaled-clock.js";

/** A call as it arrived. */
export interface RecordedRequest {
  /** Real milliseconds since the first call arrived. */
  readonly at: number;
  readonly service: ServiceName;
  readonly action: string;
  readonly body: string;
}

/** The answer to the call of the same index. */
export interface RecordedReply {
  readonly action: string;
  /** Real milliseconds between the call's arrival and the answer; -1: never answered. */
  readonly after: number;
  readonly reply: { readonly type: "result"; readonly body: string } | RecordedError;
}

interface RecordedError {
  readonly type: "error";
  readonly error: WireError;
}

const REQUESTS = "requests.jsonl";
const REPLIES = "replies.jsonl";
const RUN = "run.json";

/** The simulated clock of the recorded run. */
export interface RecordedRun {
  /** Simulated milliseconds per real millisecond. */
  readonly speed: number;
  /** Simulated time when the first call arrived. */
  readonly firstCallAt: number;
}

/** Records calls in arrival order; `save` writes both files. */
export class TranscriptRecorder {
  readonly #requests: RecordedRequest[] = [];
  readonly #replies: (RecordedReply | undefined)[] = [];
  readonly #clock: ScaledClock;
  #first: number | undefined;

  /** `clock`: the simulator's, so a replay can run a simulator on the same time. */
  constructor(clock: ScaledClock) {
    this.#clock = clock;
  }

  /** Notes a call's arrival; the returned function records its answer. */
  arrived(
    now: number,
    service: ServiceName,
    action: string,
    body: string,
  ): (reply: RecordedReply["reply"], now: number) => void {
    this.#first ??= now;
    const index = this.#requests.length;
    this.#requests.push({ at: now - this.#first, service, action, body });
    this.#replies.push(undefined);
    return (reply, answeredAt) => {
      this.#replies[index] = { action, after: answeredAt - now, reply };
    };
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const run: RecordedRun = {
      speed: this.#clock.speed,
      firstCallAt: this.#clock.at(this.#first ?? realNow()),
    };
    await writeFile(join(dir, RUN), JSON.stringify(run));
    await writeLines(join(dir, REQUESTS), this.#requests);
    await writeLines(
      join(dir, REPLIES),
      // A call still unanswered when the run ended was never seen answered by the runner either.
      this.#replies.map(
        (r, i) =>
          r ?? {
            action: this.#requests[i]?.action ?? "",
            after: -1,
            reply: { type: "error", error: { name: "Unanswered", message: "never answered" } },
          },
      ),
    );
  }
}

async function writeLines(file: string, items: readonly unknown[]): Promise<void> {
  const out = createWriteStream(file);
  for (const item of items) {
    if (!out.write(`${JSON.stringify(item)}\n`))
      await new Promise<void>((resolve) => out.once("drain", () => resolve()));
  }
  out.end();
  await finished(out);
}

/** Where each non-empty line of `bytes` starts and ends (the newline excluded). */
function* lineRanges(bytes: Buffer): Generator<readonly [number, number]> {
  const NEWLINE = 0x0a;
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(NEWLINE, start);
    if (end === -1) end = bytes.length;
    if (end > start) yield [start, end];
    start = end + 1;
  }
}

/** The JSON lines of `bytes`, each parsed only when the iteration reaches it. */
function* parseLines<T>(bytes: Buffer): Generator<T> {
  for (const [start, end] of lineRanges(bytes))
    yield JSON.parse(bytes.toString("utf8", start, end)) as T;
}

/** Recorded requests, read one at a time in arrival order. */
export interface RecordedRequests extends Iterable<RecordedRequest> {
  readonly count: number;
}

/**
 * The requests stay the file's bytes, outside the JS heap, and each is parsed only when it is
 * replayed. Held as parsed strings (about 20 MB at 10,000 tasks) they would pad the replaying
 * process's heap with memory the runner's process never held, and V8 sizes its collections by
 * the live heap: the replay would collect less often than the runner's process did.
 */
export async function readRequests(dir: string): Promise<RecordedRequests> {
  const bytes = await readFile(join(dir, REQUESTS));
  let count = 0;
  for (const _ of lineRanges(bytes)) count++;
  return { count, [Symbol.iterator]: () => parseLines<RecordedRequest>(bytes) };
}

/** Every recorded reply, parsed (the replay server is not measured: it may hold them all). */
export async function readReplies(dir: string): Promise<RecordedReply[]> {
  return [...parseLines<RecordedReply>(await readFile(join(dir, REPLIES)))];
}

/** The recorded run's simulated clock. */
export async function readRun(dir: string): Promise<RecordedRun> {
  return JSON.parse(await readFile(join(dir, RUN), "utf8")) as RecordedRun;
}
