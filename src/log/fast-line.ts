// An info line whose fields the caller has already written as JSON, put out through the logger's
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

/**
 * Writes `{"level":30,"time":...,<bindings><members>,"msg":<message>}` as `logger.info` would.
 * `members` is JSON object members, each led by a comma (`,"uid":"a","policies":1`).
 */
export type InfoLineWriter = (members: string, message: string) => void;

/** The fast writer for `logger`; a logger that is not pino's own (a test double) gets one that parses the members and calls `info`. */
export function infoLineWriter(logger: Logger): InfoLineWriter {
  const state = logger as unknown as LoggerState;
  const { level, time, bindings, end, stream } = pieces(state);
  const isPino =
    typeof level === 'string' && typeof time === 'function' && typeof bindings === 'string' && typeof end === 'string' && typeof (stream as { write?: unknown } | undefined)?.write === 'function';
  if (!isPino) return (members, message) => logger.info(JSON.parse(`{${members.slice(1)}}`) as object, message);
  return (members, message) => {
    if (logger.levelVal > INFO) return;
    const line =
      (state[lsCacheSym] as Record<number, string>)[INFO] + (state[timeSym] as () => string)() + (state[chindingsSym] as string) + members + ',"msg":' + JSON.stringify(message) + (state[endSym] as string);
    (state[streamSym] as { write(line: string): void }).write(line);
  };
}
