// The mutating chain's patch always applies to the object exactly as received and reproduces the
// mutated object; run again on its own output, the chain patches nothing.
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, JsonPatchOperation, KubernetesObject } from '../../src/admission/types.js';
import { applyOperations, surelyApplies } from '../../src/engine/apply-patch.js';
import { PolicyEngine } from '../../src/engine/engine.js';
import type { LoadedPolicy } from '../../src/engine/loader.js';
import annotationInjection from '../../policies/annotation-injection/index.js';
import { mutating, patching } from '../helpers/policies.js';

/** More runs for a deeper search: FC_RUNS=20000 npx vitest run test/property */
const RUNS = Number(process.env.FC_RUNS ?? 500);

/** The object as the apiserver would see it after JSON: undefined members gone. */
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');

// Keys that need JSON Pointer escaping or are otherwise awkward; `__proto__` never reaches the
// engine (the server refuses it), so it is left out.
const key = fc.oneof(
  fc.constantFrom('a', 'b', 'labels', 'annotations', 'a/b', 'a~b', '~1', '~0', '/', '', ' ', '0', '-', 'é', '\u{1F600}', 'constructor', 'toString', 'length'),
  fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'),
);
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constantFrom(null, true, false, 0, 1.5, '', 'x', '\u2028'), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(key, tie('value'), { maxKeys: 4 })),
})).value;

const podLike = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constant('Pod'),
  metadata: fc.record({ name: fc.constant('p'), annotations: fc.option(fc.dictionary(key, fc.string({ maxLength: 4 }), { maxKeys: 3 }), { nil: undefined }), extra: json }, { requiredKeys: ['name'] }),
  spec: json,
  // Objects arrive as JSON: no undefined members.
}).map((object) => asJson(object)) as fc.Arbitrary<KubernetesObject>;

type Edit = { path: string[]; remove: boolean; value: unknown };
const edit: fc.Arbitrary<Edit> = fc.record({
  path: fc.array(fc.oneof(key, fc.constantFrom('metadata', 'spec', 'annotations', '0', '1')), { minLength: 1, maxLength: 4 }),
  remove: fc.boolean(),
  value: fc.oneof(json, fc.constant(undefined)),
});

const isIndex = (array: unknown[], key: string, extra = 0) => key === String(Number(key)) && Number(key) >= 0 && Number(key) < array.length + extra;

/** A deterministic, idempotent editor: sets or removes each path, making objects on the way where needed. */
function applyEdits(object: KubernetesObject, edits: readonly Edit[]): void {
  edits: for (const { path, remove, value } of edits) {
    let node: Record<string, unknown> | unknown[] = object;
    for (const step of path.slice(0, -1)) {
      if (Array.isArray(node) && !isIndex(node, step)) continue edits;
      const record = node as Record<string, unknown>;
      const next = record[step];
      if (typeof next !== 'object' || next === null) {
        if (remove) continue edits;
        record[step] = {};
      }
      node = record[step] as Record<string, unknown>;
    }
    const last = path[path.length - 1]!;
    if (Array.isArray(node)) {
      // Truncating (not splicing) keeps the editor idempotent.
      if (remove && isIndex(node, last)) node.length = Number(last);
      else if (!remove && isIndex(node, last, 1)) node[Number(last)] = structuredClone(value ?? null);
    } else if (remove) delete node[last];
    else Object.defineProperty(node, last, { value: structuredClone(value), enumerable: true, writable: true, configurable: true });
  }
}

function requestFor(object: KubernetesObject): AdmissionRequest {
  return { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'default', object };
}


