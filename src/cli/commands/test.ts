// `tollgate test`: runs policies' fixture suites (tollgate-test.yaml) and reports each case.
// Exit 0: every case passed; 1: a case failed; 2: a suite or its policy module could not be loaded.
import { Command } from 'commander';
import { findFixtureSuites, runFixtureSuite, SUITE_FILE, type SuiteResult } from '../../testing/fixtures.js';
import { createLogger } from '../../log/logger.js';
import { ExitCodes, type CliIO } from '../io.js';
import { maxBlockedOption, watchForHangs } from '../watchdog.js';

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');
}

/** Each suite, each case as `ok` or `FAIL` with what did not match below it, and a summary line. */
export function formatTestResults(results: readonly SuiteResult[]): string {
  const lines: string[] = [];
  let passed = 0;
  let failed = 0;
  for (const suite of results) {
    lines.push(`${suite.file} (policy: ${suite.policy})`);
    for (const c of suite.cases) {
      if (c.passed) passed++;
      else failed++;
      lines.push(`  ${c.passed ? 'ok  ' : 'FAIL'}  ${c.name}`);
      for (const failure of c.failures) lines.push(indent(failure, '        '));
    }
  }
  const suites = `${results.length} suite${results.length === 1 ? '' : 's'}`;
  lines.push(`${suites}, ${passed + failed} cases: ${passed} passed, ${failed} failed`);
  return `${lines.join('\n')}\n`;
}

export function testCommand(io: CliIO, setExitCode: (code: number) => void): Command {
  return new Command('test')
    .description(`run policy fixture suites (${SUITE_FILE}) and report each case`)
    .argument('[paths...]', `${SUITE_FILE} files, or directories holding them (searched below)`, ['.'])
    .addOption(maxBlockedOption())
    .action(async (paths: string[], flags: { maxBlockedSeconds: number }) => {
      const results: SuiteResult[] = [];
      const watchdog = watchForHangs(flags.maxBlockedSeconds, 2, createLogger({ level: 'error', destination: { write: (line: string) => io.stderr.write(line) } }));
      try {
        for (const file of await findFixtureSuites(paths)) results.push(await runFixtureSuite(file));
      } finally {
        await watchdog?.close();
      }
      io.stdout.write(formatTestResults(results));
      setExitCode(results.every((r) => r.passed) ? ExitCodes.ok : ExitCodes.denied);
    });
}
