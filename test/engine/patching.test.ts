// Patching policies: they read the object as it is and answer RFC 6902 operations, which the
// engine checks, applies to copies of what they touch, and sends on as the patch.
import fastJsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { JsonPatchOperation, KubernetesObject } from '../../src/admission/types.js';
import { applyOperations, surelyApplies } from '../../src/engine/apply-patch.js';
import { PolicyEngine } from '../../src/engine/engine.js';
import { mutating, patching } from '../helpers/policies.js';
import { pod, requestFor } from '../helpers/reviews.js';

const addTeam: JsonPatchOperation[] = [{ op: 'add', path: '/metadata/labels', value: { team: 'a' } }];

describe('a patching policy', () => {
  it('is given the object itself, and its operations are the patch; only what they touch is copied', async () => {
    const request = requestFor(pod(['nginx']));
    const received = structuredClone(request.object);
    let seen: unknown;
    const outcome = await new PolicyEngine([
      patching('p', (r) => {
        seen = r.object;
        return { patch: addTeam, warnings: ['labelled'] };
      }),
    ]).mutate(request);
    expect(seen).toBe(request.object);
    expect(outcome.verdict).toEqual({ allowed: true, warnings: ['[p] labelled'], patch: addTeam });
    expect(request.object).toEqual(received);
    expect(outcome.object?.metadata).toEqual({ ...received!.metadata, labels: { team: 'a' } });
    // Shared where nothing changed, a copy where something did.
    expect(outcome.object?.spec).toBe(request.object!.spec);
    expect(outcome.object?.metadata).not.toBe(request.object!.metadata);
  });

  it('copies the containers on an escaped path too (`~1` for `/`, `~0` for `~`), leaving the object as received untouched', async () => {
    const object = pod(['nginx']);
    (object.spec as Record<string, unknown>)['team/a'] = { 'x~y': { n: 1 } };
    const request = requestFor(object);
    const received = structuredClone(request.object);
    const patch: JsonPatchOperation[] = [{ op: 'add', path: '/spec/team~1a/x~0y/m', value: 2 }];
    const outcome = await new PolicyEngine([patching('p', () => ({ patch }))]).mutate(request);
    expect(outcome.policies[0]?.result).toBe('patched');
    expect(request.object).toEqual(received);
    expect((outcome.object?.spec as Record<string, Record<string, unknown>>)['team/a']).toEqual({ 'x~y': { n: 1, m: 2 } });
  });

  it.each(['/spec/containers/00/image', '/spec/containers//image'])(
    'copies the element a non-canonical array step (%s) names, as fast-json-patch reads it, leaving the object as received untouched',
    async (path) => {
      // A `copy` writes with fast-json-patch's unchecked add, which reads `00` and `` as index 0.
      const request = requestFor(pod(['nginx']));
      const received = structuredClone(request.object);
      const outcome = await new PolicyEngine([patching('p', () => ({ patch: [{ op: 'copy', from: '/metadata/name', path }] }))]).mutate(request);
      expect(request.object).toEqual(received);
      expect(outcome.policies[0]?.result).toBe('patched');
      expect((outcome.object?.spec as { containers: Array<{ image: string }> }).containers[0]?.image).toBe(request.object?.metadata?.name);
    },
  );

  it('changes nothing when it answers nothing, or no operations', async () => {
    for (const answer of [undefined, {}, { patch: [] }]) {
      const outcome = await new PolicyEngine([patching('p', () => answer)]).mutate(requestFor(pod(['nginx'])));
      expect(outcome.verdict).toEqual({ allowed: true, warnings: [] });
      expect(outcome.policies[0]?.result).toBe('unchanged');
    }
  });

  it('runs in a chain: it sees what the policies before it changed, and the ones after it see its change', async () => {
    let sawLabel: unknown;
    const engine = new PolicyEngine([
      mutating('first', (r) => {
        r.object!.metadata!.annotations = { a: '1' };
      }),
      patching('second', (r) => {
        sawLabel = r.object!.metadata!.annotations;
        return { patch: [{ op: 'add', path: '/metadata/annotations/b', value: '2' }] };
      }),
      mutating('third', (r) => {
        r.object!.metadata!.annotations!.c = r.object!.metadata!.annotations!.b + '3';
      }),
    ]);
    const request = requestFor(pod(['nginx']));
    const received = structuredClone(request.object);
    const outcome = await engine.mutate(request);
    expect(sawLabel).toEqual({ a: '1' });
    expect(request.object).toEqual(received);
    expect(outcome.object?.metadata?.annotations).toEqual({ a: '1', b: '2', c: '23' });
    expect(outcome.verdict.patch).toEqual([{ op: 'add', path: '/metadata/annotations', value: { a: '1', b: '2', c: '23' } }]);
  });

  it('keeps what it answered apart from what it holds: changing its operations or values afterwards changes nothing', async () => {
    const value = { team: 'a' };
    const operations: JsonPatchOperation[] = [{ op: 'add', path: '/metadata/labels', value }];
    const outcome = await new PolicyEngine([patching('p', () => ({ patch: operations }))]).mutate(requestFor(pod(['nginx'])));
    value.team = 'changed';
    operations.push({ op: 'remove', path: '/spec' });
    expect(outcome.verdict.patch).toEqual(addTeam);
    expect(outcome.object?.metadata?.labels).toEqual({ team: 'a' });
    // The patch and the object do not share the value either.
    (outcome.object!.metadata!.labels as Record<string, string>).team = 'edited';
    expect(outcome.verdict.patch).toEqual(addTeam);
  });

  it('moves within one array as a remove then an add: the object as received is untouched, and the patch gives the object the chain saw', async () => {
    const object = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { a: [{ n: 'A' }, { n: 'B' }, { n: 'C' }] } } as KubernetesObject;
    const request = requestFor(object);
    const received = structuredClone(request.object!);
    const outcome = await new PolicyEngine([
      patching('p', () => ({
        patch: [
          { op: 'move', from: '/spec/a/0', path: '/spec/a/1/k' },
          { op: 'add', path: '/spec/a/0', value: { n: 'A' } },
        ],
      })),
      mutating('m', (r) => {
        r.object!.metadata!.labels = { x: 'y' };
      }),
    ]).mutate(request);
    expect(outcome.policies.map((p) => p.error)).toEqual([undefined, undefined]);
    expect(request.object).toEqual(received);
    expect(outcome.object?.spec).toEqual({ a: [{ n: 'A' }, { n: 'B' }, { n: 'C', k: { n: 'A' } }] });
    const wire = JSON.parse(JSON.stringify(outcome.verdict.patch)) as fastJsonPatch.Operation[];
    expect(fastJsonPatch.applyPatch(structuredClone(received), wire).newDocument).toEqual(outcome.object);
  });

  it.each([
    ['the whole object', ''],
    ['a member', '/spec'],
  ])('refuses a move of %s into itself (RFC 6902 4.4) instead of making a cycle', async (_, from) => {
    const outcome = await new PolicyEngine([patching('p', () => ({ patch: [{ op: 'move', from, path: `${from}/x` }] }))]).mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.message).toContain(`moves ${from} into itself`);
  });

  it('refuses the operations answered as a bare list, a slip that would otherwise change nothing', async () => {
    const outcome = await new PolicyEngine([patching('p', () => addTeam as never)]).mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.message).toContain('returned a list; answer { patch: [...operations] }');
  });

  it('fails a patch JSON cannot carry at the policy, not in the answer', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const patch of [[{ op: 'add', path: '/x', value: 10n }], Object.freeze([Object.freeze({ op: 'remove', path: '/spec', value: Object.freeze(cyclic) })])]) {
      const outcome = await new PolicyEngine([patching('p', () => ({ patch: patch as never }))]).mutate(requestFor(pod(['nginx'])));
      expect(outcome.verdict.allowed).toBe(false);
      expect(outcome.policies[0]?.error?.code).toBe('TG_ERR_POLICY_BAD_RESULT');
    }
  });

  it('copies a frozen patch that is not plain frozen data: a Date (whose time can still be set), an operation with members of its own beyond the four', async () => {
    const when = Object.freeze(new Date(0));
    const dated = Object.freeze([Object.freeze({ op: 'add' as const, path: '/metadata/labels', value: Object.freeze({ at: when }) })]);
    const first = await new PolicyEngine([patching('p', () => ({ patch: dated as unknown as JsonPatchOperation[] }))]).mutate(requestFor(pod(['nginx'])));
    expect(first.verdict.patch).not.toBe(dated);
    const extra = Object.freeze([Object.freeze({ op: 'add' as const, path: '/metadata/labels', value: Object.freeze({ team: 'a' }), note: 'x' })]);
    const second = await new PolicyEngine([patching('p', () => ({ patch: extra as unknown as JsonPatchOperation[] }))]).mutate(requestFor(pod(['nginx'])));
    expect(second.verdict.patch).toEqual(addTeam);
  });

  it('takes a deeply frozen patch (a constant) as it is, and copies one frozen only on the outside', async () => {
    const constant = Object.freeze([Object.freeze({ op: 'add' as const, path: '/metadata/labels', value: Object.freeze({ team: 'a' }) })]);
    const engine = new PolicyEngine([patching('p', () => ({ patch: constant as unknown as JsonPatchOperation[] }))]);
    for (let i = 0; i < 2; i++) {
      const outcome = await engine.mutate(requestFor(pod(['nginx'])));
      expect(outcome.verdict.patch).toBe(constant);
      // The object gets a copy it may change; the constant stays as it was.
      expect(outcome.object?.metadata?.labels).not.toBe(constant[0]!.value);
      (outcome.object!.metadata!.labels as Record<string, string>).team = 'edited';
      expect(constant[0]!.value).toEqual({ team: 'a' });
    }
    const value = { team: 'a' };
    const shallow = Object.freeze([Object.freeze({ op: 'add' as const, path: '/metadata/labels', value })]);
    const copied = await new PolicyEngine([patching('p', () => ({ patch: shallow as unknown as JsonPatchOperation[] }))]).mutate(requestFor(pod(['nginx'])));
    expect(copied.verdict.patch).not.toBe(shallow);
    value.team = 'changed';
    expect(copied.verdict.patch).toEqual(addTeam);
    // A frozen patch that does not apply fails every time, not only the first.
    const bad = Object.freeze([Object.freeze({ op: 'remove' as const, path: '/spec/missing' })]);
    const failing = new PolicyEngine([patching('p', () => ({ patch: bad as unknown as JsonPatchOperation[] }))]);
    for (let i = 0; i < 2; i++) expect((await failing.mutate(requestFor(pod(['nginx'])))).verdict.allowed).toBe(false);
  });

  it('moves and copies without touching the object as received, even when a later operation writes inside what moved', async () => {
    const object = pod(['nginx'], { labels: { app: 'web' } });
    const request = requestFor(object);
    const received = structuredClone(object);
    const outcome = await new PolicyEngine([
      patching('p', () => ({
        patch: [
          { op: 'copy', from: '/metadata/labels', path: '/metadata/annotations' },
          { op: 'move', from: '/spec/containers', path: '/spec/moved' },
          { op: 'replace', path: '/spec/moved/0/image', value: 'redis' },
          { op: 'add', path: '/metadata/annotations/extra', value: 'x' },
          { op: 'test', path: '/metadata/labels/app', value: 'web' },
        ],
      })),
    ]).mutate(request);
    expect(outcome.policies[0]?.error).toBeUndefined();
    expect(request.object).toEqual(received);
    expect(outcome.object?.spec).toEqual({ moved: [{ name: 'c0', image: 'redis' }] });
    expect(outcome.object?.metadata).toEqual({ ...received.metadata, annotations: { app: 'web', extra: 'x' } });
  });

  it.each([
    ['a patch that is not a list', { patch: { op: 'add' } }, 'returned a patch that is not a list of operations'],
    ['an operation that is not an object', { patch: ['add'] }, 'operation 0 is not an object'],
    ['an unknown op', { patch: [{ op: 'merge', path: '/a' }] }, 'operation 0 has op "merge"'],
    ['a path that is not a JSON Pointer', { patch: [{ op: 'remove', path: 'metadata/labels' }] }, 'has a path that is not a JSON Pointer'],
    ['an add without a value', { patch: [{ op: 'add', path: '/a' }] }, 'operation 0 (add) has no value'],
    ['a move without a from', { patch: [{ op: 'move', path: '/a' }] }, 'operation 0 (move) has a from that is not a JSON Pointer'],
    // The tutorial mistake: an add into a map the object does not have.
    ['an add into a missing map', { patch: [{ op: 'add', path: '/metadata/annotations/a', value: '1' }] }, 'does not apply: operation 0 (add /metadata/annotations/a)'],
    ['a remove of a missing member', { patch: [{ op: 'remove', path: '/spec/volumes' }] }, 'does not apply: operation 0 (remove /spec/volumes)'],
    ['a test that fails', { patch: [{ op: 'test', path: '/metadata/name', value: 'other' }] }, 'does not apply: operation 0 (test /metadata/name)'],
    ['a step through __proto__', { patch: [{ op: 'add', path: '/metadata/__proto__/polluted', value: 'yes' }] }, 'does not apply: operation 0'],
    ['an object replaced by a list', { patch: [{ op: 'replace', path: '', value: [] }] }, 'leaves request.object no longer an object'],
    ['an answer that is not an object', 'yes', 'returned something other than { patch?, warnings? }'],
  ])('fails closed on %s, naming what is wrong, and patches nothing', async (_, answer, message) => {
    const request = requestFor(pod(['nginx']));
    const received = structuredClone(request.object);
    const outcome = await new PolicyEngine([patching('p', () => answer as never)]).mutate(request);
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.patch).toBeUndefined();
    expect(outcome.policies[0]?.error?.code).toBe('TG_ERR_POLICY_BAD_RESULT');
    expect(outcome.verdict.message).toContain(message);
    expect(request.object).toEqual(received);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('under failurePolicy Ignore, a patch that does not apply lets the request through unchanged, with a warning', async () => {
    const outcome = await new PolicyEngine([
      patching('p', () => ({ patch: [{ op: 'add', path: '/metadata/annotations/a', value: '1' }] }), { failurePolicy: 'Ignore' }),
    ]).mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(true);
    expect(outcome.verdict.patch).toBeUndefined();
    expect(outcome.verdict.warnings[0]).toMatch(/^\[p\] policy failed: returned a patch that does not apply.*\(ignored\)$/);
  });

  it('in warn mode reports the change it would make without making it', async () => {
    const request = requestFor(pod(['nginx']));
    const outcome = await new PolicyEngine([patching('p', () => ({ patch: addTeam }), { mode: 'warn' })]).mutate(request);
    expect(outcome.verdict).toEqual({ allowed: true, warnings: ['[p] would change the object (mode: warn, not applied)'] });
    expect(outcome.object).toBe(request.object);
  });

  it('may answer asynchronously, within its budget', async () => {
    const late = await new PolicyEngine([patching('p', async () => ({ patch: addTeam }))]).mutate(requestFor(pod(['nginx'])));
    expect(late.verdict.patch).toEqual(addTeam);
    const hangs = await new PolicyEngine([patching('p', () => new Promise(() => {}), { timeoutMs: 30 })]).mutate(requestFor(pod(['nginx'])));
    expect(hangs.verdict.allowed).toBe(false);
    expect(hangs.policies[0]?.error?.code).toBe('TG_ERR_POLICY_TIMEOUT');
  });

  it('answers for the object a replace of the whole object leaves', async () => {
    const replacement: KubernetesObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'other' } };
    const outcome = await new PolicyEngine([patching('p', () => ({ patch: [{ op: 'replace', path: '', value: replacement }] }))]).mutate(requestFor(pod(['nginx'])));
    expect(outcome.object).toEqual(replacement);
    expect(outcome.object).not.toBe(replacement);
  });
});

