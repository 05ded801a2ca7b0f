// Info lines whose fields the caller has already written as JSON, put out through the logger's
// own level, time, bindings and destination (pino.symbols, which pino exposes "for performant
// integration"): the one review line per review is the hottest line there is, and pino's generic
// serializer, which looks up a serializer and a stringifier for every key, cost four times what
// this does (bench/, README "Performance"). Every string is escaped by JSON.stringify.
import { pino, type Logger } from 'pino';

const { chindingsSym, endSym, lsCacheSym, streamSym, timeSym } = pino.symbols;
const INFO = 30;

/** A pino logger's state, under pino.symbols (plain `symbol`s to TypeScript). */
type LoggerState = Record<symbol, unknown>;

/** What a line is made of, read from the state at each line: a child's bindings, a level change or a new stream count at once. */
function pieces(state: LoggerState): { level: unknown; time: unknown; bindings: unknown; end: unknown; stream: unknown } {
  return {
    level: (state[lsCacheSym] as Record<number, unknown> | undefined)?.[INFO],
    time: state[timeSym],
    bindings: state[chindingsSym],
    end: state[endSym],
    stream: state[streamSym],
  };
}

/** Characters of lines held past which `add` writes them at once, to keep a write within the output's batch. */
const MOST_HELD_CHARS = 16 * 1024;

/**
 * Lines `{"level":30,"time":...,<bindings><members>,"msg":<message>}`, as `logger.info` would write
 * them, written together: one write per batch of lines, not per line (a write encodes its text
 * into the output's buffer, a call into C++ that cost more than making the line). The lines of a
 * batch share the time of its first: they are all of one turn of the event loop.
 */
export interface InfoLines {
  /** A line with these JSON object members, each led by a comma (`,"uid":"a","policies":1`). */
  add(members: string): void;
  /** Writes the lines added since the last flush. */
  flush(): void;
}

/** The fast lines saying `message` to `logger`; a logger that is not pino's own (a test double) gets each line parsed and passed to `info` at once. */
export function infoLines(logger: Logger, message: string): InfoLines {
  const state = logger as unknown as LoggerState;
  const { level, time, bindings, end, stream } = pieces(state);
  const isPino =
    typeof level === 'string' && typeof time === 'function' && typeof bindings === 'string' && typeof end === 'string' && typeof (stream as { write?: unknown } | undefined)?.write === 'function';
  if (!isPino) return { add: (members) => logger.info(JSON.parse(`{${members.slice(1)}}`) as object, message), flush() {} };
  const tail = `,"msg":${JSON.stringify(message)}${end as string}`;
  let held = '';
  let heldTime = '';
  const flush = () => {
    if (held === '') return;
    const lines = held;
    held = '';
    (state[streamSym] as { write(lines: string): void }).write(lines);
  };
  return {
    add(members) {
      if (logger.levelVal > INFO) return;
      if (held === '') heldTime = (state[timeSym] as () => string)();
      held += (state[lsCacheSym] as Record<number, string>)[INFO] + heldTime + (state[chindingsSym] as string) + members + tail;
      if (held.length >= MOST_HELD_CHARS) flush();
    },
    flush,
  };
}

/** What JSON.stringify escapes, and every surrogate (a lone one is escaped; a paired one is left to JSON.stringify all the same). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be found
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `text` as it goes between the quotes of a JSON string: itself when nothing in it needs escaping
 * (names, uids: nearly always), else as JSON.stringify escapes it. JSON.stringify of a short
 * string allocates about a hundred bytes of builder; the review line has six of them.
 */
export function jsonStringContent(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text).slice(1, -1) : text;
}
