// The server processes a benchmark starts: tollgate and the floor, each in its own process with its
// log in a file, found by the URL it logs, measured through /proc, and never left running.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a server may take from spawn to its "serving" line. */
export const START_TIMEOUT_MS = 20_000;
/** Between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 5_000;

const CLOCK_TICKS_PER_SECOND = 100;

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}

export interface ServerProcess {
  /** For the table and the logs: `floor`, `tollgate`, `tollgate #2`. */
  label: string;
  pid: number;
  url: URL;
  logFile: string;
  /** Bytes of log written so far: mark it before a run to read that run's lines afterwards. */
  logSize(): number;
  logSince(offset: number): string;
  /** CPU seconds (user + system, every thread) the process has used. */
  cpuSeconds(): number;
  /** Resident set size in bytes. */
  rssBytes(): number;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  label: string;
  /** Node script and its arguments. */
  args: string[];
  nodeOptions?: string[];
  logFile: string;
  /** A log line (JSON) containing this message carries the `url` the server listens on. */
  readyMessage: string;
}

function readUrl(logFile: string, message: string): URL | undefined {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (!line.includes(message)) continue;
    try {
      const parsed = JSON.parse(line) as { url?: unknown };
      if (typeof parsed.url === 'string') return new URL(parsed.url);
    } catch {
      // A line still being written.
    }
  }
  return undefined;
}

/** A file from `offset` to its end: a server's log reaches hundreds of MB over a bench, and runs read only their own lines. */
export function readFrom(file: string, offset: number): string {
  const fd = openSync(file, 'r');
  try {
    const bytes = Buffer.alloc(Math.max(0, statSync(file).size - offset));
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, offset + read);
      if (n === 0) break;
      read += n;
    }
    return bytes.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export async function spawnServer(options: SpawnOptions): Promise<ServerProcess> {
  const out = openSync(options.logFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...(options.nodeOptions ?? []), ...options.args], { stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  const pid = child.pid ?? 0;

  const deadline = Date.now() + START_TIMEOUT_MS;
  let url: URL | undefined;
  while (!url) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = readFileSync(options.logFile, 'utf8').split('\n').slice(-15).join('\n');
      throw new Error(`${options.label} did not start:\n${log}`);
    }
    await sleep(50);
    url = readUrl(options.logFile, options.readyMessage);
  }
  return {
    label: options.label,
    pid,
    url,
    logFile: options.logFile,
    logSize: () => statSync(options.logFile).size,
    logSince: (offset) => readFrom(options.logFile, offset),
    cpuSeconds: () => {
      // Fields after the command name (which may contain spaces); utime and stime are the 14th and 15th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    },
    rssBytes: () => {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return match ? Number(match[1]) * 1024 : 0;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