describe('surelyApplies: a patch known to apply without applying it', () => {
  const object = () =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', annotations: { a: '1' }, list: [{ x: 1 }], '~2': {} }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }) as Record<string, unknown>;
  const add = (path: string, value: unknown = 'v'): JsonPatchOperation => ({ op: 'add', path, value });

  it.each<[string, JsonPatchOperation[]]>([
    ['a new map under metadata', [add('/metadata/labels', { team: 'a' })]],
    ['an annotation whose key holds `/` and `~`, escaped', [add('/metadata/annotations/tollgate.dev~1admitted'), add('/metadata/annotations/a~0b')]],
    ['an escaped step on the way', [add('/metadata/annotations~1x', {}), add('/metadata/annotations/a')]],
    ['members of an existing map, one new and one there', [add('/metadata/annotations/b'), add('/metadata/annotations/a')]],
    ['a member at the top', [add('/status', {})]],
    ['a member whose value is replaced, an array', [add('/spec/containers', [])]],
    ['two adds of the same member', [add('/metadata/annotations/b', '1'), add('/metadata/annotations/b', '2')]],
  ])('true for %s, and then it does apply', (_what, operations) => {
    const received = object();
    expect(surelyApplies(received, operations)).toBe(true);
    expect(() => applyOperations(received, operations)).not.toThrow();
    expect(received).toEqual(object());
  });

  it.each<[string, JsonPatchOperation[]]>([
    ['no operations', []],
    ['the root', [add('')]],
    ['an empty step', [add('/metadata/')]],
    ['an escaped parent that is not there', [add('/metadata/annotations~1x/a')]],
    ['a key spelled two ways, one replacing what the other writes into', [add('/metadata/~2', 'x'), add('/metadata/~02/y')]],
    ['a key spelled the way escaping never does', [add('/metadata/~2')]],
    ['a prototype step', [add('/metadata/__proto__')]],
    ['a constructor step', [add('/metadata/constructor')]],
    ['a parent that is not there', [add('/metadata/labels/team')]],
    ['an inherited parent', [add('/metadata/toString/x')]],
    ['a parent that is a string', [add('/metadata/name/x')]],
    ['a parent that is an array', [add('/spec/containers/0')]],
    ['an element of an array on the way', [add('/metadata/list/0/y')]],
    ['an add through what another add replaces', [add('/metadata', {}), add('/metadata/annotations/b')]],
    ['the same, in the other order', [add('/metadata/annotations/b'), add('/metadata', {})]],
    ['a replace', [{ op: 'replace', path: '/metadata/name', value: 'q' }]],
    ['a remove', [{ op: 'remove', path: '/metadata/name' }]],
    ['a test', [{ op: 'test', path: '/metadata/name', value: 'p' }]],
    ['a copy', [{ op: 'copy', from: '/metadata/name', path: '/metadata/alias' }]],
    ['a value holding undefined (fast-json-patch refuses it)', [add('/metadata/labels', { team: undefined })]],
    ['more operations than it looks at', Array.from({ length: 17 }, (_, i) => add(`/metadata/annotations/k${i}`))],
  ])('false for %s', (_what, operations) => {
    expect(surelyApplies(object(), operations)).toBe(false);
  });

  it('false for an object that is not plain data', () => {
    const odd = Object.assign(Object.create({ inherited: true }) as Record<string, unknown>, object());
    expect(surelyApplies(odd, [add('/metadata/labels')])).toBe(false);
  });
});

