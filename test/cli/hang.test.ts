// A policy stuck in synchronous code cannot be interrupted in-process: the watchdog kills the
// process after --max-blocked-seconds, with one fatal line naming the policy and what it was judging,
// so that `serve` stops holding reviews (the apiserver's failurePolicy applies) and `check` fails CI
// instead of hanging it. An event loop that keeps turning, idle or awaiting, is never killed.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tollgateProcesses, waitFor } from '../helpers/cli.js';
import { httpsRequest } from '../helpers/https.js';
import { pod, reviewFor } from '../helpers/reviews.js';

const { spawn: spawnTollgate, tempDir } = tollgateProcesses('tollgate-hang-');

/**
 * A validating policy that spins for ever on a pod named "stuck" (or after an await, on "later"),
 * busy-waits 2.5 s on one named "slow" and 50 ms on "brief", awaits 2.5 s on one named "waiting",
 * and allows the rest.
 */
const SPINNING_POLICY = `export default {
  name: 'spinner',
  kind: 'validating',
  create() {
    return {
      validate(request) {
        const name = request.object?.metadata?.name ?? request.object?.metadata?.generateName;
        if (name === 'stuck') for (;;) {}
        if (name === 'later') return Promise.resolve().then(() => { for (;;) {} });
        if (name?.startsWith('brief')) { const end = Date.now() + 50; while (Date.now() < end) {} }
        if (name === 'slow') { const end = Date.now() + 2500; while (Date.now() < end) {} }
        if (name === 'waiting') return new Promise((resolve) => setTimeout(() => resolve({ allowed: true }), 2500));
        return { allowed: true };
      },
    };
  },
};
`;

interface FatalLine {
  level: number;
  policy?: string;
  uid?: string;
  object?: string;
  context?: string;
  insidePolicy: boolean;
  blockedMs: number;
  msg: string;
}

function fatalLine(output: string): FatalLine | undefined {
  const line = output.split('\n').find((l) => l.startsWith('{"level":60'));
  return line ? (JSON.parse(line) as FatalLine) : undefined;
}

async function workspace(): Promise<string> {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'spinner.mjs'), SPINNING_POLICY);
  await writeFile(path.join(dir, 'config.yaml'), 'policies:\n  - module: ./spinner.mjs\n    timeoutMs: 5000\n');
  return dir;
}

