// A webhook's matchConditions as `tollgate check --webhooks` evaluates them: CEL (the
// @marcbachmann/cel-js library) over the object, the old object and the request as the apiserver
// builds them for CEL, and, from each expression's text, how far its value offline can be trusted
// (what it reads that the manifests do not decide, and functions the library evaluates otherwise
// than the apiserver's cel-go).
import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import type { AdmissionRequest } from '../admission/types.js';

/** JSON as the apiserver's CEL sees an object: whole numbers are int (bigint here), the rest double. */
function celValue(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(celValue);
  if (typeof value === 'object' && value !== null) {
    // Own properties, a `__proto__` key too: an assignment would set the prototype instead (or,
    // for a string, drop the key), and CEL would not see a key the apiserver's CEL sees.
    const out: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(value)) Object.defineProperty(out, key, { value: celValue(entry), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/** The request's fields the apiserver's JSON leaves out when empty (omitempty): CEL finds no such key. */
const isEmpty = (value: unknown): boolean =>
  value === undefined || value === '' || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
const omitEmpty = <T extends object>(fields: T): Partial<T> => Object.fromEntries(Object.entries(fields).filter(([, value]) => !isEmpty(value))) as Partial<T>;

/**
 * The `request` variable as the apiserver builds it for CEL (cel.CreateAdmissionRequest, then
 * SchemalessTypedToVal, which leaves out an omitempty field's empty value): no uid, an empty name
 * (a generateName object's, before the validating phase), namespace (a cluster-scoped object's) or
 * subresource left out, so that reading one is an error (a Namespace's request names it: see
 * createRequest). Neither object nor oldObject, which it leaves out.
 */
function celRequest(request: AdmissionRequest): unknown {
  return celValue({
    kind: request.kind,
    resource: request.resource,
    requestKind: request.requestKind ?? request.kind,
    requestResource: request.requestResource ?? request.resource,
    ...omitEmpty({ subResource: request.subResource, requestSubResource: request.requestSubResource, name: request.name, namespace: request.namespace }),
    operation: request.operation,
    userInfo: omitEmpty({ username: request.userInfo?.username, uid: request.userInfo?.uid, groups: request.userInfo?.groups, extra: request.userInfo?.extra }),
    dryRun: request.dryRun ?? false,
    ...(request.options ? { options: request.options } : {}),
  });
}

/** A condition that reads a name the apiserver generates: its value offline is a guess unless true. */
const READS_NAME = /\bname\b/;
/** A condition that reads what is guessed of a custom kind no definition gives (its resource, its namespace or none). */
const READS_GUESS = /resource|namespace/i;

/** The variables a webhook's matchConditions see; `authorizer` needs the cluster and is not offered. */
const celEnvironment = new Environment({ homogeneousAggregateLiterals: false })
  .registerVariable('object', 'dyn')
  .registerVariable('oldObject', 'dyn')
  .registerVariable('request', 'dyn');

export interface MatchCondition {
  name: string;
  evaluate: ParseResult;
  /**
   * Why its value offline may not be the apiserver's: it reads what the request carries beyond
   * the manifest (always unknown), or uses functions this library evaluates otherwise than cel-go
   * (unknown unless true).
   */
  unsure?: { always: boolean; why: string };
  /** Whether it reads a `name` (a generated one is unknown offline). */
  readsName: boolean;
  /** Whether it reads a resource or namespace (a guessed kind's are unknown offline). */
  readsGuess: boolean;
}

/** The fields of `request` a manifest decides: any other use of `request` reads what offline check cannot know. */
const KNOWN_REQUEST_FIELDS = ['kind', 'resource', 'subResource', 'requestKind', 'requestResource', 'requestSubResource', 'name', 'namespace', 'operation'];
const UNKNOWN_REQUEST_USE = new RegExp(String.raw`\brequest\b(?!\s*\.\s*(?:${KNOWN_REQUEST_FIELDS.join('|')})\b)`);

/** How far offline check can trust a condition's value, from its text (a string literal that looks alike only makes it stricter). */
function unsureOf(expression: string): MatchCondition['unsure'] {
  if (UNKNOWN_REQUEST_USE.test(expression)) {
    return {
      always: true,
      why: 'reads what the request carries beyond the manifest (request.userInfo, request.dryRun, request.options: the user who applies it, and a real apply is no dry run), which offline check does not know',
    };
  }
  if (/\bmatches\s*\(/.test(expression)) {
    return { always: false, why: "uses matches(): the apiserver's regular expressions are RE2, evaluated here by JavaScript's RegExp, which reads some patterns otherwise (\\p{L}, \\z, [[:alpha:]], \\s)" };
  }
  if (/\b(?:indexOf|lastIndexOf|substring|charAt)\s*\(/.test(expression)) {
    return { always: false, why: 'uses string positions, which this CEL library counts in UTF-16 units and the apiserver’s in code points' };
  }
  return undefined;
}

/** A condition, parsed (a syntax error throws, for the caller to place), with what its text says of its trust. */
export function compileMatchCondition(name: string, expression: string): MatchCondition {
  const unsure = unsureOf(expression);
  return {
    name,
    evaluate: celEnvironment.parse(expression),
    readsName: READS_NAME.test(expression),
    readsGuess: READS_GUESS.test(expression),
    ...(unsure ? { unsure } : {}),
  };
}

/** The variables a condition is evaluated with, for `request`. */
export function conditionVariables(request: AdmissionRequest): Record<string, unknown> {
  return { object: celValue(request.object ?? null), oldObject: celValue(request.oldObject ?? null), request: celRequest(request) };
}
