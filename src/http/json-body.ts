// The review body parser: JSON.parse, with secure-json-parse's guard against `__proto__` and
// `constructor.prototype` keys, as fastify's own parser does. The guard's two regular expressions
// scan the whole body; they only run when a key could spell either word (directly or in \u
// escapes), which an ordinary review cannot: the plain scan is a few times cheaper (bench/).
import secureJson from 'secure-json-parse';
import { ErrorCodes, TollgateError } from '../errors.js';

const BYTE_ORDER_MARK = 0xfeff;
const GUARD = { protoAction: 'error', constructorAction: 'error' } as const;

/** Could this text hold a `__proto__` or `constructor` key, spelled out or escaped? */
function mayPoison(text: string): boolean {
  return text.includes('\\u') || text.includes('__proto__') || text.includes('constructor');
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
