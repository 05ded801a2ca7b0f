// The watchdog's thread in this process (test/cli/hang.test.ts kills whole processes with it).
import { describe, expect, it } from 'vitest';
import { startHangWatchdog } from '../../src/engine/hang-watchdog.js';

describe('startHangWatchdog', () => {
  it('takes a limit that is no whole number of milliseconds (16.1 s is 16100.000000000002 ms)', async () => {
    const failures: Error[] = [];
    const watchdog = startHangWatchdog({ limitMs: 16.1 * 1000, onFailure: (err) => failures.push(err) });
    // Long enough for the thread to start and run its first checks.
    await new Promise((resolve) => setTimeout(resolve, 600));
    await watchdog.close();
    expect(failures).toEqual([]);
  });
});
