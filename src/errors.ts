// Every error tollgate raises, in one catalogue: a stable code, a message template and, for errors
// that reach an HTTP client, the status it is answered with.

export const ErrorCodes = {
  TG_ERR_REVIEW_NOT_JSON: 'TG_ERR_REVIEW_NOT_JSON',
  TG_ERR_REVIEW_CONTENT_TYPE: 'TG_ERR_REVIEW_CONTENT_TYPE',
  TG_ERR_REVIEW_TOO_LARGE: 'TG_ERR_REVIEW_TOO_LARGE',
  TG_ERR_REVIEW_INVALID: 'TG_ERR_REVIEW_INVALID',
  TG_ERR_REVIEW_VERSION: 'TG_ERR_REVIEW_VERSION',
  TG_ERR_NOT_FOUND: 'TG_ERR_NOT_FOUND',
  TG_ERR_METHOD_NOT_ALLOWED: 'TG_ERR_METHOD_NOT_ALLOWED',
  TG_ERR_OVERLOADED: 'TG_ERR_OVERLOADED',
  TG_ERR_INTERNAL: 'TG_ERR_INTERNAL',
  TG_ERR_CONFIG_READ: 'TG_ERR_CONFIG_READ',
  TG_ERR_CONFIG_PARSE: 'TG_ERR_CONFIG_PARSE',
  TG_ERR_CONFIG_INVALID: 'TG_ERR_CONFIG_INVALID',
  TG_ERR_MODULE_NOT_FOUND: 'TG_ERR_MODULE_NOT_FOUND',
  TG_ERR_MODULE_INVALID: 'TG_ERR_MODULE_INVALID',
  TG_ERR_MODULE_CREATE: 'TG_ERR_MODULE_CREATE',
  TG_ERR_POLICY_CONFIG_INVALID: 'TG_ERR_POLICY_CONFIG_INVALID',
  TG_ERR_POLICY_TIMEOUT: 'TG_ERR_POLICY_TIMEOUT',
  TG_ERR_POLICY_FAILED: 'TG_ERR_POLICY_FAILED',
  TG_ERR_POLICY_BAD_RESULT: 'TG_ERR_POLICY_BAD_RESULT',
  TG_ERR_OBJECT_TOO_DEEP: 'TG_ERR_OBJECT_TOO_DEEP',
  TG_ERR_MANIFEST_READ: 'TG_ERR_MANIFEST_READ',
  TG_ERR_MANIFEST_PARSE: 'TG_ERR_MANIFEST_PARSE',
  TG_ERR_TEST_SUITE: 'TG_ERR_TEST_SUITE',
  TG_ERR_TLS: 'TG_ERR_TLS',
  TG_ERR_CLIENT_CERTIFICATE: 'TG_ERR_CLIENT_CERTIFICATE',
  TG_ERR_CLUSTER: 'TG_ERR_CLUSTER',
  TG_ERR_USAGE: 'TG_ERR_USAGE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** HTTP status for the errors that are answered to a client; the rest are start-up or CLI errors. */
export const httpStatusOf: Partial<Record<ErrorCode, number>> = {
  TG_ERR_REVIEW_NOT_JSON: 400,
  TG_ERR_REVIEW_CONTENT_TYPE: 415,
  TG_ERR_REVIEW_TOO_LARGE: 413,
  TG_ERR_REVIEW_INVALID: 400,
  TG_ERR_REVIEW_VERSION: 400,
  TG_ERR_NOT_FOUND: 404,
  TG_ERR_METHOD_NOT_ALLOWED: 405,
  TG_ERR_OVERLOADED: 503,
  TG_ERR_CLIENT_CERTIFICATE: 403,
  TG_ERR_INTERNAL: 500,
};

export class TollgateError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TollgateError';
    this.code = code;
    this.statusCode = httpStatusOf[code] ?? 500;
  }
}

export function isTollgateError(err: unknown): err is TollgateError {
  return err instanceof TollgateError;
}

/** A readable one-line reason for anything thrown, including non-Error values. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return `non-error thrown: ${JSON.stringify(err)}`;
  } catch {
    return 'non-error thrown';
  }
}
