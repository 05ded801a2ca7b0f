// The process logger: the review line's timestamp (ISO 8601 like pino's isoTime, formatted once per
// millisecond), the line's shape, and the batched stdout destination.
import { execFileSync, spawn } from 'node:child_process';
import fs, { closeSync, constants, createReadStream, mkdtempSync, openSync, readFileSync, rmSync, writeSync, type ReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { cachedIsoTime, createLogger, droppedLogLines, batchedOutput, type BatchedOutputOptions, type LineDestination } from '../../src/log/logger.js';
import { TollgateMetrics } from '../../src/metrics/metrics.js';
import { memoryLogger } from '../helpers/logs.js';

describe('cachedIsoTime', () => {
  it('gives what pino.stdTimeFunctions.isoTime gives for the same instant', () => {
    let now = Date.UTC(2026, 10, 25, 13, 45, 12, 345);
    const time = cachedIsoTime(() => now);
    expect(time()).toBe(`,"time":"2026-11-25T13:45:12.345Z"`);
    now += 1;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      expect(time()).toBe(pino.stdTimeFunctions.isoTime());
    } finally {
      Date.now = realNow;
    }
  });

  it('moves on as soon as the millisecond does, and not before', () => {
    let now = 1_000;
    const time = cachedIsoTime(() => now);
    const first = time();
    expect(time()).toBe(first);
    now = 1_001;
    expect(time()).not.toBe(first);
    expect(time()).toContain('1970-01-01T00:00:01.001Z');
  });
});

describe('createLogger', () => {
  it('writes JSON lines with the ISO time, the service and the fields given', () => {
    const { logger, lines } = memoryLogger();
    logger.info({ uid: 'u-1', subResource: undefined }, 'review');
    const [line] = lines();
    expect(line).toMatchObject({ level: 30, service: 'tollgate', uid: 'u-1', msg: 'review' });
    expect(typeof line?.time).toBe('string');
    expect(Date.parse(line?.time as string)).not.toBeNaN();
    // A field left undefined is left out of the line, not written as null.
    expect(line).not.toHaveProperty('subResource');
  });
});

/** Runs `script` (ES module source) in a child node that has the built logger as `createLogger`; resolves with each stdout chunk's arrival time. */
function runChild(script: string): Promise<{ chunks: Array<{ atMs: number; text: string }>; exitedAtMs: number }> {
  const logger = pathToFileURL(path.resolve('dist/src/log/logger.js')).href;
  const source = `import { createLogger } from ${JSON.stringify(logger)};\n${script}`;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Array<{ atMs: number; text: string }> = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push({ atMs: performance.now() - started, text: chunk.toString('utf8') }));
    child.on('error', reject);
    child.on('close', () => resolve({ chunks, exitedAtMs: performance.now() - started }));
  });
}

const messages = (chunks: Array<{ text: string }>) =>
  chunks
    .map((c) => c.text)
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { msg: string }).msg);

describe('the default stdout destination, which writes lines in batches', () => {
  it('still shows a lone line on a quiet server promptly, long before the process ends', async () => {
    const { chunks, exitedAtMs } = await runChild(`createLogger().info('alone'); setTimeout(() => {}, 2000);`);
    expect(messages(chunks)).toEqual(['alone']);
    expect(exitedAtMs).toBeGreaterThan(1900);
    // The periodic flush, not the exit, wrote it (generous margin for a loaded machine).
    expect(chunks[0]!.atMs).toBeLessThan(exitedAtMs - 1000);
  }, 15_000);

  it('loses no line held in the batch when the process exits or crashes', async () => {
    const exited = await runChild(`const log = createLogger(); for (const m of ['a', 'b', 'c']) log.info(m); process.exit(3);`);
    expect(messages(exited.chunks)).toEqual(['a', 'b', 'c']);
    const crashed = await runChild(`const log = createLogger(); log.info('before'); setImmediate(() => { throw new Error('boom'); });`);
    expect(messages(crashed.chunks)).toEqual(['before']);
  }, 15_000);

  it('writes what is held when the process ends on its own, even with many processes contending for the machine', async () => {
    // Held lines handed to an asynchronous write at exit were lost whenever the process was gone
    // before the thread pool ran the write: most of the time with a dozen processes at once.
    const script = `const log = createLogger(); for (let i = 0; i < 500; i++) log.info({ i }, 'line ' + i);`;
    const runs = await Promise.all(Array.from({ length: 16 }, () => runChild(script)));
    expect(runs.map((run) => messages(run.chunks).length)).toEqual(Array.from({ length: 16 }, () => 500));
  }, 30_000);

  it('writes many lines whole and in order', async () => {
    const { chunks } = await runChild(`const log = createLogger(); for (let i = 0; i < 500; i++) log.info({ i }, 'line ' + i);`);
    expect(messages(chunks)).toEqual(Array.from({ length: 500 }, (_, i) => `line ${i}`));
  }, 15_000);
});

