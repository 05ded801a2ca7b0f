// An info line whose fields the caller has already written as JSON, put out through the logger's
// own level, time, bindings and destination (pino.symbols, which pino exposes "for performant
// integration"): the one review line per review is the hottest line there is, and pino's generic
// serializer, which looks up a serializer and a stringifier for every key, cost four times what
// this does (bench/, README "Performance"). Every string is escaped by JSON.stringify.
import { pino, type Logger } from 'pino';

const { chindingsSym, endSym, lsCacheSym, streamSym, timeSym } = pino.symbols;
const INFO = 30;

/** The pieces of a pino logger's state a line is made of (typed here: pino.symbols are plain `symbol`s). */
interface PinoInternals {
  levels: Record<number, string>;
  time: () => string;
  bindings: string;
  end: string;
  stream: { write(line: string): void };
}

function internalsOf(logger: Logger): PinoInternals | undefined {
  const state = logger as unknown as Record<symbol, unknown>;
  const levels = state[lsCacheSym] as Record<number, unknown> | undefined;
  const stream = state[streamSym] as { write?: unknown } | undefined;
  const [time, bindings, end] = [state[timeSym], state[chindingsSym], state[endSym]];
  if (typeof levels?.[INFO] !== 'string' || typeof time !== 'function' || typeof bindings !== 'string' || typeof end !== 'string') return undefined;
  if (typeof stream?.write !== 'function') return undefined;
  return { levels: levels as Record<number, string>, time: time as () => string, bindings, end, stream: stream as PinoInternals['stream'] };
}

/**
 * Writes `{"level":30,"time":...,<bindings><members>,"msg":<message>}` as `logger.info` would.
 * `members` is JSON object members, each led by a comma (`,"uid":"a","policies":1`).
 */
export type InfoLineWriter = (members: string, message: string) => void;

/** The fast writer for `logger`; a logger that is not pino's own (a test double) gets one that parses the members and calls `info`. */
export function infoLineWriter(logger: Logger): InfoLineWriter {
  const internals = internalsOf(logger);
  if (!internals) return (members, message) => logger.info(JSON.parse(`{${members.slice(1)}}`) as object, message);
  const { levels, time, end } = internals;
  const state = logger as unknown as Record<symbol, unknown>;
  return (members, message) => {
    if (logger.levelVal > INFO) return;
    // Bindings and stream are read at each line: a child logger's, or a stream pino swapped in, must count.
    const line = levels[INFO] + time() + (state[chindingsSym] as string) + members + ',"msg":' + JSON.stringify(message) + end;
    (state[streamSym] as PinoInternals['stream']).write(line);
  };
}
