// The authoring guide (policies/README.md) must stay runnable as written: its code blocks are the
// example's files, and its commands print what it shows.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { runFixtureSuite } from '../../src/testing/fixtures.js';

const EXAMPLE = path.join('policies', 'examples', 'require-team-label');
let guide: string;
let dir: string;

/** The fenced blocks of the guide in a language, in order. */
function blocks(language: string): string[] {
  return [...guide.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

/** Text without whole-line comments and blank lines, and with trailing comments dropped. */
function code(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/\s+#\s.*$/, '').trimEnd())
    .filter((line) => line.trim() !== '' && !/^\s*(\/\/|#|\/\*|\*)/.test(line));
}

beforeAll(async () => {
  guide = await readFile(path.join('policies', 'README.md'), 'utf8');
  dir = await mkdtemp(path.join(tmpdir(), 'tollgate-guide-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('policies/README.md', () => {
  it('shows the example module as it is (comments aside)', async () => {
    const [module] = blocks('js');
    expect(code(module!)).toEqual(code(await readFile(path.join(EXAMPLE, 'index.js'), 'utf8')));
  });

  it('shows the config of step 5 as it is', async () => {
    const config = blocks('yaml').find((b) => b.startsWith('policies:'));
    expect(code(config!)).toEqual(code(await readFile(path.join('policies', 'examples', 'tollgate.yaml'), 'utf8')));
  });

  it('has a suite in step 3 that passes against the example', async () => {
    const suite = blocks('yaml').find((b) => b.startsWith('policy: .'));
    await cp(EXAMPLE, path.join(dir, 'require-team-label'), { recursive: true });
    await writeFile(path.join(dir, 'require-team-label', 'tollgate-test.yaml'), suite!);
    const result = await runFixtureSuite(path.join(dir, 'require-team-label', 'tollgate-test.yaml'));
    expect(result.cases.map((c) => [c.name, c.failures])).toEqual(result.cases.map((c) => [c.name, []]));
    expect(result.cases).toHaveLength(4);
  });

  it('prints what step 5 shows for tollgate check, and exits 1', async () => {
    const console = blocks('console').find((b) => b.startsWith('$ tollgate check') && !b.includes('--webhooks'))!;
    const [command, ...rest] = console.split('\n');
    const shown = rest.slice(0, rest.findIndex((line) => line.startsWith('$ echo')));
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, stdin: Readable.from([]) };
    const code = await run(command!.replace('$ tollgate ', '').split(' '), io);
    expect(code).toBe(1);
    expect(out.trimEnd().split('\n')).toEqual(shown);
  });

  it('prints what step 5 shows for tollgate check --webhooks, and exits 0', async () => {
    const console = blocks('console').find((b) => b.startsWith('$ tollgate check') && b.includes('--webhooks'))!;
    const [command, ...shown] = console.trimEnd().split('\n');
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, stdin: Readable.from([]) };
    expect(await run(command!.replace('$ tollgate ', '').split(' '), io)).toBe(0);
    expect(out.trimEnd().split('\n')).toEqual(shown);
  });

  it('prints what step 3 shows for tollgate test, and exits 0', async () => {
    const console = blocks('console').find((b) => b.startsWith('$ tollgate test'))!;
    const [command, ...shown] = console.trimEnd().split('\n');
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, stdin: Readable.from([]) };
    expect(await run(command!.replace('$ tollgate ', '').split(' '), io)).toBe(0);
    const lines = out.trimEnd().split('\n');
    for (const line of shown.filter((l) => l.trim() !== '...')) expect(lines).toContain(line);
  });
});