describe('patches (property)', () => {
  it('apply to the original and reproduce the mutated object; the chain is idempotent', async () => {
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    await fc.assert(
      fc.asyncProperty(
        podLike,
        fc.array(edit, { maxLength: 4 }),
        fc.dictionary(fc.constantFrom('tollgate.dev/a', 'example.com/b', 'c'), fc.string({ maxLength: 4 }), { maxKeys: 2 }),
        fc.boolean(),
        async (object, edits, annotations, overwrite) => {
          const policies: LoadedPolicy[] = [
            mutating('edits', (request) => applyEdits(request.object!, edits)),
            patching('annotations', (await annotationInjection.create({ annotations, overwrite }, { name: 'annotations', logger })).patch!),
          ];
          const engine = new PolicyEngine(policies);
          const original = structuredClone(object);
          const outcome = await engine.mutate(requestFor(object));
          expect(object, 'the object as received is never changed').toEqual(original);
          expect(outcome.verdict.allowed, JSON.stringify(outcome.policies.map((p) => p.error))).toBe(true);

          const patch = (outcome.verdict.patch ?? []) as fastJsonPatch.Operation[];
          // What the apiserver does: decode the patch from JSON and apply it to the object it sent.
          const wirePatch = asJson(patch) as fastJsonPatch.Operation[];
          const applied = fastJsonPatch.applyPatch(asJson(original), wirePatch, true, false).newDocument;
          expect(applied).toEqual(asJson(outcome.object));

          const again = await engine.mutate(requestFor(asJson(outcome.object) as KubernetesObject));
          expect(again.verdict.patch ?? []).toEqual([]);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('from a patching policy: its operations, applied to copies of what they touch, give the object it meant, whatever came before it', async () => {
    await fc.assert(
      fc.asyncProperty(podLike, fc.array(edit, { maxLength: 4 }), fc.array(edit, { maxLength: 4 }), async (object, before, edits) => {
        // A policy that edits first, then one that answers the diff of its edits as operations.
        let meant: unknown;
        const engine = new PolicyEngine([
          mutating('edits', (request) => applyEdits(request.object!, before)),
          patching('patches', (request) => {
            const target = asJson(request.object) as KubernetesObject;
            applyEdits(target, edits);
            meant = asJson(target);
            return { patch: fastJsonPatch.compare(asJson(request.object) as object, meant as object) as never };
          }),
        ]);
        const original = structuredClone(object);
        const outcome = await engine.mutate(requestFor(object));
        expect(object, 'the object as received is never changed').toEqual(original);
        expect(outcome.verdict.allowed, JSON.stringify(outcome.policies.map((p) => p.error))).toBe(true);
        expect(asJson(outcome.object)).toEqual(meant);
        const wirePatch = asJson(outcome.verdict.patch ?? []) as fastJsonPatch.Operation[];
        expect(fastJsonPatch.applyPatch(asJson(original), wirePatch, true, false).newDocument).toEqual(meant);
      }),
      { numRuns: RUNS },
    );
  });

  // Operations of every kind on paths mostly through what the object has, values now and then
  // holding undefined: surelyApplies must never call a patch sure that fast-json-patch refuses.
  const step = fc.oneof(fc.constantFrom('metadata', 'annotations', 'labels', 'spec', 'name', 'extra', 'containers', '0', 'a', 'b'), key);
  const anyOperation: fc.Arbitrary<JsonPatchOperation> = fc.record({
    op: fc.constantFrom('add', 'add', 'add', 'replace', 'remove', 'test', 'move', 'copy'),
    path: fc.array(step, { maxLength: 4 }).map((steps) => steps.map((k) => `/${fastJsonPatch.escapePathComponent(k)}`).join('')),
    from: fc.array(step, { minLength: 1, maxLength: 3 }).map((steps) => steps.map((k) => `/${k}`).join('')),
    value: fc.oneof(json, json, fc.dictionary(key, fc.constant(undefined), { minKeys: 1, maxKeys: 1 })),
  }) as fc.Arbitrary<JsonPatchOperation>;
  // Adds into what a pod has, as annotation and label policies make them.
  const likelyAdd: fc.Arbitrary<JsonPatchOperation> = fc.record({
    op: fc.constant('add' as const),
    path: fc.tuple(fc.constantFrom('/metadata', '/metadata/annotations', '/metadata/extra', '/spec'), fc.oneof(step, step)).map(([parent, k]) => `${parent}/${fastJsonPatch.escapePathComponent(k)}`),
    value: fc.oneof(json, json, json, fc.dictionary(key, fc.constant(undefined), { minKeys: 1, maxKeys: 1 })),
  });
  const operation = fc.oneof(anyOperation, likelyAdd, likelyAdd);

  it('surely applying: what surelyApplies accepts applies, and the patch-only chain answers what the full one does', async () => {
    let sure = 0;
    await fc.assert(
      fc.asyncProperty(podLike, fc.array(operation, { maxLength: 4 }), async (object, operations) => {
        const received = structuredClone(object);
        if (surelyApplies(object as Record<string, unknown>, operations)) {
          sure++;
          expect(() => applyOperations(object as Record<string, unknown>, operations)).not.toThrow();
        }
        const engine = new PolicyEngine([patching('p', () => ({ patch: structuredClone(operations) }))]);
        const full = await engine.mutate(requestFor(object));
        const patchOnly = await engine.runMutating(requestFor(object), { object: false });
        expect(patchOnly.verdict).toEqual(full.verdict);
        expect(object, 'the object as received is never changed').toEqual(received);
      }),
      { numRuns: RUNS },
    );
    // The generator reaches the case it is for.
    expect(sure).toBeGreaterThan(RUNS / 20);
  });
});