/** A batched output into a FIFO opened read-write and never read (it takes 64 KiB, then every write waits), with a reader to start later. */
function stalledOutput(options: BatchedOutputOptions) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-log-'));
  const fifo = path.join(dir, 'stdout');
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  const destination = batchedOutput(fd, options);
  const received: Buffer[] = [];
  let reader: ReadStream | undefined;
  return {
    destination,
    logger: createLogger({ destination }),
    read: () => {
      reader = createReadStream(fifo).on('data', (chunk: string | Buffer) => received.push(Buffer.from(chunk)));
    },
    received: () => Buffer.concat(received),
    /** Ending waits for what is held to be written, so the FIFO gets a reader first if it has none. */
    close: async () => {
      reader ??= createReadStream(fifo).resume();
      const stream = destination.stream as unknown as { end(): void; once(event: 'close', listener: () => void): void };
      const closed = new Promise<void>((resolve) => stream.once('close', resolve));
      stream.end();
      await closed;
      reader.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('a log reader that stalls', () => {
  it('counts every line of a write of several (the review lines of a turn) that it drops', async () => {
    const out = stalledOutput({ maxBufferBytes: 64 * 1024 });
    try {
      const line = (i: number) => `${JSON.stringify({ level: 30, i, filler: 'x'.repeat(1000) })}\n`;
      // 200 KiB, past the limit, then a write of five lines that cannot fit.
      for (let i = 0; i < 200; i++) out.destination.stream.write(line(i));
      const before = droppedLogLines();
      out.destination.stream.write([1, 2, 3, 4, 5].map(line).join(''));
      expect(droppedLogLines() - before).toBe(5);
    } finally {
      await out.close();
    }
  });

  it('costs a bounded buffer: lines past it are dropped and counted in tollgate_log_lines_dropped_total', async () => {
    const out = stalledOutput({ maxBufferBytes: 256 * 1024 });
    try {
      const before = droppedLogLines();
      const filler = 'x'.repeat(1000);
      // About 2 MiB in one turn of the event loop: no write can finish meanwhile.
      for (let i = 0; i < 2000; i++) out.logger.info({ i, filler }, 'line');
      const dropped = droppedLogLines() - before;
      // At most 256 KiB (about 250 of these lines) held or being written; the rest dropped.
      expect(dropped).toBeGreaterThan(1700);
      expect(dropped).toBeLessThan(2000);
      const text = (await new TollgateMetrics().scrape()).body;
      expect(text).toContain(`tollgate_log_lines_dropped_total ${droppedLogLines()}`);

      // Once the reader catches up, what was held is written, and so are new lines.
      out.read();
      // Once the held lines flow again (past the 64 KiB the FIFO itself held), there is room for a new one.
      await vi.waitFor(() => expect(out.received().length).toBeGreaterThan(128 * 1024), { timeout: 10_000, interval: 20 });
      out.logger.info('after the stall');
      await vi.waitFor(() => expect(out.received().toString()).toContain('"msg":"after the stall"'), { timeout: 10_000, interval: 50 });
      const lines = out.received().toString().split('\n').filter(Boolean);
      expect(lines.length).toBe(2000 - dropped + 1);
      expect(lines.every((line) => JSON.parse(line) !== undefined)).toBe(true);
    } finally {
      await out.close();
    }
  });
});

describe('a log reader that stalls, with a trickle of lines', () => {
  it('holds what the lines take, not a batch buffer per line: memory outside the heap stays within the limit', async () => {
    // One short line per tick into a FIFO nobody reads: every tick hands the writer a batch of one
    // line, which waits. A batch kept as a slice of its 64 KiB buffer held all 64 KiB, unseen by
    // the limit (it counts the bytes of lines): 400 ticks would hold 25 MiB.
    const out = stalledOutput({ flushIntervalMs: 1, maxBufferBytes: 1024 * 1024 });
    try {
      // Fill the FIFO (64 KiB) first, so that every later batch waits.
      const filler = 'x'.repeat(1000);
      for (let i = 0; i < 100; i++) out.logger.info({ i, filler }, 'fill');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const before = process.memoryUsage().arrayBuffers;
      for (let tick = 0; tick < 400; tick++) {
        out.logger.info({ tick }, 'trickle');
        // Other users of Node's shared 8 KiB buffer pool between ticks (a patch's JSON made into
        // base64, say), each taking half of one, so that each tick's chunk would pin a pool of its own.
        for (let i = 0; i < 2; i++) Buffer.from(`${tick}`.padEnd(4000, '-')).toString('base64');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      // 400 lines of about 70 bytes wait; a buffer pinned per line would be 3 MiB (pool) or 25 MiB (batch).
      const grown = process.memoryUsage().arrayBuffers - before;
      expect(grown).toBeLessThan(1024 * 1024);
    } finally {
      await out.close();
    }
  }, 20_000);
});

describe('flush', () => {
  it('calls back once every line is written, not while a write is still waiting (an exit then splices lines: SIGTERM exits so)', async () => {
    const out = stalledOutput({ flushIntervalMs: 60_000 });
    try {
      const filler = 'x'.repeat(1000);
      for (let i = 0; i < 300; i++) out.logger.info({ i, filler }, 'line');
      let written = 0;
      out.destination.stream.on('write', (bytes) => (written += bytes));
      let flushed = false;
      let writtenAtCallback = -1;
      out.destination.stream.flush(() => {
        flushed = true;
        // Taken once the 'write' event that called back has reached this test's listener too.
        queueMicrotask(() => (writtenAtCallback = written));
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      // 300 KiB against the FIFO's 64: most of it still waits.
      expect(flushed).toBe(false);
      out.read();
      await vi.waitFor(() => expect(writtenAtCallback).toBeGreaterThan(0), { timeout: 10_000, interval: 10 });
      // By the time it called back, every line had been written: what was written by then (read
      // once the reader has drained the FIFO, up to 64 KiB behind the writes) holds all of them.
      await vi.waitFor(() => expect(out.received().length).toBeGreaterThanOrEqual(writtenAtCallback), { timeout: 10_000, interval: 10 });
      const ids = out
        .received()
        .subarray(0, writtenAtCallback)
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { i: number }).i);
      expect(ids).toEqual(Array.from({ length: 300 }, (_, i) => i));
    } finally {
      await out.close();
    }
  });

  it('calls back all the same after a while when the reader never reads', async () => {
    const out = stalledOutput({ flushIntervalMs: 60_000, flushWaitMs: 200 });
    try {
      for (let i = 0; i < 200; i++) out.logger.info({ i, filler: 'x'.repeat(1000) }, 'line');
      const started = performance.now();
      await new Promise<void>((resolve) => out.destination.stream.flush(() => resolve()));
      expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    } finally {
      await out.close();
    }
  });
});

describe('batched writes', () => {
  /** A batched output to a temporary file, and what has reached the file so far. */
  function fileOutput(flushIntervalMs: number, maxBufferBytes?: number) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-log-'));
    const file = path.join(dir, 'out.log');
    const output = batchedOutput(openSync(file, 'w'), { flushIntervalMs, ...(maxBufferBytes ? { maxBufferBytes } : {}) });
    let writes = 0;
    (output.stream as unknown as { on(event: 'write', listener: () => void): void }).on('write', () => writes++);
    const messages = () =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { msg: string }).msg);
    const close = async () => {
      const stream = output.stream as unknown as { end(): void; once(event: 'close', listener: () => void): void };
      const closed = new Promise<void>((resolve) => stream.once('close', resolve));
      stream.end();
      await closed;
      rmSync(dir, { recursive: true, force: true });
    };
    return { logger: createLogger({ destination: output }), messages, writes: () => writes, close };
  }

  it('holds info lines for the next tick, but writes a warning, and what was held before it, at once', async () => {
    const out = fileOutput(60_000);
    try {
      out.logger.info('held');
      await new Promise((resolve) => setTimeout(resolve, 300));
      // No tick for a minute and far less than a batch: nothing has been written yet.
      expect(out.messages()).toEqual([]);
      out.logger.warn('urgent');
      await vi.waitFor(() => expect(out.messages()).toEqual(['held', 'urgent']), { timeout: 5_000, interval: 20 });
    } finally {
      await out.close();
    }
  });

  it('writes warnings that come on every review together, not one write each', async () => {
    const out = fileOutput(50);
    try {
      const started = performance.now();
      for (let i = 0; i < 100; i++) {
        out.logger.warn({ i }, 'policy failed');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const elapsedMs = performance.now() - started;
      await vi.waitFor(() => expect(out.messages()).toHaveLength(100), { timeout: 5_000, interval: 20 });
      // At most one immediate write per 10 ms, plus the ticks': far fewer than one per warning.
      expect(out.writes()).toBeLessThanOrEqual(elapsedMs / 10 + elapsedMs / 50 + 5);
    } finally {
      await out.close();
    }
  });

  it('measures lines in bytes: a line over the limit in UTF-8 (but not in characters) is dropped alone, and the lines after it are written', async () => {
    const out = fileOutput(20, 4096);
    try {
      const before = droppedLogLines();
      out.logger.info('before');
      // 2,000 characters, 6,000 bytes of UTF-8: a forged name of bytes that are not UTF-8 decodes to this.
      out.logger.info({ name: '\ufffd'.repeat(2000) }, 'too large');
      out.logger.info('after');
      await vi.waitFor(() => expect(out.messages()).toEqual(['before', 'after']), { timeout: 5_000, interval: 20 });
      expect(droppedLogLines() - before).toBe(1);
      // Nothing of the dropped line is still counted against the limit: lines keep flowing.
      for (let i = 0; i < 20; i++) out.logger.warn({ i }, 'later');
      await vi.waitFor(() => expect(out.messages()).toHaveLength(22), { timeout: 5_000, interval: 20 });
      expect(droppedLogLines() - before).toBe(1);
    } finally {
      await out.close();
    }
  });

  it('writes every line whole across batch boundaries: multibyte text, and lines longer than a batch', async () => {
    const out = fileOutput(60_000);
    try {
      // Lines are encoded into a buffer as they come: a line that would not fit must start the
      // next batch, never be cut; one longer than a batch (64 KiB) goes alone, between its neighbours.
      const expected: string[] = [];
      for (let i = 0; i < 1200; i++) {
        const text = i % 97 === 0 ? `${'é€😀'.repeat(9000)}${i}` : i % 3 === 0 ? `línea ${'€'.repeat(i % 250)} ${i}` : `line ${i}`;
        expected.push(text);
        out.logger.info(text);
      }
      out.logger.warn('last');
      expected.push('last');
      await vi.waitFor(() => expect(out.messages()).toHaveLength(expected.length), { timeout: 5_000, interval: 20 });
      expect(out.messages()).toEqual(expected);
    } finally {
      await out.close();
    }
  });

  it('stops writing once the process falls quiet: no empty writes on every tick', async () => {
    const out = fileOutput(20);
    try {
      out.logger.info('one');
      await vi.waitFor(() => expect(out.messages()).toEqual(['one']), { timeout: 5_000, interval: 20 });
      // A few ticks after the last line it stops; over 25 more ticks it writes nothing.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = out.writes();
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(out.writes()).toBe(before);
      out.logger.info('two');
      await vi.waitFor(() => expect(out.messages()).toEqual(['one', 'two']), { timeout: 5_000, interval: 20 });
    } finally {
      await out.close();
    }
  });
});

/** Runs `script` (with createLogger imported) with stdout on `stdout`; kills it after `timeoutMs` and says so. */
function runWithStdout(script: string, stdout: number | 'pipe', timeoutMs: number, onStdout?: (child: ReturnType<typeof spawn>) => void, stderrFd?: number) {
  const logger = pathToFileURL(path.resolve('dist/src/log/logger.js')).href;
  const source = `import { batchedOutput, createLogger } from ${JSON.stringify(logger)};\n${script}`;
  return new Promise<{ code: number | null; stderr: string; timedOut: boolean }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', stdout, stderrFd ?? 'pipe'] });
    let stderr = '';
    let timedOut = false;
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    onStdout?.(child);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, timedOut });
    });
  });
}