describe('the mutating chain for the patch only (the server)', () => {
  const label = patching('label', () => ({ patch: addTeam }));

  it('answers the same verdict, without the object (that it applies nothing: patch-only.test.ts)', async () => {
    const request = requestFor(pod(['nginx']));
    const engine = new PolicyEngine([label]);
    const full = await engine.mutate(request);
    const patchOnly = await engine.runMutating(request, { object: false });
    expect(patchOnly.verdict).toEqual(full.verdict);
    expect(patchOnly.policies.map((p) => p.result)).toEqual(['patched']);
    expect(patchOnly).not.toHaveProperty('object');
  });

  it('still fails a patch that does not apply, as the full chain does', async () => {
    const request = requestFor(pod(['nginx']));
    const broken = patching('broken', () => ({ patch: [{ op: 'add', path: '/metadata/labels/team', value: 'a' }] }));
    const engine = new PolicyEngine([broken]);
    const patchOnly = await engine.runMutating(request, { object: false });
    expect(patchOnly.verdict).toEqual((await engine.mutate(request)).verdict);
    expect(patchOnly.verdict.allowed).toBe(false);
    expect(patchOnly.policies[0]?.error?.message).toContain('does not apply');
  });

  it('applies a patch a later policy reads, so that the later policy sees it', async () => {
    let seen: unknown;
    const reader = patching('reader', (r) => {
      seen = r.object?.metadata?.labels;
      return undefined;
    });
    const outcome = await new PolicyEngine([label, reader]).runMutating(requestFor(pod(['nginx'])), { object: false });
    expect(seen).toEqual({ team: 'a' });
    expect(outcome.verdict.patch).toEqual(addTeam);
  });

  it('diffs from the object as received when two policies change it', async () => {
    const second = patching('second', () => ({ patch: [{ op: 'add', path: '/metadata/labels/tier', value: 'web' }] }));
    const request = requestFor(pod(['nginx']));
    const engine = new PolicyEngine([label, second]);
    const patchOnly = await engine.runMutating(request, { object: false });
    expect(patchOnly.verdict).toEqual((await engine.mutate(request)).verdict);
    const patched = fastJsonPatch.applyPatch(structuredClone(request.object!), patchOnly.verdict.patch as fastJsonPatch.Operation[]).newDocument;
    expect(patched.metadata?.labels).toEqual({ team: 'a', tier: 'web' });
  });
});
