// The process logger: pino, JSON lines, written asynchronously so a review never waits on stdout.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Lines are held until this many bytes (about 14 review lines) are waiting, then written in one
 * call. Unbatched, each line at a moderate rate was its own write on the thread pool with two
 * thread wake-ups: about 60 µs of CPU per review at 1,000 reviews/s, more than the review itself.
 */
export const LOG_BATCH_BYTES = 4096;
/** Held lines are written at least this often, so a quiet server's lines still show promptly (pino writes the rest at exit). */
export const LOG_FLUSH_INTERVAL_MS = 100;

/**
 * Lines waiting beyond this many bytes are dropped and counted: a reader of stdout that stalls (a
 * full disk under the container runtime, say) must not grow the heap until tollgate is OOM-killed.
 */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

let droppedLines = 0;

/** Lines this process has dropped because its log destination would not take them (`tollgate_log_lines_dropped_total`). */
export function droppedLogLines(): number {
  return droppedLines;
}

/** stdout (or another fd), written asynchronously in batches, holding at most `maxBufferBytes`. */
export function stdoutDestination(dest = 1, maxBufferBytes = LOG_BUFFER_MAX_BYTES): pino.DestinationStream {
  const stream = pino.destination({ dest, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_INTERVAL_MS, maxLength: maxBufferBytes });
  // pino writes one line per call, so one 'drop' is one line.
  stream.on('drop', () => {
    droppedLines++;
  });
  return stream;
}

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where lines go; defaults to stdoutDestination(). */
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
  const destination = options.destination ?? stdoutDestination();
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
