// The process logger: pino, JSON lines, written asynchronously so a review never waits on stdout.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where lines go; defaults to an asynchronous stdout destination. */
  destination?: pino.DestinationStream;
}

/**
 * pino's isoTime, formatted once per millisecond: under load many lines share a millisecond, and
 * `toISOString` (a printf inside V8) was a measurable part of each review line.
 */
export function cachedIsoTime(now: () => number = Date.now): () => string {
  let lastMs = Number.NaN;
  let lastField = '';
  return () => {
    const ms = now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastField = `,"time":"${new Date(ms).toISOString()}"`;
    }
    return lastField;
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 0 });
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'tollgate' },
      timestamp: cachedIsoTime(),
      // No redaction pass: it costs every line (a third of a review line's cost, measured), and the
      // code never hands an object under review to the logger (test/security checks the lines).
    },
    destination,
  );
}
