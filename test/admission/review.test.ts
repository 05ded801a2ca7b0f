import type { JsonPatchOperation } from '../../src/admission/types.js';
import { describe, expect, it } from 'vitest';
import { decodeAdmissionReview } from '../../src/admission/review.js';
import { denied, encodeAdmissionReview, patched, responseFromVerdict } from '../../src/admission/response.js';
import { pod, reviewFor } from '../helpers/reviews.js';

function withRequest(change: (request: Record<string, unknown>) => void): unknown {
  const review = reviewFor(pod(['nginx']));
  change(review.request as Record<string, unknown>);
  return review;
}

describe('decodeAdmissionReview', () => {
  it.each(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const)('accepts %s and returns the request untouched', (apiVersion) => {
    const review = reviewFor(pod(['nginx']), { apiVersion });
    const { request } = review as { request: { object: unknown } };
    (request.object as Record<string, unknown>).unknownField = { nested: ['kept', 1, null] };
    const decoded = decodeAdmissionReview(review);
    expect(decoded.apiVersion).toBe(apiVersion);
    expect(decoded.request).toBe(review.request);
    expect((decoded.request.object as Record<string, unknown>).unknownField).toEqual({ nested: ['kept', 1, null] });
  });

  it('accepts a null object (DELETE) and a missing one (CONNECT)', () => {
    expect(decodeAdmissionReview(withRequest((r) => (r.object = null))).request.object).toBeNull();
    expect(decodeAdmissionReview(withRequest((r) => delete r.object)).request.object).toBeUndefined();
  });

  it.each([
    ['an array', [], 'TG_ERR_REVIEW_INVALID', 'body must be an AdmissionReview object'],
    ['null', null, 'TG_ERR_REVIEW_INVALID', 'body must be an AdmissionReview object'],
    ['an unknown version', { ...reviewFor(pod(['x'])), apiVersion: 'admission.k8s.io/v2' }, 'TG_ERR_REVIEW_VERSION', '"admission.k8s.io/v2" is not supported'],
    ['another kind', { ...reviewFor(pod(['x'])), kind: 'ConfigMap' }, 'TG_ERR_REVIEW_INVALID', 'AdmissionReview kind must be equal to constant'],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 'TG_ERR_REVIEW_INVALID', 'AdmissionReview request is required'],
    ['no uid', withRequest((r) => delete r.uid), 'TG_ERR_REVIEW_INVALID', 'request.uid is required'],
    ['an empty uid', withRequest((r) => (r.uid = '')), 'TG_ERR_REVIEW_INVALID', 'request.uid must NOT have fewer than 1 characters'],
    ['a numeric uid', withRequest((r) => (r.uid = 7)), 'TG_ERR_REVIEW_INVALID', 'request.uid must be string'],
    ['an unknown operation', withRequest((r) => (r.operation = 'PATCH')), 'TG_ERR_REVIEW_INVALID', 'request.operation must be one of'],
    ['an object that is an array', withRequest((r) => (r.object = [])), 'TG_ERR_REVIEW_INVALID', 'request.object must be object,null'],
    ['an object that is a string', withRequest((r) => (r.object = 'pod')), 'TG_ERR_REVIEW_INVALID', 'request.object must be object,null'],
    ['a kind without a group', withRequest((r) => (r.kind = { version: 'v1', kind: 'Pod' })), 'TG_ERR_REVIEW_INVALID', 'request.kind.group is required'],
    ['a string dryRun', withRequest((r) => (r.dryRun = 'true')), 'TG_ERR_REVIEW_INVALID', 'request.dryRun must be boolean'],
    ['a null namespace', withRequest((r) => (r.namespace = null)), 'TG_ERR_REVIEW_INVALID', 'request.namespace must be string'],
  ])('refuses %s with %s', (_what, body, code, message) => {
    expect(() => decodeAdmissionReview(body)).toThrow(message);
    try {
      decodeAdmissionReview(body);
    } catch (err) {
      expect(err).toMatchObject({ code, statusCode: 400 });
    }
  });
});

describe('responses', () => {
  it('answers in the apiVersion asked, echoing the uid', () => {
    const body = JSON.parse(encodeAdmissionReview('admission.k8s.io/v1beta1', denied('abc', 'no', 403)));
    expect(body).toEqual({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: 'abc', allowed: false, status: { code: 403, message: 'no' } } });
  });

  it('sets patchType and a base64 JSONPatch only when there is something to patch', () => {
    const ops = [{ op: 'add' as const, path: '/metadata/annotations/a~1b', value: 'c' }];
    const response = patched('u', ops, ['w']);
    expect(response.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(response.patch!, 'base64').toString())).toEqual(ops);
    expect(response.warnings).toEqual(['w']);
    expect(patched('u', [])).toEqual({ uid: 'u', allowed: true });
    expect(responseFromVerdict('u', { allowed: true, warnings: [] })).toEqual({ uid: 'u', allowed: true });
  });

  it('encodes each patch as it is, though the last one is kept encoded for the next review that sends the same', () => {
    const decode = (ops: JsonPatchOperation[]) => JSON.parse(Buffer.from(patched('u', ops).patch!, 'base64').toString('utf8')) as unknown;
    const annotate: JsonPatchOperation[] = [{ op: 'add', path: '/metadata/annotations', value: { 'tollgate.dev/admitted': 'true' } }];
    const other: JsonPatchOperation[] = [{ op: 'add', path: '/metadata/annotations', value: { 'tollgate.dev/admitted': 'fals\u00e9' } }];
    expect(decode(annotate)).toEqual(annotate);
    expect(decode(annotate)).toEqual(annotate);
    expect(decode(other)).toEqual(other);
    expect(decode(structuredClone(annotate))).toEqual(annotate);
    expect(decode([{ op: 'remove', path: '/x' }])).toEqual([{ op: 'remove', path: '/x' }]);
    // A deeply frozen patch is known by its identity; one frozen only on the outside is encoded afresh.
    const frozen = Object.freeze([Object.freeze({ op: 'add' as const, path: '/a', value: Object.freeze({ b: 'c' }) })]);
    expect(decode(frozen as unknown as JsonPatchOperation[])).toEqual([{ op: 'add', path: '/a', value: { b: 'c' } }]);
    expect(decode(frozen as unknown as JsonPatchOperation[])).toEqual([{ op: 'add', path: '/a', value: { b: 'c' } }]);
    const inner = { b: 'c' };
    const outer = Object.freeze([Object.freeze({ op: 'add' as const, path: '/a', value: inner })]);
    expect(decode(outer as unknown as JsonPatchOperation[])).toEqual([{ op: 'add', path: '/a', value: { b: 'c' } }]);
    inner.b = 'changed';
    expect(decode(outer as unknown as JsonPatchOperation[])).toEqual([{ op: 'add', path: '/a', value: { b: 'changed' } }]);
  });
});