const manifest = (name: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n    - name: c\n      image: nginx\n`;

describe('the hang watchdog', () => {
  it('kills `tollgate check` stuck in a policy, naming the policy, the object and the manifest', async () => {
    const cwd = await workspace();
    await writeFile(path.join(cwd, 'pods.yaml'), `${manifest('fine')}---\n${manifest('stuck')}`);
    const started = Date.now();
    const run = spawnTollgate(['check', '-c', 'config.yaml', '--max-blocked-seconds', '1', 'pods.yaml'], cwd);
    expect(await run.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(10_000);
    const fatal = fatalLine(run.output());
    expect(fatal).toMatchObject({ level: 60, policy: 'spinner', object: 'default/stuck', context: 'pods.yaml#2' });
    expect(fatal?.blockedMs).toBeGreaterThanOrEqual(1000);
    expect(fatal?.msg).toContain('in policy "spinner" on review');
    // No report: nothing was judged allowed.
    expect(run.output()).not.toContain('objects checked');
  }, 20_000);

  it('names an object the apiserver has not named yet by its generateName', async () => {
    const cwd = await workspace();
    // Mutating: the validating chain sees the name the apiserver generates by then.
    const mutatingSpinner = SPINNING_POLICY.replace("kind: 'validating'", "kind: 'mutating'").replace('validate(request) {', 'mutate(request) {').replace('return { allowed: true };', 'return;');
    await writeFile(path.join(cwd, 'spinner.mjs'), mutatingSpinner);
    await writeFile(path.join(cwd, 'pods.yaml'), manifest('fine').replace('  name: fine', '  generateName: stuck'));
    const run = spawnTollgate(['check', '-c', 'config.yaml', '--max-blocked-seconds', '1', 'pods.yaml'], cwd);
    expect(await run.signal).toBe('SIGKILL');
    expect(fatalLine(run.output())).toMatchObject({ policy: 'spinner', object: 'default/stuck*', context: 'pods.yaml#1' });
  }, 20_000);

  it('names the last policy called when the loop is blocked after its await, outside its call', async () => {
    const cwd = await workspace();
    await writeFile(path.join(cwd, 'pods.yaml'), manifest('later'));
    const run = spawnTollgate(['check', '-c', 'config.yaml', '--max-blocked-seconds', '1', 'pods.yaml'], cwd);
    expect(await run.signal).toBe('SIGKILL');
    const fatal = fatalLine(run.output());
    expect(fatal).toMatchObject({ insidePolicy: false, policy: 'spinner', object: 'default/later' });
    expect(fatal?.msg).toContain('outside any policy\'s synchronous code');
    expect(fatal?.msg).toContain('the last called was policy "spinner"');
  }, 20_000);

  it('does not count a run of synchronous policies as one block: 40 reviews of 50 ms each under a limit of 1 s', async () => {
    const cwd = await workspace();
    await writeFile(path.join(cwd, 'pods.yaml'), Array.from({ length: 40 }, (_, i) => manifest(`brief-${i}`)).join('---\n'));
    const run = spawnTollgate(['check', '-c', 'config.yaml', '--max-blocked-seconds', '1', 'pods.yaml'], cwd);
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('40 objects checked: 40 allowed, 0 denied');
  }, 20_000);

  it('kills a policy whose create() never returns, saying so', async () => {
    const cwd = await workspace();
    await writeFile(path.join(cwd, 'stuck-create.mjs'), "export default { name: 'stuck-create', kind: 'validating', create() { for (;;) {} } };\n");
    await writeFile(path.join(cwd, 'stuck.yaml'), 'policies:\n  - module: ./stuck-create.mjs\n');
    await writeFile(path.join(cwd, 'pods.yaml'), manifest('fine'));
    const run = spawnTollgate(['check', '-c', 'stuck.yaml', '--max-blocked-seconds', '1', 'pods.yaml'], cwd);
    expect(await run.signal).toBe('SIGKILL');
    expect(fatalLine(run.output())?.msg).toContain('in policy "stuck-create" while it was being created');
  }, 20_000);

  it('leaves a policy that blocks for less than the limit, or awaits longer than it, to the policy time-out', async () => {
    const cwd = await workspace();
    await writeFile(path.join(cwd, 'pods.yaml'), `${manifest('slow')}---\n${manifest('waiting')}`);
    const [killed, ...judged] = ['1', '3', '0'].map((limit) => spawnTollgate(['check', '-c', 'config.yaml', '--max-blocked-seconds', limit, 'pods.yaml'], cwd));
    // Blocked 2.5 s against a limit of 1 s: killed (within 1-1.5 s).
    expect(await killed!.signal).toBe('SIGKILL');
    expect(fatalLine(killed!.output())?.object).toBe('default/slow');
    // The same with a limit of 3 s, or none: judged, and the await of 2.5 s is no block at all.
    for (const run of judged) {
      expect(await run.exited).toBe(0);
      expect(run.output()).toContain('2 objects checked: 2 allowed, 0 denied');
      expect(fatalLine(run.output())).toBeUndefined();
    }
  }, 30_000);

  it('kills `tollgate serve` stuck on a review, after answering others and idling past the limit', async () => {
    const cwd = await workspace();
    const run = spawnTollgate(['serve', '-c', 'config.yaml', '--port', '0', '--host', '127.0.0.1', '--max-blocked-seconds', '1'], cwd);
    const url = await waitFor(() => /"url":"(https:\/\/[^"]+)"/.exec(run.output())?.[1], 15_000);
    const ca = await readFile(path.join(cwd, 'certs', 'dev-tls.crt'), 'utf8');
    // A uid carrying what could pose as other fields of the fatal line, were they joined by a
    // separator, and characters of two, three and four bytes in UTF-8 after them.
    const review = (name: string) => JSON.stringify(reviewFor(pod(['nginx'], { name, namespace: 'shop' }), { uid: `uid-${name}\u0000kube-system/coredns\u0000"x"é漢😀` }));
    // Idle for longer than the limit: the heartbeat goes on, nothing is killed.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const fine = await httpsRequest(`${url}/validate`, ca, { method: 'POST', body: review('fine') });
    expect(JSON.parse(fine.body).response.allowed).toBe(true);
    const waited = await httpsRequest(`${url}/validate`, ca, { method: 'POST', body: review('waiting') });
    expect(JSON.parse(waited.body).response.allowed).toBe(true);
    // Stuck: the connection ends unanswered once the process is killed.
    await expect(httpsRequest(`${url}/validate`, ca, { method: 'POST', body: review('stuck') })).rejects.toThrow();
    expect(await run.signal).toBe('SIGKILL');
    const fatal = fatalLine(run.output());
    expect(fatal).toMatchObject({ policy: 'spinner', uid: 'uid-stuck\u0000kube-system/coredns\u0000"x"é漢😀', object: 'shop/stuck', insidePolicy: true });
    expect(fatal?.context).toBeUndefined();
  }, 30_000);
});
