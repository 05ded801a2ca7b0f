// The built `tollgate` binary as a child process, for tests of what only a whole process shows:
// exit codes, signals, what reaches stdout and stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

export const BIN = path.resolve('dist/src/cli/bin.js');

export interface TollgateProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output: () => string;
  /** The exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** The signal that ended it, if one did. */
  signal: Promise<NodeJS.Signals | null>;
}

export interface SpawnOptions {
  /** A file descriptor for the child's stdout (its output() then has only stderr); a pipe by default. */
  stdout?: number;
}

function spawnTollgate(args: string[], cwd: string, spawned: ChildProcess[], options: SpawnOptions = {}): TollgateProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'] });
  spawned.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => output, exited: ended.then((e) => e.code), signal: ended.then((e) => e.signal) };
}

/** Polls `probe` until it returns something, or fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out waiting');
}

/**
 * For a test file: spawns the binary and makes fresh directories, and after each test kills what
 * it spawned and removes what it made.
 */
export function tollgateProcesses(prefix: string): { spawn(args: string[], cwd: string, options?: SpawnOptions): TollgateProcess; tempDir(): Promise<string> } {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  return {
    spawn: (args, cwd, options) => spawnTollgate(args, cwd, children, options),
    async tempDir() {
      const dir = await mkdtemp(path.join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
  };
}
