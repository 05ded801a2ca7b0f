// The lazily copied object a mutating policy edits: members are copied on first touch, the source
// is never edited, and what was left unchanged settles into the source's own values, which the diff passes over.
import fastJsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { PolicyEngine } from '../../src/engine/engine.js';
import { lazyDraft } from '../../src/engine/draft.js';
import { mutating } from '../helpers/policies.js';
import { pod, requestFor } from '../helpers/reviews.js';
import type { KubernetesObject } from '../../src/admission/types.js';

function labelsOf(object: KubernetesObject | null | undefined): Record<string, string> {
  object!.metadata ??= {};
  object!.metadata.labels ??= {};
  return object!.metadata.labels;
}

/** A second policy in the chain, answering once the first one's late edit (a 1 ms timer) has run. */
const answersAfterLateEdits = () => mutating('slow', () => new Promise<void>((resolve) => setTimeout(resolve, 20)));

const source = () => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { a: '1' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });

describe('lazyDraft', () => {
  it('copies a member on first read, so edits never reach the source', () => {
    const original = source();
    const draft = lazyDraft(original);
    (draft.object.metadata as { labels: Record<string, string> }).labels.a = '2';
    expect(original.metadata.labels.a).toBe('1');
    const object = draft.settle();
    // The unchanged member is the source's own value, not a copy; metadata was read, and inside it only labels changed.
    expect(object.spec).toBe(original.spec);
    expect(object.metadata).not.toBe(original.metadata);
    expect((object.metadata as { labels: unknown }).labels).not.toBe(original.metadata.labels);
    expect(object).toEqual({ ...source(), metadata: { name: 'p', labels: { a: '2' } } });
  });

  it('shows no member beyond the source\'s to keys, spreads, JSON or structuredClone: its state is a hidden symbol', () => {
    const draft = lazyDraft(source());
    expect(Object.keys(draft.object)).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(Object.keys(draft.object.metadata as object)).toEqual(['name', 'labels']);
    expect(Object.getOwnPropertySymbols({ ...draft.object })).toEqual([]);
    expect(Object.getOwnPropertySymbols({ ...(draft.object.metadata as object) })).toEqual([]);
    expect(Object.getOwnPropertySymbols(structuredClone(draft.object))).toEqual([]);
    expect(JSON.stringify(draft.object)).toBe(JSON.stringify(source()));
  });

  it('counts a write and a delete as changes, and reads as JSON like the source', () => {
    const original = source();
    const written = lazyDraft(original);
    written.object.spec = { replaced: true };
    const afterWrite = written.settle();
    expect(afterWrite).toEqual({ ...original, spec: { replaced: true } });
    expect(afterWrite.metadata).toBe(original.metadata);

    const deleted = lazyDraft(original);
    delete deleted.object.spec;
    const afterDelete = deleted.settle();
    expect('spec' in deleted.object).toBe(false);
    expect('spec' in afterDelete).toBe(false);
    expect(afterDelete.metadata).toBe(original.metadata);

    const serialised = lazyDraft(original);
    expect(JSON.parse(JSON.stringify(serialised.object))).toEqual(original);
    expect(structuredClone(serialised.object)).toEqual(original);
    expect({ ...serialised.object }).toEqual(original);
    // Everything was read and nothing changed: metadata and spec were drafts, found unchanged
    // inside, and so is the whole object, which settles into the source itself.
    expect(serialised.settle()).toBe(original);
    expect(original).toEqual(source());
  });

  it('gives a member that was read but not changed the source value, not a second copy, so edits after settle miss it', () => {
    const original = source();
    const draft = lazyDraft(original);
    const spec = draft.object.spec as { containers: Array<{ name: string; image: string }> };
    const containers = spec.containers;
    expect(containers[0]?.image).toBe('nginx');
    // Changed and changed back: equal again, so unchanged.
    containers[0]!.image = 'evil';
    containers[0]!.image = 'nginx';
    (draft.object.metadata as { labels: Record<string, string> }).labels.b = '2';
    const object = draft.settle();
    expect((object.spec as { containers: unknown }).containers).toBe(original.spec.containers);
    // A late edit lands on the policy's copy, never on the result or the source.
    containers[0]!.image = 'late';
    containers.push({ name: 'x', image: 'x' });
    expect(object.spec).toEqual(source().spec);
    expect(original).toEqual(source());
    // The changed member is a copy that the policy does not hold.
    expect((object.metadata as { labels: unknown }).labels).toEqual({ a: '1', b: '2' });
    (draft.object.metadata as { labels: Record<string, string> }).labels.c = 'late';
    expect((object.metadata as { labels: unknown }).labels).toEqual({ a: '1', b: '2' });
  });

  it('keeps two drafts of different objects apart though they share accessors', () => {
    const first = source();
    const second = { ...source(), metadata: { name: 'q' } };
    const a = lazyDraft(first);
    const b = lazyDraft(second);
    expect((b.object.metadata as { name: string }).name).toBe('q');
    expect((a.object.metadata as { name: string }).name).toBe('p');
  });

  it('copies the members of a top-level member lazily too, and no deeper', () => {
    const original = { metadata: { name: 'p', labels: { a: '1' }, managedFields: [{ manager: 'kubectl' }] }, spec: { containers: [] } };
    const draft = lazyDraft(original);
    const metadata = draft.object.metadata as { annotations?: Record<string, string>; managedFields: unknown[]; labels: Record<string, string> };
    metadata.annotations = { added: 'yes' };
    const object = draft.settle();
    expect(object.spec).toBe(original.spec);
    expect((object.metadata as { labels: unknown }).labels).toBe(original.metadata.labels);
    expect((object.metadata as { managedFields: unknown }).managedFields).toBe(original.metadata.managedFields);
    expect(original.metadata).toEqual({ name: 'p', labels: { a: '1' }, managedFields: [{ manager: 'kubectl' }] });
  });

  it('settles into the source when nothing changed, at either level, though members were read, written back or deleted and restored', () => {
    const original = { apiVersion: 'v1', metadata: { name: 'p', managedFields: [1], labels: { a: '1' } }, spec: { x: 1 } };
    const read = lazyDraft(original);
    expect(JSON.stringify(read.object)).toBe(JSON.stringify(original));
    expect(read.settle()).toBe(original);

    const restored = lazyDraft(original);
    const metadata = restored.object.metadata as { labels: Record<string, string>; name?: string };
    metadata.labels.a = '2';
    metadata.labels.a = '1';
    delete metadata.name;
    metadata.name = 'p';
    expect(restored.settle()).toBe(original);

    // Changed inside metadata: a new metadata, whose unchanged members are still the source's.
    const changed = lazyDraft(original);
    (changed.object.metadata as { labels: Record<string, string> }).labels.b = '2';
    const settled = changed.settle() as typeof original;
    expect(settled).not.toBe(original);
    expect(settled.spec).toBe(original.spec);
    expect(settled.metadata.managedFields).toBe(original.metadata.managedFields);
    expect(settled.metadata.labels).toEqual({ a: '1', b: '2' });
    expect(fastJsonPatch.compare(original, settled)).toEqual([{ op: 'add', path: '/metadata/labels/b', value: '2' }]);
  });

  it('is not the source once a member is gone, though every member left is', () => {
    const original = source();
    const draft = lazyDraft(original);
    delete draft.object.spec;
    const settled = draft.settle();
    expect(settled).not.toBe(original);
    expect(Object.keys(settled)).toEqual(['apiVersion', 'kind', 'metadata']);
  });
});

