// The --max-blocked-seconds option every command that runs policies takes, and the watchdog it starts
// (src/engine/hang-watchdog.ts): a policy stuck in synchronous code kills the process instead of hanging it.
import { Option } from 'commander';
import { DEFAULT_MAX_BLOCKED_SECONDS, startHangWatchdog, type HangWatchdog } from '../engine/hang-watchdog.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { parseSeconds } from './arguments.js';

export function maxBlockedOption(): Option {
  return new Option(
    '--max-blocked-seconds <seconds>',
    'kill the process when its event loop has been blocked this long (a policy stuck in synchronous code); 0: never',
  )
    .argParser(parseSeconds)
    .default(DEFAULT_MAX_BLOCKED_SECONDS);
}

/** Starts the watchdog, writing its line to `fd`; none for 0 seconds. */
export function watchForHangs(seconds: number, fd: number, logger: Logger): HangWatchdog | undefined {
  if (seconds === 0) return undefined;
  return startHangWatchdog({ limitMs: Math.max(1, Math.round(seconds * 1000)), fd, onFailure: (err) => logger.error({ err: describeError(err) }, 'the hang watchdog failed; a policy stuck in synchronous code will not be caught') });
}
