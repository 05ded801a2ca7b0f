import { describe, expect, it } from 'vitest';
import fastJsonPatch from 'fast-json-patch';
import { PolicyEngine } from '../../src/engine/engine.js';
import type { KubernetesObject } from '../../src/admission/types.js';
import { mutating, validating } from '../helpers/policies.js';
import { pod, requestFor } from '../helpers/reviews.js';

const { applyPatch } = fastJsonPatch;

function labels(object: KubernetesObject | null | undefined): Record<string, string> {
  object!.metadata ??= {};
  object!.metadata.labels ??= {};
  return object!.metadata.labels;
}

describe('mutating chain', () => {
  it('runs policies in config order, each seeing the previous one’s changes', async () => {
    const seen: string[] = [];
    const engine = new PolicyEngine([
      mutating('first', (r) => {
        labels(r.object).step = '1';
      }),
      mutating('second', (r) => {
        seen.push(labels(r.object).step ?? 'missing');
        labels(r.object).step = `${labels(r.object).step}-2`;
      }),
    ]);
    const request = requestFor(pod(['nginx']));
    const outcome = await engine.mutate(request);
    expect(seen).toEqual(['1']);
    expect(outcome.verdict.allowed).toBe(true);
    const patched = applyPatch(structuredClone(request.object), outcome.verdict.patch as never).newDocument as KubernetesObject;
    expect(patched.metadata?.labels).toEqual({ step: '1-2' });
    expect(outcome.policies.map((p) => [p.policy, p.result])).toEqual([
      ['first', 'patched'],
      ['second', 'patched'],
    ]);
  });

  it('diffs against the object exactly as received and never edits it', async () => {
    const engine = new PolicyEngine([mutating('add', (r) => void (labels(r.object).a = 'b'))]);
    const object = pod(['nginx']);
    (object as Record<string, unknown>).unknownField = { keep: [1, 2] };
    const frozen = JSON.stringify(object);
    const outcome = await engine.mutate(requestFor(object));
    expect(JSON.stringify(object)).toBe(frozen);
    expect(outcome.verdict.patch).toEqual([{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }]);
  });

  it('gives no patch and no copy when no mutating policy matches', async () => {
    let called = false;
    const engine = new PolicyEngine([mutating('only-kube-system', () => void (called = true), { match: { namespaces: ['kube-system'] } })]);
    const request = requestFor(pod(['nginx']));
    const outcome = await engine.mutate(request);
    expect(called).toBe(false);
    expect(outcome.verdict).toEqual({ allowed: true, warnings: [] });
    expect(outcome.object).toBe(request.object);
  });

  it('is idempotent on re-invocation: the mutated object yields no patch', async () => {
    const engine = new PolicyEngine([
      mutating('defaults', (r) => {
        labels(r.object).team ??= 'platform';
      }),
    ]);
    const first = await engine.mutate(requestFor(pod(['nginx'])));
    const again = await engine.mutate(requestFor(first.object as KubernetesObject));
    expect(first.verdict.patch?.length).toBe(1);
    expect(again.verdict.patch).toBeUndefined();
  });

  it('accepts a policy that assigns a new object to request.object', async () => {
    const engine = new PolicyEngine([
      mutating('replace', (r) => {
        r.object = { ...r.object, metadata: { ...r.object!.metadata, labels: { replaced: 'yes' } } };
      }),
    ]);
    const outcome = await engine.mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.patch).toEqual([{ op: 'add', path: '/metadata/labels', value: { replaced: 'yes' } }]);
  });

  it('fails closed naming the policy when a mutating policy throws, and stops the chain', async () => {
    let laterRan = false;
    const engine = new PolicyEngine([
      mutating('broken', (r) => {
        labels(r.object).half = 'done';
        throw new Error('boom');
      }),
      mutating('later', () => void (laterRan = true)),
    ]);
    const outcome = await engine.mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.message).toContain('[broken] policy failed: threw: boom');
    expect(laterRan).toBe(false);
  });

  it('with failurePolicy Ignore, discards a failed policy’s partial changes and goes on', async () => {
    const engine = new PolicyEngine([
      mutating(
        'broken',
        (r) => {
          labels(r.object).half = 'done';
          throw new Error('boom');
        },
        { failurePolicy: 'Ignore' },
      ),
      mutating('good', (r) => void (labels(r.object).good = 'yes')),
    ]);
    const outcome = await engine.mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(true);
    expect(outcome.verdict.patch).toEqual([{ op: 'add', path: '/metadata/labels', value: { good: 'yes' } }]);
    expect(outcome.verdict.warnings.join()).toContain('[broken] policy failed: threw: boom (ignored)');
  });

  it('in warn mode reports what it would change but applies nothing', async () => {
    const engine = new PolicyEngine([mutating('dry', (r) => void (labels(r.object).x = 'y'), { mode: 'warn' })]);
    const outcome = await engine.mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.patch).toBeUndefined();
    expect(outcome.verdict.warnings).toEqual(['[dry] would change the object (mode: warn, not applied)']);
  });

  it('skips DELETE requests, whose object is null', async () => {
    let called = false;
    const engine = new PolicyEngine([mutating('m', () => void (called = true))]);
    const outcome = await engine.mutate(requestFor(pod(['nginx']), { operation: 'DELETE' }));
    expect(called).toBe(false);
    expect(outcome.verdict.allowed).toBe(true);
  });

  it('answers with a verdict, not a crash, on an object nested thousands of levels deep', async () => {
    const object = pod(['nginx']);
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 20_000; i++) {
      const next: Record<string, unknown> = {};
      deep[`f:${i}`] = next;
      deep = next;
    }
    object.metadata!.managedFields = [{ manager: 'kubectl', fieldsV1: root }];
    // A policy that edits beside the deep member: it is neither copied nor diffed.
    const beside = await new PolicyEngine([mutating('m', (r) => void (labels(r.object).x = 'y'))]).mutate(requestFor(object));
    expect(beside.verdict.allowed).toBe(true);
    expect(beside.verdict.patch).toEqual([{ op: 'add', path: '/metadata/labels', value: { x: 'y' } }]);
    // A policy that edits the deep member itself: the diff cannot walk it, and the policy fails closed.
    const inside = await new PolicyEngine([
      mutating('m', (r) => void (r.object!.metadata!.managedFields as unknown[]).push({ manager: 'tollgate' })),
    ]).mutate(requestFor(object));
    expect(inside.verdict.allowed).toBe(false);
    expect(inside.verdict.message).toContain('nested too deeply');
  });
});