describe('the mutating chain on lazy drafts', () => {
  it('patches a removed, a replaced and an added top-level member, and spreads of the whole object', async () => {
    const engine = new PolicyEngine([
      mutating('drop-spec', (r) => {
        delete r.object!.spec;
      }),
      mutating('replace-metadata', (r) => {
        r.object!.metadata = { name: 'renamed' };
      }),
      mutating('spread', (r) => {
        r.object = { ...r.object!, status: { phase: 'Pending' } };
      }),
    ]);
    const request = requestFor(pod(['nginx']));
    const before = structuredClone(request.object);
    const outcome = await engine.mutate(request);
    expect(request.object).toEqual(before);
    expect(outcome.verdict.patch).toEqual(
      expect.arrayContaining([
        { op: 'remove', path: '/spec' },
        expect.objectContaining({ path: expect.stringMatching(/^\/metadata/) }),
        { op: 'add', path: '/status', value: { phase: 'Pending' } },
      ]),
    );
    expect(outcome.object).toEqual({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'renamed' }, status: { phase: 'Pending' } });
  });

  it('patches what JSON sees of a member left looking equal: a key hidden by defineProperty, an array for an object', async () => {
    const engine = new PolicyEngine([
      mutating('hide-and-swap', (r) => {
        const labels = r.object!.metadata!.labels as Record<string, string>;
        Object.defineProperty(labels, 'app', { enumerable: false });
        labels.team = 'payments';
        (r.object!.metadata as Record<string, unknown>).annotations = Object.setPrototypeOf([], Object.prototype);
      }),
    ]);
    const request = requestFor(pod(['nginx'], { labels: { app: 'web' }, annotations: {} }));
    const outcome = await engine.mutate(request);
    const patched = fastJsonPatch.applyPatch(structuredClone(request.object), outcome.verdict.patch as fastJsonPatch.Operation[]).newDocument;
    expect(patched!.metadata!.labels).toEqual({ team: 'payments' });
    expect(JSON.parse(JSON.stringify(outcome.object))).toEqual(JSON.parse(JSON.stringify(patched)));
  });

  it('patches edits inside metadata and spec members, beside members never touched', async () => {
    const engine = new PolicyEngine([
      mutating('nested', (r) => {
        const metadata = r.object!.metadata as Record<string, unknown>;
        delete metadata.generateName;
        metadata.annotations = { 'a/b': 'c' };
        (r.object!.spec as { containers: Array<{ image: string }> }).containers[0]!.image = 'nginx:2';
      }),
    ]);
    const request = requestFor(pod(['nginx']));
    const before = structuredClone(request.object);
    const outcome = await engine.mutate(request);
    expect(request.object).toEqual(before);
    const expected = structuredClone(before)!;
    delete (expected.metadata as Record<string, unknown>).generateName;
    (expected.metadata as Record<string, unknown>).annotations = { 'a/b': 'c' };
    (expected.spec as { containers: Array<{ image: string }> }).containers[0]!.image = 'nginx:2';
    expect(outcome.object).toEqual(expected);
    const patched = fastJsonPatch.applyPatch(structuredClone(before), outcome.verdict.patch as fastJsonPatch.Operation[]).newDocument;
    expect(patched).toEqual(expected);
  });

  it('gives no patch when a policy only reads', async () => {
    const engine = new PolicyEngine([
      mutating('reader', (r) => {
        JSON.stringify(r.object);
        void r.object!.spec;
      }),
    ]);
    const outcome = await engine.mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.patch).toBeUndefined();
    expect(outcome.policies[0]?.result).toBe('unchanged');
  });

  it('reads through an object derived from the draft as through a plain object: an edit there is an edit of the draft', async () => {
    const engine = new PolicyEngine([
      mutating('derived', (r) => {
        const derived = Object.create(r.object!) as { spec: { containers: unknown[] } };
        derived.spec.containers.length = 0;
      }),
    ]);
    const request = requestFor(pod(['nginx']));
    const before = structuredClone(request.object);
    const outcome = await engine.mutate(request);
    // With a plain copy, Object.create(copy).spec is copy.spec: the edit is the policy's to make.
    expect(outcome.verdict).toEqual({ allowed: true, warnings: [], patch: [{ op: 'remove', path: '/spec/containers/0' }] });
    expect(request.object).toEqual(before);
  });

  it('keeps edits the policy makes after it has answered away from the object as received', async () => {
    const request = requestFor(pod(['nginx']));
    const received = structuredClone(request.object);
    let kept: KubernetesObject | undefined;
    let edited = false;
    const engine = new PolicyEngine([
      mutating('keeps-a-reference', (r) => {
        kept = r.object!;
        setTimeout(() => {
          (kept!.spec as { containers: Array<{ image: string }> }).containers[0]!.image = 'evil.io/x';
          (kept!.metadata as Record<string, unknown>).annotations = { late: 'edit' };
          edited = true;
        }, 1);
      }),
      mutating('slow', async (r) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        labelsOf(r.object).b = '2';
      }),
    ]);
    const outcome = await engine.mutate(request);
    expect(edited).toBe(true);
    expect(request.object).toEqual(received);
    const applied = fastJsonPatch.applyPatch(structuredClone(received), (outcome.verdict.patch ?? []) as fastJsonPatch.Operation[]).newDocument;
    expect(outcome.object).toEqual(applied);
  });

  it.each([
    [
      'edits members it had touched',
      (r: { object?: KubernetesObject | null }, done: () => void) => {
        const object = r.object!;
        labelsOf(object).b = '2';
        const containers = (object.spec as { containers: Array<{ image: string }> }).containers;
        setTimeout(() => {
          containers[0]!.image = 'evil.io/x';
          labelsOf(object).late = 'edit';
          (object.spec as { containers: unknown[] }).containers.push({ name: 'evil', image: 'evil.io/y' });
          done();
        }, 1);
      },
    ],
    [
      'replaced request.object and edits the replacement',
      (r: { object?: KubernetesObject | null }, done: () => void) => {
        const replacement = structuredClone(r.object!);
        labelsOf(replacement).b = '2';
        r.object = replacement;
        setTimeout(() => {
          labelsOf(replacement).late = 'edit';
          done();
        }, 1);
      },
    ],
  ])('keeps edits made after answering out of the patch and the object: a policy that %s', async (_, editsLate) => {
    const request = requestFor(pod(['nginx']));
    const received = structuredClone(request.object);
    let edited = false;
    const engine = new PolicyEngine([mutating('edits-late', (r) => editsLate(r, () => (edited = true))), answersAfterLateEdits()]);
    const outcome = await engine.mutate(request);
    expect(edited).toBe(true);
    expect(outcome.verdict.patch).toEqual([{ op: 'add', path: '/metadata/labels', value: { b: '2' } }]);
    const applied = fastJsonPatch.applyPatch(structuredClone(received), (outcome.verdict.patch ?? []) as fastJsonPatch.Operation[]).newDocument;
    expect(outcome.object).toEqual(applied);
    expect(request.object).toEqual(received);
  });

  it.each([
    ['Object.seal(object)', (o: Record<string, unknown>) => Object.seal(o)],
    ['defineProperty configurable: false', (o: Record<string, unknown>) => Object.defineProperty(o, 'spec', { configurable: false })],
  ])('takes an assignment to a member read before %s, as a plain object would', async (_, lock) => {
    const engine = new PolicyEngine([
      mutating('m', (r) => {
        const object = r.object as Record<string, unknown>;
        const spec = object.spec as Record<string, unknown>;
        lock(object);
        object.spec = { ...spec, hostNetwork: true };
        expect((object.spec as Record<string, unknown>).hostNetwork).toBe(true);
      }),
    ]);
    const outcome = await engine.mutate(requestFor(pod(['nginx'])));
    expect(outcome.policies[0]?.error).toBeUndefined();
    expect(outcome.verdict.patch).toEqual([{ op: 'add', path: '/spec/hostNetwork', value: true }]);
  });

  it.each([
    ['a member inside metadata', (r: { object?: KubernetesObject | null }) => (labelsOf(r.object) as Record<string, unknown>).self = labelsOf(r.object)],
    ['metadata', (r: { object?: KubernetesObject | null }) => ((r.object!.metadata as Record<string, unknown>).owner = r.object!.metadata)],
    ['the object itself', (r: { object?: KubernetesObject | null }) => ((r.object as Record<string, unknown>).me = r.object)],
    [
      'a replacement object',
      (r: { object?: KubernetesObject | null }) => {
        const replacement: Record<string, unknown> = { ...r.object };
        replacement.me = replacement;
        r.object = replacement as KubernetesObject;
      },
    ],
  ])('fails a policy that leaves a cycle in %s, at once, instead of copying it for ever', async (_, loop) => {
    const request = requestFor(pod(['nginx']));
    const received = structuredClone(request.object);
    const outcome = await new PolicyEngine([mutating('m', loop)]).mutate(request);
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.policies[0]?.error?.code).toBe('TG_ERR_POLICY_BAD_RESULT');
    expect(outcome.verdict.message).toMatch(/with a cycle/);
    expect(request.object).toEqual(received);
  });

  it('takes an assignment on a sealed member whose own members are all objects, as a plain object would', async () => {
    const object = pod(['nginx']);
    (object.spec as Record<string, unknown>) = { config: { a: 1 }, extra: { b: 2 } };
    const engine = new PolicyEngine([
      mutating('m', (r) => {
        const spec = r.object!.spec as Record<string, unknown>;
        Object.seal(spec);
        spec.config = { a: 2 };
      }),
    ]);
    const outcome = await engine.mutate(requestFor(object));
    expect(outcome.policies[0]?.error).toBeUndefined();
    expect(outcome.verdict.patch).toEqual([{ op: 'replace', path: '/spec/config/a', value: 2 }]);
  });

  it('takes an assignment on a sealed member whose data members were all deleted first, as a plain object would', async () => {
    const engine = new PolicyEngine([
      mutating('m', (r) => {
        const metadata = r.object!.metadata as Record<string, unknown>;
        for (const key of Object.keys(metadata)) if (typeof metadata[key] !== 'object') delete metadata[key];
        Object.seal(metadata);
        metadata.labels = { z: '1' };
      }),
    ]);
    const request = requestFor(pod(['nginx'], { labels: { app: 'web' } }));
    const outcome = await engine.mutate(request);
    expect(outcome.policies[0]?.error).toBeUndefined();
    const expected = structuredClone(request.object!);
    for (const key of Object.keys(expected.metadata!)) if (typeof (expected.metadata as Record<string, unknown>)[key] !== 'object') delete (expected.metadata as Record<string, unknown>)[key];
    expected.metadata!.labels = { z: '1' };
    expect(outcome.object).toEqual(expected);
    expect(fastJsonPatch.applyPatch(structuredClone(request.object!), outcome.verdict.patch as fastJsonPatch.Operation[]).newDocument).toEqual(expected);
  });

  it.each([
    ['a Proxy of a member, with a set trap passing the receiver on', (r: { object?: KubernetesObject | null }) => {
      const metadata = new Proxy(r.object!.metadata as Record<string, unknown>, {
        set: (target, key, value, receiver) => Reflect.set(target, key, value, receiver),
      });
      (metadata.labels as Record<string, string>).team = 'a';
    }],
    ['a Proxy of the whole object, put in its place', (r: { object?: KubernetesObject | null }) => {
      r.object = new Proxy(r.object!, {});
      labelsOf(r.object).team = 'a';
    }],
    ['Reflect.get and Reflect.set with a Proxy as the receiver', (r: { object?: KubernetesObject | null }) => {
      const object = r.object as Record<string, unknown>;
      const receiver = new Proxy(object, {});
      const metadata = Reflect.get(object, 'metadata', receiver) as Record<string, unknown>;
      Reflect.set(metadata, 'labels', { ...(metadata.labels as object), team: 'a' }, new Proxy(metadata, {}));
    }],
  ])('reads and writes through %s as through the draft itself', async (_, edit) => {
    const request = requestFor(pod(['nginx'], { labels: { app: 'web' } }));
    const received = structuredClone(request.object);
    const outcome = await new PolicyEngine([mutating('m', edit)]).mutate(request);
    expect(outcome.policies[0]?.error).toBeUndefined();
    expect(outcome.verdict.patch).toEqual([{ op: 'add', path: '/metadata/labels/team', value: 'a' }]);
    expect(request.object).toEqual(received);
  });

  it('refuses an assignment to a member of a frozen draft, read or not, as strict mode does', async () => {
    const engine = new PolicyEngine([
      mutating('m', (r) => {
        const object = r.object as Record<string, unknown>;
        void object.spec;
        Object.freeze(object);
        object.spec = {};
      }),
    ]);
    const outcome = await engine.mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.message).toMatch(/read only property 'spec'/);
  });

  it('fails closed when a member is redefined with a partial descriptor, instead of patching its removal', async () => {
    const engine = new PolicyEngine([
      mutating('m', (r) => {
        labelsOf(r.object).b = '2';
        Object.defineProperty(r.object, 'metadata', { writable: false });
      }),
    ]);
    const outcome = await engine.mutate(requestFor(pod(['nginx'])));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.message).toMatch(/member "metadata" of request.object was redefined without a value/);
    // Assigning undefined, or deleting, is a removal, and is patched as one.
    const removes = new PolicyEngine([
      mutating('m', (r) => {
        (r.object as Record<string, unknown>).spec = undefined;
        delete (r.object as Record<string, unknown>).metadata;
      }),
    ]);
    const removed = await removes.mutate(requestFor(pod(['nginx'])));
    expect(removed.verdict.patch).toEqual([
      { op: 'remove', path: '/spec' },
      { op: 'remove', path: '/metadata' },
    ]);
  });

  it.each([
    ['deleting an element', (containers: unknown[]) => void delete containers[0]],
    ['lengthening the array', (containers: unknown[]) => void (containers.length = 3)],
    ['setting an element to undefined', (containers: unknown[]) => void (containers[0] = undefined)],
  ])('patches holes and undefined in an array as the nulls JSON makes of them: %s', async (_, edit) => {
    const request = requestFor(pod(['nginx', 'redis']));
    const outcome = await new PolicyEngine([mutating('m', (r) => edit((r.object!.spec as { containers: unknown[] }).containers))]).mutate(request);
    expect(outcome.policies[0]?.error).toBeUndefined();
    const json = JSON.parse(JSON.stringify(outcome.object)) as KubernetesObject;
    expect(outcome.object).toEqual(json);
    expect(fastJsonPatch.applyPatch(structuredClone(request.object!), outcome.verdict.patch as fastJsonPatch.Operation[]).newDocument).toEqual(json);
  });

  it('keeps a second instance of a module that holds the first one’s draft away from the object as received', async () => {
    const request = requestFor(pod(['nginx']));
    const received = structuredClone(request.object);
    let first: KubernetesObject | undefined;
    const shared = (r: { object?: KubernetesObject | null }) => {
      if (first) (first.spec as { containers: Array<{ image: string }> }).containers[0]!.image = 'evil.io/x';
      else first = r.object!;
    };
    await new PolicyEngine([mutating('a', shared), mutating('b', shared)]).mutate(request);
    expect(request.object).toEqual(received);
  });

  it.each([
    ['Object.freeze(object)', (o: Record<string, unknown>) => Object.freeze(o)],
    ['Object.seal(object)', (o: Record<string, unknown>) => Object.seal(o)],
    ['Object.freeze(metadata)', (o: Record<string, unknown>) => Object.freeze(o.metadata)],
    ['defineProperty configurable: false on an unchanged member', (o: Record<string, unknown>) => Object.defineProperty(o, 'spec', { configurable: false })],
  ])('patches an edit followed by %s, and reads the locked draft alike every time', async (_, lock) => {
    const engine = new PolicyEngine([
      mutating('m', (r) => {
        labelsOf(r.object).b = '2';
        lock(r.object as Record<string, unknown>);
        const object = r.object as Record<string, unknown>;
        expect(object.spec).toBe(object.spec);
        expect(JSON.parse(JSON.stringify(object.spec))).toEqual(pod(['nginx']).spec);
      }),
    ]);
    const outcome = await engine.mutate(requestFor(pod(['nginx'])));
    expect(outcome.policies[0]?.error).toBeUndefined();
    expect(outcome.verdict.patch).toEqual([{ op: 'add', path: '/metadata/labels', value: { b: '2' } }]);
  });
});
