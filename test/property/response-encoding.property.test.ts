// The answer is encoded by a compiled serialiser: its text must be exactly what JSON.stringify
// gives, for every shape of answer and every string a client or a policy can put in it
// (quotes, backslashes, control characters, lone surrogates, long strings).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allowed, denied, encodeAdmissionReview, patched, responseFromVerdict } from '../../src/admission/response.js';
import type { AdmissionApiVersion, JsonPatchOperation } from '../../src/admission/types.js';

const RUNS = Number(process.env.FC_RUNS ?? 500);

/** Any UTF-16 code units, lone surrogates too, short and past the serialiser's 42-unit loop. */
const text = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)), maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.constantFrom('', '"', '\\', '\u2028', '\ud800', 'a'.repeat(5000) + '"'),
);
const apiVersion = fc.constantFrom<AdmissionApiVersion>('admission.k8s.io/v1', 'admission.k8s.io/v1beta1');
const warnings = fc.array(text, { maxLength: 3 });
const patch = fc.array(fc.record({ op: fc.constant('add' as const), path: text.map((p) => `/${p}`), value: fc.jsonValue() }), { minLength: 1, maxLength: 2 }) as fc.Arbitrary<JsonPatchOperation[]>;

const answer = fc.oneof(
  fc.tuple(text, warnings).map(([uid, w]) => allowed(uid, w)),
  fc.tuple(text, text, fc.integer({ min: 400, max: 599 }), warnings).map(([uid, message, code, w]) => denied(uid, message, code, w)),
  fc.tuple(text, patch, warnings).map(([uid, p, w]) => patched(uid, p, w)),
  fc.tuple(text, fc.boolean(), text, warnings).map(([uid, ok, message, w]) => responseFromVerdict(uid, ok ? { allowed: true, warnings: w } : { allowed: false, message, warnings: w })),
);

describe('the encoded answer (property)', () => {
  it('is, character for character, what JSON.stringify gives', () => {
    fc.assert(
      fc.property(apiVersion, answer, (version, response) => {
        expect(encodeAdmissionReview(version, response)).toBe(JSON.stringify({ apiVersion: version, kind: 'AdmissionReview', response }));
      }),
      { numRuns: RUNS },
    );
  });

  it('carries every member an answer can have, audit annotations and a status reason too', () => {
    const response = { ...denied('u', 'no', 403, ['w']), auditAnnotations: { 'tollgate.dev/x': 'y' } };
    response.status = { ...response.status, reason: 'Forbidden' };
    expect(JSON.parse(encodeAdmissionReview('admission.k8s.io/v1', response))).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
  });
});
