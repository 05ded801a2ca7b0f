// The process logger: pino, JSON lines, written asynchronously so a review never waits on stdout.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Lines are held until this many bytes (about 14 review lines) are waiting, then written in one
 * call. Unbatched, each line at a moderate rate was its own write on the thread pool with two
 * thread wake-ups: about 60 µs of CPU per review at 1,000 reviews/s, more than the review itself.
 */
export const LOG_BATCH_BYTES = 4096;
/** A held line is written within this long (a tick), so a quiet server's lines still show promptly; warnings and errors at once; pino writes the rest at exit. */
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

/**
 * Flush ticks that still run after the last line. A tick that finds a write in flight does nothing
 * (sonic-boom's flush), so the next ones try again; after these, a quiet process writes nothing.
 */
const FLUSH_TICKS_AFTER_LAST_LINE = 3;
/** pino's level number for warn: lines at this level and above are written at once. */
const WARN_LEVEL = 40;
/** Warnings in a burst are written together: at most one immediate write per this many ms. */
const URGENT_FLUSH_MIN_INTERVAL_MS = 10;

export interface BatchedOutput {
  stream: pino.DestinationStream;
  /** Told of every line, by createLogger's hook: warnings and worse go out at once, the rest within a tick. */
  lineWritten(level: number): void;
}

export interface BatchedOutputOptions {
  maxBufferBytes?: number;
  flushIntervalMs?: number;
}

/** stdout (or another fd), written asynchronously in batches, holding at most `maxBufferBytes`. */
export function batchedOutput(dest = 1, options: BatchedOutputOptions = {}): BatchedOutput {
  const stream = pino.destination({ dest, sync: false, minLength: LOG_BATCH_BYTES, maxLength: options.maxBufferBytes ?? LOG_BUFFER_MAX_BYTES });
  // pino writes one line per call, so one 'drop' is one line.
  stream.on('drop', () => {
    droppedLines++;
  });
  const flush = () => {
    try {
      stream.flush();
    } catch {
      // The stream was closed (at exit) after this flush was due: pino wrote what it held then.
    }
  };
  // Not sonic-boom's periodicFlush, which writes (an empty buffer) on every tick of an idle process.
  let ticksLeft = 0;
  const timer = setInterval(() => {
    if (ticksLeft === 0) return;
    ticksLeft--;
    flush();
  }, options.flushIntervalMs ?? LOG_FLUSH_INTERVAL_MS).unref();
  stream.on('close', () => clearInterval(timer));
  // A write that took longer than the ticks (a stalled reader) may leave less than a batch behind it:
  // every write that lands re-arms a tick, which writes that rest or finds nothing and falls quiet.
  stream.on('write', (bytes: number) => {
    if (bytes > 0 && ticksLeft === 0) ticksLeft = 1;
  });
  let lastUrgentFlush = 0;
  return {
    stream,
    lineWritten(level) {
      ticksLeft = FLUSH_TICKS_AFTER_LAST_LINE;
      if (level < WARN_LEVEL) return;
      // At once, but not a write per line when something warns on every review.
      const now = Date.now();
      if (now - lastUrgentFlush >= URGENT_FLUSH_MIN_INTERVAL_MS) {
        lastUrgentFlush = now;
        flush();
      }
    },
  };
}

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where lines go; defaults to batchedOutput() on stdout. A plain stream gets every line as it is made. */
  destination?: pino.DestinationStream | BatchedOutput;
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

function isBatched(destination: pino.DestinationStream | BatchedOutput): destination is BatchedOutput {
  return 'lineWritten' in destination;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? batchedOutput();
  const batched = isBatched(destination) ? destination : undefined;
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'tollgate' },
      timestamp: cachedIsoTime(),
      // No redaction pass: it costs every line (a third of a review line's cost, measured), and the
      // code never hands an object under review to the logger (test/security checks the lines).
      ...(batched
        ? {
            hooks: {
              logMethod(this: Logger, args: Parameters<pino.LogFn>, method: pino.LogFn, level: number) {
                (method as (...a: unknown[]) => void).apply(this, args);
                batched.lineWritten(level);
              },
            },
          }
        : {}),
    },
    batched ? batched.stream : (destination as pino.DestinationStream),
  );
}
