// Child processes of the e2e suite, started so that none of them outlives the run: each gets its
// own process group (so its children go too), the parent-death signal when setpriv exists (so even
// a SIGKILLed test worker takes them along), and is killed on stop(), on process exit, on
// SIGINT/SIGTERM/SIGHUP, and when the worker finds itself orphaned by a killed test runner.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** How long a process gets between SIGTERM and SIGKILL. */
export const stopGraceMs = 5_000;
/** How often a worker checks whether its parent (the test runner) is still there. */
const orphanCheckMs = 1_000;

export interface ManagedProcessOptions {
  /** Where stdout and stderr go; read back by `logTail()`. */
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Whether the process has ended. */
  hasExited(): boolean;
  /** The last lines of its log, for error messages. */
  logTail(lines?: number): string;
  /** SIGTERM to the whole group, SIGKILL after `stopGraceMs`; resolves once it has ended. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
const cleanups = new Set<() => void>();
let hooksInstalled = false;

const pdeathsig = hasSetprivPdeathsig();

function hasSetprivPdeathsig(): boolean {
  if (process.platform !== 'linux') return false;
  const probe = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' });
  return probe.status === 0;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Kills every process still running and runs the registered cleanups; synchronous, for exit paths. */
export function killAllNow(): void {
  for (const child of running) killGroup(child, 'SIGKILL');
  running.clear();
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // Best effort on the way out.
    }
  }
  cleanups.clear();
}

/** Registers synchronous cleanup (removing a temp dir) to run on exit if nobody ran it before. */
export function onExitCleanup(cleanup: () => void): () => void {
  installExitHooks();
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      // Vitest replaces process.exit in its workers, so end by the signal's default action
      // unless someone else still listens for it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
  // A test runner killed outright leaves its workers orphaned and still running: when our parent
  // changes, nobody is waiting for us any more.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      killAllNow();
      process.kill(process.pid, 'SIGKILL');
    }
  }, orphanCheckMs).unref();
}

/** Starts `command` in its own process group, output to `logFile`, tracked for teardown. */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: ManagedProcessOptions,
): ManagedProcess {
  installExitHooks();
  const log = openSync(options.logFile, 'a');
  const [file, argv] = pdeathsig
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]]
    : [command, [...args]];
  let child: ChildProcess;
  try {
    child = spawn(file, argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', log, log],
      detached: true,
    });
  } finally {
    closeSync(log);
  }
  if (child.pid === undefined) throw new Error(`e2e: could not start ${name} (${command})`);
  running.add(child);

  const exited = new Promise<number | string>((resolve) => {
    const done = (code: number | string) => {
      running.delete(child);
      resolve(code);
    };
    child.once('exit', (code, signal) => done(code ?? signal ?? 'unknown'));
    child.once('error', (error) => done(error.message));
  });
  const pid = child.pid;
  let ended = false;
  void exited.then(() => (ended = true));

  return {
    name,
    pid,
    logFile: options.logFile,
    exited,
    hasExited: () => ended,
    logTail: (lines = 40) => tail(options.logFile, lines),
    async stop() {
      if (ended) return;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), stopGraceMs);
      await exited;
      clearTimeout(timer);
      // The leader is gone; anything it left in its group goes now.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Nothing left.
      }
    },
  };
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
