// `tollgate test`: runs policies' fixture suites (tollgate-test.yaml) and reports each case.
// Exit 0: every case passed; 1: a case failed; 2: a suite or its policy module could not be loaded.
import { Command } from 'commander';
import { findFixtureSuites, runFixtureSuite, SUITE_FILE, type SuiteResult } from '../../testing/fixtures.js';
import { ExitCodes, type CliIO } from '../io.js';

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
    .action(async (paths: string[]) => {
      const results: SuiteResult[] = [];
      for (const file of await findFixtureSuites(paths)) results.push(await runFixtureSuite(file));
      io.stdout.write(formatTestResults(results));
      setExitCode(results.every((r) => r.passed) ? ExitCodes.ok : ExitCodes.denied);
    });
}
