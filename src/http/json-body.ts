// The review body parser: JSON.parse, with secure-json-parse's guard against `__proto__` and
// `constructor.prototype` keys, as fastify's own parser does. The guard's two regular expressions
// run only when the body could spell either word: plainly, or with a \u00XX escape (every letter
// of both is one). One scan for that costs about two thirds of the guard's on the bench bodies.
import secureJson from 'secure-json-parse';
import { ErrorCodes, TollgateError } from '../errors.js';

const BYTE_ORDER_MARK = 0xfeff;
const GUARD = { protoAction: 'error', constructorAction: 'error' } as const;
/** JSON escapes are lower-case `\u` followed by four hex digits; the letters concerned are all U+00XX. */
const MAY_POISON = /\\u00|__proto__|constructor/;

/** Could this text hold a `__proto__` or `constructor` key, spelled out or escaped? */
function mayPoison(text: string): boolean {
  return MAY_POISON.test(text);
}

/** Parses a review body; a TollgateError (400) for anything that is not acceptable JSON. */
export function parseReviewBody(text: string): unknown {
  if (text.length === 0) throw new TollgateError(ErrorCodes.TG_ERR_REVIEW_NOT_JSON, 'body is empty');
  let parsed: unknown;
  try {
    parsed = text.charCodeAt(0) === BYTE_ORDER_MARK || mayPoison(text) ? secureJson.parse(text, GUARD) : JSON.parse(text);
  } catch (err) {
    const poisoned = err instanceof SyntaxError && /prototype|constructor/i.test(err.message);
    throw new TollgateError(ErrorCodes.TG_ERR_REVIEW_NOT_JSON, poisoned ? `body is not acceptable JSON: ${err.message}` : 'body is not valid JSON');
  }
  return parsed;
}
