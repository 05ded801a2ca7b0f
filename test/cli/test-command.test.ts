import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';

function fakeIO(): CliIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, stdin: Readable.from([]), out: () => out, err: () => err };
}

async function tollgateTest(...paths: string[]) {
  const io = fakeIO();
  const code = await run(['test', ...paths], io);
  return { code, out: io.out(), err: io.err() };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tollgate-test-cmd-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tollgate test', () => {
  it('passes the example module’s suite, as the guide says (exit 0)', async () => {
    const { code, out } = await tollgateTest('policies/examples/require-team-label');
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe(`${path.join('policies/examples/require-team-label', 'tollgate-test.yaml')} (policy: .)`);
    expect(lines).toContain('  ok    a Deployment without the label is denied');
    expect(lines.at(-1)).toBe('1 suite, 9 cases: 9 passed, 0 failed');
  });

  it('runs every suite under a directory: the built-ins and the example', async () => {
    const { code, out } = await tollgateTest('policies');
    expect(code).toBe(0);
    expect(out).toContain('policies/annotation-injection/tollgate-test.yaml (policy: annotation-injection)');
    expect(out).toContain('policies/image-registry-allowlist/tollgate-test.yaml (policy: image-registry-allowlist)');
    expect(out).toMatch(/\n3 suites, \d+ cases: \d+ passed, 0 failed\n$/);
  });

  it('exits 1 on a failing case, showing what was expected and what came', async () => {
    const suite = path.join(dir, 'failing');
    await mkdir(suite, { recursive: true });
    await writeFile(
      path.join(suite, 'tollgate-test.yaml'),
      `policy: annotation-injection
config: { annotations: { a: "1" } }
cases:
  - name: passes
    object: { apiVersion: v1, kind: ConfigMap, metadata: { name: c, namespace: x } }
    expect: { allowed: true, patch: [{ op: add, path: /metadata/annotations, value: { a: "1" } }] }
  - name: expects the wrong value
    object: { apiVersion: v1, kind: ConfigMap, metadata: { name: c, namespace: x } }
    expect: { allowed: true, patch: [{ op: add, path: /metadata/annotations, value: { a: "2" } }] }
`,
    );
    const { code, out } = await tollgateTest(suite);
    expect(code).toBe(1);
    expect(out).toContain('  ok    passes\n  FAIL  expects the wrong value\n        the patch differs (- expected, + actual):\n');
    expect(out).toContain('        -       "a": "2"\n        +       "a": "1"\n');
    expect(out).toContain('1 suite, 2 cases: 1 passed, 1 failed');
  });

  it('exits 2 on a suite that cannot be loaded, naming file and field', async () => {
    const suite = path.join(dir, 'broken');
    await mkdir(suite, { recursive: true });
    await writeFile(path.join(suite, 'tollgate-test.yaml'), 'policy: annotation-injection\ncases: []\n');
    const { code, err } = await tollgateTest(suite);
    expect(code).toBe(2);
    expect(err).toContain(`${path.join(suite, 'tollgate-test.yaml')}:2: cases must NOT have fewer than 1 items (TG_ERR_TEST_SUITE)`);
  });

  it('exits 2 when there is no suite to run', async () => {
    const { code, err } = await tollgateTest(path.join(dir, 'nothing-here'));
    expect(code).toBe(2);
    expect(err).toContain('TG_ERR_TEST_SUITE');
  });

  it('runs as the built command with the same exit code', async () => {
    const bin = path.resolve('dist/src/cli/bin.js');
    const code = await new Promise<number>((resolve) =>
      execFile(process.execPath, [bin, 'test', 'policies/examples/require-team-label'], { timeout: 15_000 }, (error) => resolve(error ? Number((error as { code?: unknown }).code ?? 1) : 0)),
    );
    expect(code).toBe(0);
  });
});