describe('validating chain', () => {
  it('runs every matching policy and reports all violations together', async () => {
    const engine = new PolicyEngine([
      validating('a', () => ({ allowed: false, message: 'a says no' })),
      validating('b', () => ({ allowed: true })),
      validating('c', () => ({ allowed: false, violations: [{ path: 'spec.x', message: 'bad x' }, { message: 'bad y' }] })),
    ]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.verdict).toMatchObject({ allowed: false, code: 403 });
    expect(outcome.verdict.message).toBe('[a] a says no; [c] spec.x: bad x; [c] bad y');
  });

  it('denies with every violation of a policy that reports hundreds of thousands, rather than failing the review', async () => {
    const violations = Array.from({ length: 300_000 }, (_, i) => ({ message: `bad ${i}` }));
    const engine = new PolicyEngine([validating('many', () => ({ allowed: false, violations })), validating('warns', () => ({ allowed: false, violations }), { mode: 'warn' })]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.message?.split('; ')).toHaveLength(300_000);
    expect(outcome.verdict.warnings).toHaveLength(300_000);
  });

  it('treats an undefined answer as allowed and passes warnings through', async () => {
    const engine = new PolicyEngine([validating('quiet', () => undefined), validating('chatty', () => ({ allowed: true, warnings: ['deprecated field'] }))]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.verdict).toEqual({ allowed: true, warnings: ['[chatty] deprecated field'] });
  });

  it('turns a malformed answer into a policy failure, never a silent allow', async () => {
    const engine = new PolicyEngine([
      validating('no-boolean', () => ({ allowed: 'no' }) as never),
      validating('empty-violations', () => ({ allowed: false, violations: [] })),
    ]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.message).toContain('[no-boolean] policy failed: returned something other than { allowed: boolean, ... }');
    expect(outcome.verdict.message).toContain('[empty-violations] policy failed');
  });

  it('contains a policy that hangs: the review answers within the budget and fails closed', async () => {
    const engine = new PolicyEngine([validating('hangs', () => new Promise(() => {}), { timeoutMs: 50 })]);
    const started = performance.now();
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1000);
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.message).toBe('[hangs] policy failed: did not answer within 50 ms');
  });

  it('fails open on a time-out with failurePolicy Ignore, with a warning', async () => {
    const engine = new PolicyEngine([validating('hangs', () => new Promise(() => {}), { timeoutMs: 20, failurePolicy: 'Ignore' })]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(true);
    expect(outcome.verdict.warnings).toEqual(['[hangs] policy failed: did not answer within 20 ms (ignored)']);
  });

  it('counts a late synchronous answer as a time-out', async () => {
    const engine = new PolicyEngine([
      validating(
        'slow',
        () => {
          const until = performance.now() + 30;
          while (performance.now() < until);
          return { allowed: true };
        },
        { timeoutMs: 5 },
      ),
    ]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.policies[0]?.error?.code).toBe('TG_ERR_POLICY_TIMEOUT');
  });

  it('contains a rejected promise and a thrown non-Error', async () => {
    const engine = new PolicyEngine([
      validating('rejects', () => Promise.reject(new TypeError('nope'))),
      validating('throws-string', () => {
        throw 'plain string';
      }),
    ]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.message).toBe('[rejects] policy failed: threw: nope; [throws-string] policy failed: threw: plain string');
  });

  it('fails closed on a rejection or a throw that carries no reason at all', async () => {
    const engine = new PolicyEngine([
      validating('rejects-undefined', () => Promise.reject(undefined as unknown as Error)),
      validating('throws-undefined', () => {
        throw undefined;
      }),
    ]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.policies.map((p) => [p.policy, p.result])).toEqual([
      ['rejects-undefined', 'error'],
      ['throws-undefined', 'error'],
    ]);
  });

  it('reports outcomes in config order whether policies answer synchronously or not', async () => {
    const engine = new PolicyEngine([
      validating('slow', () => new Promise((resolve) => setTimeout(() => resolve({ allowed: false, message: 'slow says no' }), 20))),
      validating('sync', () => ({ allowed: false, message: 'sync says no' })),
      validating('microtask', () => Promise.resolve({ allowed: true })),
    ]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.policies.map((p) => [p.policy, p.result])).toEqual([
      ['slow', 'denied'],
      ['sync', 'denied'],
      ['microtask', 'allowed'],
    ]);
    expect(outcome.verdict.message).toBe('[slow] slow says no; [sync] sync says no');
    expect(outcome.policies[0]?.durationMs).toBeGreaterThanOrEqual(15);
  });

  it('turns denials into warnings in warn mode and into nothing in audit mode', async () => {
    const engine = new PolicyEngine([
      validating('warner', () => ({ allowed: false, message: 'would deny' }), { mode: 'warn' }),
      validating('auditor', () => ({ allowed: false, message: 'logged only' }), { mode: 'audit' }),
    ]);
    const outcome = await engine.validate(requestFor(pod(['nginx'])));
    expect(outcome.verdict).toEqual({ allowed: true, warnings: ['[warner] would deny'] });
    expect(outcome.policies.find((p) => p.policy === 'auditor')?.result).toBe('denied');
  });

  it('sees only the requests its match lets through', async () => {
    const calls: string[] = [];
    const engine = new PolicyEngine([
      validating('ns', () => void calls.push('ns'), { match: { namespaces: ['prod-*'] } }),
      validating('not-system', () => void calls.push('not-system'), { match: { excludeNamespaces: ['kube-system'] } }),
      validating('deployments', () => void calls.push('deployments'), { match: { kinds: ['apps/Deployment'] } }),
      validating('pods', () => void calls.push('pods'), { match: { kinds: ['Pod'], operations: ['CREATE'] } }),
    ]);
    await engine.validate(requestFor(pod(['nginx']), { namespace: 'prod-eu' }));
    expect(calls.sort()).toEqual(['not-system', 'ns', 'pods']);
    calls.length = 0;
    await engine.validate(requestFor(pod(['nginx']), { namespace: 'kube-system', operation: 'UPDATE' }));
    expect(calls).toEqual([]);
  });
});

