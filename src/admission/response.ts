// Named constructors for AdmissionResponses and the encoder of the reply, in the version asked.
import fastJsonStringify from 'fast-json-stringify';
import { isFrozenPatch } from '../frozen.js';
import type { AdmissionApiVersion, AdmissionResponse, JsonPatchOperation } from './types.js';

/** What the policy engine decided about one request, before it is put on the wire. */
export interface Verdict {
  allowed: boolean;
  /** Why the request was denied; absent when allowed. */
  message?: string;
  /** HTTP-style code of a denial: 403 for a policy violation. */
  code?: number;
  warnings: string[];
  /** RFC 6902 operations to apply to the object as received; absent or empty: nothing to patch. */
  patch?: JsonPatchOperation[];
}

export function allowed(uid: string, warnings: string[] = []): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: true };
  if (warnings.length > 0) response.warnings = warnings;
  return response;
}

export function denied(uid: string, message: string, code = 403, warnings: string[] = []): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: false, status: { code, message } };
  if (warnings.length > 0) response.warnings = warnings;
  return response;
}

/** The last patch encoded, as JSON and as base64: a policy that makes the same change on most objects (an annotation) sends the same patch each time. */
let lastPatchJson = '';
let lastPatchBase64 = '';
/** The last frozen patch encoded: a policy's constant, which cannot have changed since. */
let lastFrozenPatch: readonly JsonPatchOperation[] | undefined;

function base64OfPatch(patch: readonly JsonPatchOperation[]): string {
  if (patch === lastFrozenPatch) return lastPatchBase64;
  const json = JSON.stringify(patch);
  // Kept as a key only if it cannot change: the engine's own test for a patch it keeps uncopied.
  lastFrozenPatch = isFrozenPatch(patch) ? patch : undefined;
  if (json !== lastPatchJson) {
    lastPatchBase64 = Buffer.from(json).toString('base64');
    lastPatchJson = json;
  }
  return lastPatchBase64;
}

export function patched(uid: string, patch: readonly JsonPatchOperation[], warnings: string[] = []): AdmissionResponse {
  if (patch.length === 0) return allowed(uid, warnings);
  const response = allowed(uid, warnings);
  response.patchType = 'JSONPatch';
  response.patch = base64OfPatch(patch);
  return response;
}

export function responseFromVerdict(uid: string, verdict: Verdict): AdmissionResponse {
  if (!verdict.allowed) return denied(uid, verdict.message ?? 'denied', verdict.code ?? 403, verdict.warnings);
  return patched(uid, verdict.patch ?? [], verdict.warnings);
}

/**
 * The answer's schema: every member an AdmissionResponse has, in the order the constructors above
 * add them (so the text is the one JSON.stringify gives). Compiled once into a serialiser by
 * fast-json-stringify (fastify's own): a third of JSON.stringify's time on this small object, and a
 * quarter when it runs cold, as it does once per review (README, "Performance").
 */
const REVIEW_ANSWER_SCHEMA: fastJsonStringify.ObjectSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'response'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    response: {
      type: 'object',
      required: ['uid', 'allowed'],
      properties: {
        uid: { type: 'string' },
        allowed: { type: 'boolean' },
        status: { type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' }, reason: { type: 'string' } } },
        warnings: { type: 'array', items: { type: 'string' } },
        patchType: { type: 'string' },
        patch: { type: 'string' },
        auditAnnotations: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
  },
};

const serializeReviewAnswer = fastJsonStringify(REVIEW_ANSWER_SCHEMA);

/** The AdmissionReview to answer with, in the apiVersion the request came in. */
export function encodeAdmissionReview(apiVersion: AdmissionApiVersion, response: AdmissionResponse): string {
  return serializeReviewAnswer({ apiVersion, kind: 'AdmissionReview', response });
}

/** The verdict in one word, as logs and metrics name it. */
export function verdictName(verdict: Verdict): 'allowed' | 'denied' | 'patched' {
  if (!verdict.allowed) return 'denied';
  return verdict.patch && verdict.patch.length > 0 ? 'patched' : 'allowed';
}
