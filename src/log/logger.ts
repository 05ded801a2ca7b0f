// The process logger: pino, JSON lines, written asynchronously so a review never waits on stdout.
import fs from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import sonicBoom from 'sonic-boom';

export type { Logger };

/**
 * Lines are gathered until this many bytes (about 200 review lines) are waiting, then handed to
 * the writer as one buffer: one write, and one trip to libuv's thread pool and back, for all of
 * them. Unbatched, each line at a moderate rate was its own write with two thread wake-ups, about
 * 60 µs of CPU per review at 1,000 reviews/s; at saturation 4 KiB batches still cost 4-5 µs a
 * review in wake-ups (bench/, README "Performance").
 */
export const LOG_BATCH_BYTES = 64 * 1024;
/** A held line is written within this long (a tick), so a quiet server's lines still show promptly; warnings and errors at once; what is held at exit is written then. */
export const LOG_FLUSH_INTERVAL_MS = 100;

/** Longest `flush(callback)` waits for the writes in flight before it calls back all the same (a reader that never reads again). */
export const LOG_FLUSH_WAIT_MS = 2_000;

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

/** pino's level number for warn: lines at this level and above are written at once. */
const WARN_LEVEL = 40;
/** Warnings in a burst are written together: at most one immediate write per this many ms. */
const URGENT_FLUSH_MIN_INTERVAL_MS = 10;

/** What is held when the process ends is written then, synchronously, by one listener for every output. */
const atExit = new Set<() => void>();
process.once('exit', () => {
  for (const flush of atExit) flush();
});

/** What pino writes to: whole lines, one or more per call. */
export interface LineDestination {
  write(line: string): void;
  /** Writes what is held; `callback` once it is written. */
  flush(callback?: (err?: Error) => void): void;
  /** Writes what is held before returning (at exit: blocks while the reader takes it). */
  flushSync(): void;
  /** Writes what is held, then closes the file descriptor; 'close' once done. */
  end(): void;
  /** Each write that landed, with its byte count. */
  on(event: 'write', listener: (bytes: number) => void): this;
  once(event: 'close', listener: () => void): this;
}

export interface BatchedOutput {
  stream: LineDestination;
  /** Told of every line, by createLogger's hook: warnings and worse go out at once, the rest within a tick. */
  lineWritten(level: number): void;
}

export interface BatchedOutputOptions {
  maxBufferBytes?: number;
  flushIntervalMs?: number;
  /** Defaults to LOG_FLUSH_WAIT_MS. */
  flushWaitMs?: number;
}

/** UTF-8 takes at most three bytes for one UTF-16 code unit (a surrogate pair, two units, takes four). */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/** The count of lines in what was written, or dropped: whole lines, one or more (the review lines of a turn come in one write). */
function countLines(lines: string | Buffer): number {
  let count = 0;
  if (typeof lines === 'string') for (let at = lines.indexOf('\n'); at !== -1; at = lines.indexOf('\n', at + 1)) count++;
  // A byte, not a string: a string to search for is converted at every call (8 times the cost).
  else for (let at = lines.indexOf(NEWLINE); at !== -1; at = lines.indexOf(NEWLINE, at + 1)) count++;
  return lines.length === 0 ? 0 : Math.max(1, count);
}

const NEWLINE = 0x0a;

// A CommonJS module: its class is a property of what the default import gives, at run time and to the types.
const { SonicBoom } = sonicBoom;

/**
 * What a write error says on stderr, once per error code, since the log itself cannot carry it.
 * Written straight to the fd: process.stderr turns a refused write into an 'error' event later,
 * which nothing would catch (a stderr on the same full disk, or a closed pipe, would crash tollgate).
 */
function sayWriteError(dest: number, err: NodeJS.ErrnoException, said: Set<string>): void {
  const code = err.code ?? 'unknown';
  if (said.has(code)) return;
  said.add(code);
  // EAGAIN comes only from a synchronous flush that ran out of time (at exit, or pino's fatal).
  const fate =
    code === 'EAGAIN'
      ? `its reader took nothing for ${LOG_FLUSH_WAIT_MS / 1000} s; lines still held when the process ends are lost`
      : 'they are held and tried again, up to the limit past which lines are dropped and counted in tollgate_log_lines_dropped_total';
  try {
    fs.writeSync(2, `tollgate: log lines could not be written to fd ${dest} (${code}: ${err.message}); ${fate}\n`);
  } catch {
    // stderr refuses too: nothing is left to say it on.
  }
}

/**
 * stdout (or another fd), written asynchronously in batches, holding at most `maxBufferBytes`.
 * Each line is encoded into the batch's buffer as it is written, so no line is kept as a string:
 * held strings outlived the young generation's collections, which copied and then promoted them,
 * and that cost more than making the line (5-12 µs a review at saturation in two ablations, against 0.7 µs in a
 * warm loop; README "Performance"). A full batch is handed to sonic-boom (pino's own destination,
 * which does the asynchronous writes, their retries on EAGAIN and the synchronous flush at exit).
 * sonic-boom 5, not the 4 inside pino 10: on a write error other than EAGAIN (a full disk, EIO),
 * 4's flush at exit retried the refused write forever, and pino's destination threw the error out
 * of the write's callback: a crash whose exit then hung, deaf to SIGTERM.
 */