describe('what policies are handed', () => {
  it('passes dryRun and the subresource through to both chains', async () => {
    const seen: Array<[boolean | undefined, string | undefined]> = [];
    const record = (r: { dryRun?: boolean; subResource?: string }) => void seen.push([r.dryRun, r.subResource]);
    const engine = new PolicyEngine([mutating('m', record), validating('v', record)]);
    await engine.admit(requestFor(pod(['nginx']), { dryRun: true, operation: 'UPDATE', subResource: 'ephemeralcontainers' }));
    expect(seen).toEqual([
      [true, 'ephemeralcontainers'],
      [true, 'ephemeralcontainers'],
    ]);
  });
});

describe('admit (mutate, then validate the mutated object)', () => {
  it('validates what the mutating chain produced, as the apiserver orders them', async () => {
    const engine = new PolicyEngine([
      mutating('set-team', (r) => void (labels(r.object).team = 'payments')),
      validating('require-team', (r) => (r.object?.metadata?.labels?.team ? { allowed: true } : { allowed: false, message: 'team label required' })),
    ]);
    const { verdict } = await engine.admit(requestFor(pod(['nginx'])));
    expect(verdict.allowed).toBe(true);
    expect(verdict.patch).toEqual([{ op: 'add', path: '/metadata/labels', value: { team: 'payments' } }]);
  });
});
