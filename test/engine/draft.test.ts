// The lazily copied object a mutating policy edits: members are copied on first touch, the source
// is never edited, and what was never touched is reported so that only the rest is diffed.
import fastJsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { PolicyEngine } from '../../src/engine/engine.js';
import { lazyDraft, withoutUntouched, type Untouched } from '../../src/engine/draft.js';
import { mutating } from '../helpers/policies.js';
import { pod, requestFor } from '../helpers/reviews.js';

const members = (untouched: Untouched) => [...untouched.members].sort();

const source = () => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { a: '1' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });

describe('lazyDraft', () => {
  it('copies a member on first read, so edits never reach the source', () => {
    const original = source();
    const draft = lazyDraft(original);
    (draft.object.metadata as { labels: Record<string, string> }).labels.a = '2';
    expect(original.metadata.labels.a).toBe('1');
    const untouched = draft.settle();
    expect(members(untouched)).toEqual(['spec']);
    // metadata was read, but inside it only labels was touched.
    expect(untouched.inside.get('metadata')?.members).toEqual(new Set());
    // The untouched member is the source's own value, not a copy.
    expect(draft.object.spec).toBe(original.spec);
    expect(draft.object.metadata).not.toBe(original.metadata);
  });

  it('counts a write, a delete and a read as touches, and reads as JSON like the source', () => {
    const original = source();
    const written = lazyDraft(original);
    written.object.spec = { replaced: true };
    expect(members(written.settle())).toEqual(['metadata']);

    const deleted = lazyDraft(original);
    delete deleted.object.spec;
    expect(members(deleted.settle())).toEqual(['metadata']);
    expect('spec' in deleted.object).toBe(false);

    const serialised = lazyDraft(original);
    expect(JSON.parse(JSON.stringify(serialised.object))).toEqual(original);
    expect(structuredClone(serialised.object)).toEqual(original);
    expect({ ...serialised.object }).toEqual(original);
    expect(members(serialised.settle())).toEqual([]);
    expect(original).toEqual(source());
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
    const untouched = draft.settle();
    expect(members(untouched)).toEqual(['spec']);
    expect([...(untouched.inside.get('metadata')?.members ?? [])].sort()).toEqual(['labels', 'managedFields']);
    expect(metadata.managedFields).toBe(original.metadata.managedFields);
    expect(original.metadata).toEqual({ name: 'p', labels: { a: '1' }, managedFields: [{ manager: 'kubectl' }] });
  });

  it('leaves out what was untouched for the diff, at both levels, and nothing when nothing was', () => {
    const object = { apiVersion: 'v1', metadata: { name: 'p', managedFields: [1], labels: { a: '1' } }, spec: { x: 1 } };
    const untouched: Untouched = { members: new Set(['spec']), inside: new Map([['metadata', { members: new Set(['managedFields']), inside: new Map() }]]) };
    expect(withoutUntouched(object, untouched)).toEqual({ apiVersion: 'v1', metadata: { name: 'p', labels: { a: '1' } } });
    expect(withoutUntouched(object, { members: new Set(), inside: new Map() })).toBe(object);
    expect(withoutUntouched(object, undefined)).toBe(object);
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

  it('gives an object derived from the draft its own copy, which changes nothing', async () => {
    const engine = new PolicyEngine([
      mutating('derived', (r) => {
        const derived = Object.create(r.object!) as { spec: { containers: unknown[] } };
        derived.spec.containers.length = 0;
      }),
    ]);
    const request = requestFor(pod(['nginx']));
    const before = structuredClone(request.object);
    const outcome = await engine.mutate(request);
    expect(outcome.verdict).toEqual({ allowed: true, warnings: [] });
    expect(request.object).toEqual(before);
  });
});