export function batchedOutput(dest = 1, options: BatchedOutputOptions = {}): BatchedOutput {
  const maxBytes = options.maxBufferBytes ?? LOG_BUFFER_MAX_BYTES;
  const waitMs = options.flushWaitMs ?? LOG_FLUSH_WAIT_MS;
  /** Set while a synchronous flush runs: past it, a reader that takes nothing (EAGAIN) no longer holds the process. */
  let syncDeadline: number | undefined;
  const writer = new SonicBoom({
    dest,
    sync: false,
    minLength: 0,
    maxLength: maxBytes,
    contentMode: 'buffer',
    retryEAGAIN: () => syncDeadline === undefined || Date.now() < syncDeadline,
  });
  // The types know only the utf8 mode's strings.
  const bufferWriter = writer as unknown as { write(chunk: Buffer): boolean };
  // Off the V8 heap, so a batch costs the collector nothing while it fills; one for the output's life.
  const batch = Buffer.allocUnsafeSlow(LOG_BATCH_BYTES);
  /** Bytes of `batch` in use. */
  let held = 0;
  /** Bytes handed to the writer and not yet written: with what is held, what a stalled reader costs. */
  let unwritten = 0;
  /**
   * The chunks handed to the writer and not yet wholly written, oldest first, with how much of each
   * is written: what a reader that goes away drops. Lines are counted only then (counting every
   * batch cost 0.1 µs a line); the writer holds these chunks anyway.
   */
  const handed: Array<{ chunk: Buffer; written: number }> = [];
  /** Lines of what is handed and not yet written (a line partly written counts). */
  const unwrittenLines = () => handed.reduce((lines, { chunk, written }) => lines + countLines(chunk.subarray(written)), 0);
  /** Flushes waiting for every byte handed to the writer to be written. */
  const waiting: Array<() => void> = [];
  /** The last write was refused (not EAGAIN): the writer holds the chunk, and tries it again only when asked. */
  let refused = false;
  /** A wait for the reader ran out: an exit then does not wait for it again. */
  let readerStalled = false;
  /** The reader went away (EPIPE): it will not come back, so nothing more is written. */
  let readerGone = false;
  /** end() was called: what was held went to the writer then, and nothing after it is written. */
  let ended = false;
  const saidErrors = new Set<string>();
  const wakeIfAllWritten = () => {
    if (unwritten === 0 && waiting.length > 0) for (const wake of waiting.splice(0)) wake();
  };
  /** Marks `bytes` of the oldest chunks handed as written. */
  const markHandedWritten = (bytes: number) => {
    for (let left = bytes; left > 0 && handed.length > 0; ) {
      const oldest = handed[0]!;
      const taken = Math.min(left, oldest.chunk.length - oldest.written);
      oldest.written += taken;
      left -= taken;
      if (oldest.written === oldest.chunk.length) handed.shift();
    }
  };
  const written = (bytes: number) => {
    if (bytes > 0) {
      refused = false;
      readerStalled = false;
    }
    unwritten = Math.max(0, unwritten - bytes);
    markHandedWritten(bytes);
    wakeIfAllWritten();
  };
  /**
   * After sonic-boom's synchronous flush, which reports nothing of what it wrote, whether it
   * finished or threw partway: what it still holds (its `_len`) is what is unwritten, the oldest
   * chunks being the ones written.
   */
  const resync = () => {
    const length = (writer as unknown as { _len: unknown })._len;
    const pending = typeof length === 'number' && length >= 0 ? length : 0;
    markHandedWritten(unwritten - pending);
    unwritten = pending;
    wakeIfAllWritten();
  };
  // Without a listener, an error would be thrown out of the write's callback: a crash.
  writer.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      readerGone = true;
      droppedLines += unwrittenLines();
      handed.length = 0;
      unwritten = 0;
      wakeIfAllWritten();
      return;
    }
    // EAGAIN past a synchronous flush's deadline: the next one does not wait for this reader again.
    if (err.code === 'EAGAIN') readerStalled = true;
    else refused = true;
    sayWriteError(dest, err, saidErrors);
  });
  // A backstop: the check in write() keeps within the limit first, line by line. A dropped
  // batch is no longer on its way: left counted, it would hold the limit shut for good. It is
  // dropped inside hand()'s write, so it is the chunk handed last.
  writer.on('drop', (chunk: Buffer) => {
    handed.pop();
    droppedLines += countLines(chunk);
    unwritten = Math.max(0, unwritten - chunk.length);
    wakeIfAllWritten();
  });
  writer.on('write', written);
  const hand = (chunk: Buffer) => {
    if (readerGone || ended) {
      droppedLines += countLines(chunk);
      return;
    }
    unwritten += chunk.length;
    handed.push({ chunk, written: 0 });
    try {
      bufferWriter.write(chunk);
    } catch {
      // The writer was closed (at exit) after this batch was due: it wrote what it held then, and
      // this one is not on its way.
      handed.pop();
      unwritten -= chunk.length;
      droppedLines += countLines(chunk);
    }
  };
  const release = () => {
    if (held === 0) return;
    // Copied out at its own size, into memory of its own: the writer keeps a chunk until it is
    // written, and a slice of the batch would keep all 64 KiB of it (Buffer.from, a slice of
    // Node's shared 8 KiB pool under 4 KiB), which the limit, counted in bytes of lines, does not
    // see: a stalled reader and one short line a tick would hold a buffer a tick.
    const chunk = Buffer.allocUnsafeSlow(held);
    batch.copy(chunk, 0, 0, held);
    held = 0;
    hand(chunk);
  };
  // Not sonic-boom's periodicFlush, which writes (an empty buffer) on every tick of an idle process.
  // A refused chunk is tried again at each tick: once the limit is full no new line reaches the
  // writer, and without this the lines would stay shut out after the disk had room again.
  const tick = () => {
    release();
    // end() stops the tick, so the writer is still open here.
    if (refused && !readerGone) writer.flush();
  };
  const timer = setInterval(tick, options.flushIntervalMs ?? LOG_FLUSH_INTERVAL_MS).unref();
  writer.on('close', () => clearInterval(timer));
  /** How long from now a synchronous write may wait on EAGAIN: not at all once a wait for this reader has run out. */
  const syncWaitEnds = () => Date.now() + (readerStalled ? 0 : waitMs);
  /** sonic-boom's synchronous flush, waiting on EAGAIN until `syncDeadline`. */
  const flushSync = () => {
    if (readerGone) return;
    try {
      writer.flushSync();
    } catch (err) {
      // Refused (a full disk), or the reader took nothing in time: held for a later try.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') readerStalled = true;
    } finally {
      resync();
    }
  };
  const flushAtExit = () => {
    // From here on every write is synchronous: an asynchronous one handed to the thread pool now
    // might never run before the process is gone (flushSync writes only what is not in flight).
    // sonic-boom reads `sync` at each write. The deadline covers the last batch's write too.
    (writer as unknown as { sync: boolean }).sync = true;
    syncDeadline = syncWaitEnds();
    release();
    flushSync();
  };
  atExit.add(flushAtExit);
  writer.on('close', () => atExit.delete(flushAtExit));
  let lastUrgentFlush = 0;
  const stream: LineDestination = {
    write(line: string) {
      const mostBytes = line.length * MAX_UTF8_BYTES_PER_UNIT;
      if (mostBytes > LOG_BATCH_BYTES - held) release();
      if (mostBytes > LOG_BATCH_BYTES) {
        // A line longer than a batch goes alone, in a buffer of its own.
        const bytes = Buffer.byteLength(line);
        if (unwritten + bytes > maxBytes) droppedLines += countLines(line);
        else hand(Buffer.from(line));
        return;
      }
      const bytes = batch.write(line, held);
      // Within the limit, or left out: what was encoded past `held` is not part of the batch.
      if (unwritten + held + bytes > maxBytes) droppedLines += countLines(line);
      else held += bytes;
    },
    flush(callback) {
      release();
      // Called back once what is in flight is written: sonic-boom's own flush calls back at once,
      // and an exit then would write what is queued while the thread pool still writes the batch
      // before it, splicing lines (SIGTERM's exit does exactly that).
      if (!callback) return;
      if (unwritten === 0) {
        callback();
        return;
      }
      let called = false;
      const done = (err?: Error) => {
        if (called) return;
        called = true;
        clearTimeout(giveUp);
        writer.off('error', done);
        const at = waiting.indexOf(idle);
        if (at !== -1) waiting.splice(at, 1);
        callback(err);
      };
      const idle = () => done();
      waiting.push(idle);
      writer.once('error', done);
      const giveUp = setTimeout(() => {
        readerStalled = true;
        done();
      }, waitMs);
    },
    flushSync() {
      release();
      syncDeadline = syncWaitEnds();
      flushSync();
      syncDeadline = undefined;
    },
    end() {
      release();
      ended = true;
      clearInterval(timer);
      writer.end();
    },
    on(event, listener) {
      writer.on(event, listener);
      return stream;
    },
    once(event, listener) {
      writer.once(event, listener);
      return stream;
    },
  };
  return {
    stream,
    lineWritten(level) {
      if (level < WARN_LEVEL) return;
      // At once, but not a write per line when something warns on every review.
      const now = Date.now();
      if (now - lastUrgentFlush >= URGENT_FLUSH_MIN_INTERVAL_MS) {
        lastUrgentFlush = now;
        release();
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