/** A FIFO opened read-write and non-blocking, never read: it takes 64 KiB, then refuses every write with EAGAIN. */
function nonBlockingFifo(): { fd: number; dispose(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-log-'));
  const fifo = path.join(dir, 'stdout');
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  return {
    fd,
    dispose() {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A log file on a disk that refuses writes (ENOSPC) while `full`: sonic-boom calls node:fs's write
 * at each write, so it is patched here, and so is writeSync, to catch what is said on stderr
 * (written straight to fd 2).
 */
function refusingDisk() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-log-'));
  const file = path.join(dir, 'out.log');
  const fd = openSync(file, 'w');
  const disk = { fd, full: true, refused: 0, said: [] as string[] };
  const write = fs.write;
  const writeSync = fs.writeSync;
  fs.writeSync = ((...args: unknown[]) => {
    if (args[0] !== 2) return (writeSync as (...a: unknown[]) => number)(...args);
    disk.said.push(String(args[1]));
    return String(args[1]).length;
  }) as typeof fs.writeSync;
  fs.write = ((...args: unknown[]) => {
    if (!disk.full || args[0] !== fd) return (write as (...a: unknown[]) => void)(...args);
    disk.refused++;
    process.nextTick(args[args.length - 1] as (err: Error) => void, Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
  }) as typeof fs.write;
  return Object.assign(disk, {
    messages: () =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { msg: string }).msg),
    dispose() {
      fs.write = write;
      fs.writeSync = writeSync;
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** Runs `script` as runWithStdout does, with stdout (and stderr too, when asked) on a full disk, `/dev/full`. */
async function runOnFullDisk(script: string, options: { stderrToo?: boolean } = {}) {
  const full = openSync('/dev/full', 'w');
  try {
    return await runWithStdout(script, full, 10_000, undefined, options.stderrToo ? full : undefined);
  } finally {
    closeSync(full);
  }
}

describe('a destination that refuses writes', () => {
  it('a full disk (ENOSPC) neither crashes the process nor hangs its exit; the failure is said once on stderr', async () => {
    // pino's own destination (sonic-boom 4) threw the error out of the write's callback, and the
    // exit's synchronous flush then retried the refused write forever: a process that would not
    // serve, nor end on SIGTERM.
    const run = await runOnFullDisk(
      `const log = createLogger(); log.info('one'); setTimeout(() => { log.info('two'); }, 250); setTimeout(() => { log.info('three'); process.stderr.write('still running\\n'); }, 500);`,
    );
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('still running');
    const said = run.stderr.split('\n').filter((line) => line.includes('ENOSPC'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^tollgate: log lines could not be written to fd 1/);
  }, 15_000);

  it('goes on when stderr, where it says so, is on the full disk too', async () => {
    // process.stderr reports a refused write as an 'error' event later, which nothing caught.
    const run = await runOnFullDisk(`const log = createLogger(); log.info('one'); setTimeout(() => log.info('two'), 250); setTimeout(() => { log.info('three'); process.exitCode = 7; }, 500);`, {
      stderrToo: true,
    });
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(7);
  }, 15_000);

  it('exits at once when the lines held at exit are refused', async () => {
    const run = await runOnFullDisk(`const log = createLogger(); log.info('held'); process.exit(4);`);
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(4);
  }, 15_000);

  it('a reader that takes nothing at exit (EAGAIN) holds the exit for a bounded while, not for ever', async () => {
    const fifo = nonBlockingFifo();
    try {
      // spawn hands the child its stdout blocking (a stalled reader then blocks the write itself,
      // which nothing can bound); Node makes a pipe non-blocking once process.stdout is touched,
      // as any console.log does.
      const script = `void process.stdout; const log = createLogger(); const filler = 'x'.repeat(1000); for (let i = 0; i < 300; i++) log.info({ i, filler }, 'held'); process.exit(5);`;
      const started = performance.now();
      const run = await runWithStdout(script, fifo.fd, 15_000);
      expect(run.timedOut).toBe(false);
      expect(run.code).toBe(5);
      // LOG_FLUSH_WAIT_MS (2 s) of retries in all, with a margin for a loaded machine.
      const tookMs = performance.now() - started;
      expect(tookMs).toBeGreaterThan(1_900);
      expect(tookMs).toBeLessThan(3_500);
    } finally {
      fifo.dispose();
    }
  }, 20_000);

  it('holds the lines a full disk refused and writes them, in order, once it takes writes again', async () => {
    const disk = refusingDisk();
    try {
      const logger = createLogger({ destination: batchedOutput(disk.fd, { flushIntervalMs: 10 }) });
      logger.info('one');
      await vi.waitFor(() => expect(disk.refused).toBeGreaterThan(0), { timeout: 5_000, interval: 10 });
      logger.info('two');
      await vi.waitFor(() => expect(disk.refused).toBeGreaterThan(1), { timeout: 5_000, interval: 10 });
      expect(disk.said.filter((text) => text.includes('ENOSPC'))).toHaveLength(1);
      expect(disk.messages()).toEqual([]);
      disk.full = false;
      logger.info('three');
      await vi.waitFor(() => expect(disk.messages()).toEqual(['one', 'two', 'three']), { timeout: 5_000, interval: 20 });
    } finally {
      disk.dispose();
    }
  });

  it('a reader already full at exit holds the exit 2 s in all, not 2 s for the last batch and 2 more for the flush', async () => {
    const fifo = nonBlockingFifo();
    try {
      // Full before the child starts: its last batch's synchronous write is refused at once.
      let filled = 0;
      try {
        for (;;) filled += writeSync(fifo.fd, Buffer.alloc(4096, 0x78));
      } catch {
        // EAGAIN: full.
      }
      expect(filled).toBeGreaterThan(0);
      const started = performance.now();
      const run = await runWithStdout(`void process.stdout; const log = createLogger(); log.info('last'); process.exit(3);`, fifo.fd, 15_000);
      expect(run.code).toBe(3);
      expect(performance.now() - started).toBeLessThan(3_500);
      expect(run.stderr).toMatch(/\(EAGAIN: .*its reader took nothing for 2 s/);
    } finally {
      fifo.dispose();
    }
  }, 20_000);

  it('a reader that takes nothing holds a flush and the exit after it 2 s in all, and pino\'s fatal (a synchronous flush) as long', async () => {
    const { fd, dispose } = nonBlockingFifo();
    try {
      const fill = `void process.stdout; const out = batchedOutput(); const log = createLogger({ destination: out }); const filler = 'x'.repeat(1000); for (let i = 0; i < 300; i++) log.info({ i, filler }, 'held');`;
      // SIGTERM's path: a flush that waits for the reader (2 s), then the exit. The exit waited 2 s more.
      let started = performance.now();
      const flushed = await runWithStdout(`${fill} out.stream.flush(() => process.exit(6));`, fd, 15_000);
      expect(flushed.code).toBe(6);
      expect(performance.now() - started).toBeLessThan(3_500);
      // fatal flushes synchronously: it retried for ever.
      started = performance.now();
      const fatal = await runWithStdout(`${fill} log.fatal('last words'); process.exit(8);`, fd, 15_000);
      expect(fatal.timedOut).toBe(false);
      expect(fatal.code).toBe(8);
      expect(performance.now() - started).toBeLessThan(3_500);
    } finally {
      dispose();
    }
  }, 40_000);

  it('opens the limit again once a refusing disk has room: the held lines are written without a new line to carry them', async () => {
    const disk = refusingDisk();
    try {
      const before = droppedLogLines();
      const logger = createLogger({ destination: batchedOutput(disk.fd, { flushIntervalMs: 10, maxBufferBytes: 4000 }) });
      for (let i = 0; i < 100; i++) {
        logger.info({ i }, 'while full');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const dropped = droppedLogLines() - before;
      expect(dropped).toBeGreaterThan(0);
      disk.full = false;
      await vi.waitFor(() => expect(disk.messages()).toHaveLength(100 - dropped), { timeout: 5_000, interval: 20 });
      logger.info('after');
      await vi.waitFor(() => expect(disk.messages().at(-1)).toBe('after'), { timeout: 5_000, interval: 20 });
      expect(droppedLogLines() - before).toBe(dropped);
    } finally {
      disk.dispose();
    }
  });

  it('counts the lines a reader that went away (EPIPE) never got, those on their way too, and a flush does not wait for it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-log-'));
    const fd = openSync(path.join(dir, 'out.log'), 'w');
    const write = fs.write;
    fs.write = ((...args: unknown[]) => {
      if (args[0] !== fd) return (write as (...a: unknown[]) => void)(...args);
      // A pipe whose reader left: every write refused, after a while (a write in flight).
      setTimeout(args[args.length - 1] as (err: Error) => void, 30, Object.assign(new Error('EPIPE: broken pipe, write'), { code: 'EPIPE' }));
    }) as typeof fs.write;
    try {
      const before = droppedLogLines();
      const output = batchedOutput(fd, { flushIntervalMs: 5 });
      const logger = createLogger({ destination: output });
      for (let i = 0; i < 50; i++) {
        logger.info({ i }, 'line');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const started = performance.now();
      await new Promise<void>((resolve) => output.stream.flush(() => resolve()));
      expect(performance.now() - started).toBeLessThan(1_000);
      await vi.waitFor(() => expect(droppedLogLines() - before).toBe(50), { timeout: 5_000, interval: 20 });
      logger.info('later');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(droppedLogLines() - before).toBe(51);
    } finally {
      fs.write = write;
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts, when the reader goes away after taking part of a batch (EPIPE), only the lines it did not get', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-log-'));
    const file = path.join(dir, 'out.log');
    const fd = openSync(file, 'w');
    const write = fs.write;
    let calls = 0;
    fs.write = ((...args: unknown[]) => {
      if (args[0] !== fd) return (write as (...a: unknown[]) => void)(...args);
      const callback = args[args.length - 1] as (err: Error | null, bytes?: number) => void;
      // The first write takes half of the batch; then the reader is gone.
      if (calls++ === 0) process.nextTick(callback, null, writeSync(fd, (args[1] as Buffer).subarray(0, (args[1] as Buffer).length >> 1)));
      else process.nextTick(callback, Object.assign(new Error('EPIPE: broken pipe, write'), { code: 'EPIPE' }));
    }) as typeof fs.write;
    try {
      const before = droppedLogLines();
      const output = batchedOutput(fd, { flushIntervalMs: 60_000 });
      for (let i = 0; i < 20; i++) output.stream.write(`${JSON.stringify({ i, pad: 'x'.repeat(100) })}\n`);
      output.stream.flush();
      await vi.waitFor(() => expect(calls).toBe(2), { timeout: 5_000, interval: 10 });
      const delivered = readFileSync(file, 'utf8').split('\n').length - 1;
      expect(delivered).toBe(10);
      // The line cut in half counts as dropped: its reader never got all of it.
      expect(droppedLogLines() - before).toBe(20 - delivered);
    } finally {
      fs.write = write;
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps its count of what is on its way right across a synchronous flush (pino\'s fatal) that is refused partway', async () => {
    const disk = refusingDisk();
    const writeSync = fs.writeSync;
    // The disk has room, for synchronous writes, for this many bytes more.
    let room = Infinity;
    const patchedWriteSync = fs.writeSync;
    fs.writeSync = ((...args: unknown[]) => {
      if (args[0] !== disk.fd) return (patchedWriteSync as (...a: unknown[]) => number)(...args);
      if (room <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      const bytes = args[1] as Buffer;
      const taken = Math.min(bytes.length, room);
      room -= taken;
      return (writeSync as (...a: unknown[]) => number)(disk.fd, bytes.subarray(0, taken));
    }) as typeof fs.writeSync;
    try {
      const before = droppedLogLines();
      const output = batchedOutput(disk.fd, { flushIntervalMs: 20, flushWaitMs: 1_000, maxBufferBytes: 8192 });
      const line = (tag: string, i: number) => `${JSON.stringify({ msg: `${tag}${i}`, pad: 'x'.repeat(300) })}\n`;
      for (let i = 0; i < 20; i++) output.stream.write(line('A', i));
      output.stream.flush();
      await vi.waitFor(() => expect(disk.refused).toBeGreaterThan(0), { timeout: 5_000, interval: 10 });
      for (let i = 0; i < 3; i++) output.stream.write(line('B', i));
      output.stream.flush();
      // The A batch's second try (carried by the B batch) is refused meanwhile: no write is in flight.
      await vi.waitFor(() => expect(disk.refused).toBeGreaterThan(1), { timeout: 5_000, interval: 5 });
      await new Promise((resolve) => setImmediate(resolve));
      // Room for the A lines only: the flush writes them, then is refused.
      // (Exactly them: a synchronous write refused in the middle of a batch is written again whole
      // later, by sonic-boom 5.0.2's flushBufferSync, which keeps its progress in a local.)
      room = Array.from({ length: 20 }, (_, i) => line('A', i).length).reduce((a, b) => a + b, 0);
      output.stream.flushSync();
      disk.full = false;
      room = Infinity;
      output.stream.write(line('C', 0));
      output.stream.flush();
      await vi.waitFor(() => expect(disk.messages()).toContain('C0'), { timeout: 5_000, interval: 10 });
      // Nothing is on its way now: a flush calls back at once, and the limit is whole again.
      const started = performance.now();
      await new Promise<void>((resolve) => output.stream.flush(() => resolve()));
      expect(performance.now() - started).toBeLessThan(500);
      for (let i = 0; i < 6; i++) output.stream.write(line('D', i));
      output.stream.flush();
      await vi.waitFor(() => expect(disk.messages()).toContain('D5'), { timeout: 5_000, interval: 10 });
      expect(droppedLogLines() - before).toBe(0);
      expect(disk.messages()).toEqual([...['A', 'B', 'C'].flatMap((tag) => Array.from({ length: tag === 'A' ? 20 : tag === 'B' ? 3 : 1 }, (_, i) => `${tag}${i}`)), 'D0', 'D1', 'D2', 'D3', 'D4', 'D5']);
    } finally {
      fs.writeSync = writeSync;
      disk.dispose();
    }
  });

  it('counts a line written after end() as dropped, and does not wait for it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-log-'));
    try {
      const output = batchedOutput(openSync(path.join(dir, 'out.log'), 'w'), { flushIntervalMs: 10 });
      const stream = output.stream as unknown as LineDestination & { once(event: 'close', listener: () => void): void };
      const closed = new Promise<void>((resolve) => stream.once('close', resolve));
      stream.end();
      await closed;
      const before = droppedLogLines();
      stream.write('{"late":1}\n{"late":2}\n');
      const started = performance.now();
      await new Promise<void>((resolve) => stream.flush(() => resolve()));
      expect(performance.now() - started).toBeLessThan(500);
      expect(droppedLogLines() - before).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a reader that goes away (EPIPE) stops the lines quietly; the process goes on', async () => {
    const script = `const log = createLogger(); let n = 0; const t = setInterval(() => { log.info({ n: n++ }, 'tick'); if (n === 40) { clearInterval(t); process.stderr.write('done\\n'); } }, 10);`;
    const run = await runWithStdout(script, 'pipe', 10_000, (child) => child.stdout!.once('data', () => child.stdout!.destroy()));
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('done\n');
  }, 15_000);
});
