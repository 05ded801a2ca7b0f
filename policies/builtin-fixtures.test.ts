// Runs every built-in policy's fixture suite (policies/<name>/tollgate-test.yaml) through the runner
// `tollgate test` uses, one vitest case per fixture case.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadFixtureSuite, runFixtureCase, SUITE_FILE } from '../src/testing/fixtures.js';

const POLICIES = path.dirname(fileURLToPath(import.meta.url));
const builtins = readdirSync(POLICIES, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(path.join(POLICIES, entry.name, 'index.ts')))
  .map((entry) => entry.name)
  .sort();

describe('built-in policy fixture suites', () => {
  it('every built-in policy has a suite', () => {
    expect(builtins.length).toBeGreaterThanOrEqual(2);
    for (const name of builtins) expect(existsSync(path.join(POLICIES, name, SUITE_FILE)), `${name}/${SUITE_FILE}`).toBe(true);
  });
});

for (const name of builtins) {
  const suite = await loadFixtureSuite(path.join(POLICIES, name, SUITE_FILE));
  describe(`${name}/${SUITE_FILE}`, () => {
    it('names the built-in policy of its own directory', () => {
      expect(suite.policy).toBe(name);
    });
    it.each(suite.cases.map((c) => [c.name, c] as const))('%s', async (_name, fixtureCase) => {
      const result = await runFixtureCase(suite, fixtureCase);
      expect(result.failures.join('\n\n')).toBe('');
      expect(result.passed).toBe(true);
    });
  });
}
