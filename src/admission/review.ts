// Decodes an AdmissionReview and checks its envelope. The object under review is never touched:
// only its type (object or null) is checked, so nothing is stripped, coerced or defaulted.
import { TollgateError, ErrorCodes } from '../errors.js';
import { createAjv, describeAjvError } from '../json-schema.js';
import { AdmissionApiVersions, Operations, type AdmissionApiVersion, type AdmissionRequest } from './types.js';

const gvk = {
  type: 'object',
  required: ['group', 'version', 'kind'],
  properties: { group: { type: 'string' }, version: { type: 'string' }, kind: { type: 'string' } },
};
const gvr = {
  type: 'object',
  required: ['group', 'version', 'resource'],
  properties: { group: { type: 'string' }, version: { type: 'string' }, resource: { type: 'string' } },
};
const objectOrNull = { type: ['object', 'null'] };

const envelopeSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid', 'kind', 'resource', 'operation'],
      properties: {
        uid: { type: 'string', minLength: 1, maxLength: 256 },
        kind: gvk,
        resource: gvr,
        subResource: { type: 'string' },
        requestKind: gvk,
        requestResource: gvr,
        requestSubResource: { type: 'string' },
        name: { type: 'string' },
        namespace: { type: 'string' },
        operation: { enum: [...Operations] },
        userInfo: { type: 'object' },
        object: objectOrNull,
        oldObject: objectOrNull,
        options: objectOrNull,
        dryRun: { type: 'boolean' },
      },
    },
  },
} as const;

const validateEnvelope = createAjv().compile(envelopeSchema);

export interface DecodedReview {
  apiVersion: AdmissionApiVersion;
  request: AdmissionRequest;
}

function isSupportedVersion(value: unknown): value is AdmissionApiVersion {
  return (AdmissionApiVersions as readonly unknown[]).includes(value);
}

/**
 * Checks that `body` (already parsed JSON) is an AdmissionReview with a well-formed request, and
 * returns the request as received. Throws a TollgateError (a 4xx) naming the bad field otherwise.
 */
export function decodeAdmissionReview(body: unknown): DecodedReview {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new TollgateError(ErrorCodes.TG_ERR_REVIEW_INVALID, 'body must be an AdmissionReview object');
  }
  const apiVersion = (body as { apiVersion?: unknown }).apiVersion;
  if (apiVersion !== undefined && !isSupportedVersion(apiVersion)) {
    throw new TollgateError(
      ErrorCodes.TG_ERR_REVIEW_VERSION,
      `apiVersion ${JSON.stringify(apiVersion)} is not supported (want one of ${AdmissionApiVersions.join(', ')})`,
    );
  }
  if (!validateEnvelope(body)) {
    throw new TollgateError(ErrorCodes.TG_ERR_REVIEW_INVALID, `AdmissionReview ${describeAjvError(validateEnvelope.errors?.[0])}`);
  }
  const review = body as { apiVersion: AdmissionApiVersion; request: AdmissionRequest };
  return { apiVersion: review.apiVersion, request: review.request };
}
