// What a CLI command reads and writes, passed in so that tests need no patching of process.
import type { Readable } from 'node:stream';

export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  stdin: Readable;
}

export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
}

/** Exit codes shared by every command. */
export const ExitCodes = { ok: 0, denied: 1, usage: 2 } as const;
