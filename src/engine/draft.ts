// The object a mutating policy edits, copied lazily at the top level. A policy usually touches one
// member (metadata, say) of an object whose spec is much of its size; copying and diffing the
// whole object for every review was most of what /mutate costs over /validate (bench/). Each
// top-level member that is an object or array is copied on first touch (read, write or delete);
// the members never touched are known unchanged, so only the touched ones are diffed.
//
// The accessors are shared, one pair per member name, and find their draft's source through a
// symbol: accessors made per draft give every draft its own hidden classes, and under load that
// measured slower than copying everything (the garbage collector's share went up fourfold).
import { copyJson } from './copy.js';

type JsonRecord = Record<string, unknown>;

const SOURCE = Symbol('tollgate.draftSource');
/** Member names with a shared accessor pair; any other name is copied at once. */
const MAX_SHARED_ACCESSORS = 64;

interface Accessors {
  get(this: JsonRecord): unknown;
  set(this: JsonRecord, value: unknown): void;
}

function defineData(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function sourceOf(draft: JsonRecord): JsonRecord {
  const source = (draft as { [SOURCE]?: JsonRecord })[SOURCE];
  if (!source) throw new TypeError('a lazily copied member was read through an object that is not its draft');
  return source;
}

const accessors = new Map<string, Accessors>();

function accessorsFor(key: string): Accessors | undefined {
  let pair = accessors.get(key);
  if (!pair && accessors.size < MAX_SHARED_ACCESSORS) {
    pair = {
      get() {
        const copy = copyJson(sourceOf(this)[key]);
        defineData(this, key, copy);
        return copy;
      },
      set(value) {
        defineData(this, key, value);
      },
    };
    accessors.set(key, pair);
  }
  return pair;
}

export interface LazyDraft {
  /** Give this to the policy as `request.object`. */
  readonly object: JsonRecord;
  /**
   * After the policy: turns every member still untouched into a plain data property (sharing the
   * source's value, which nothing edits) and returns their names. Call once.
   */
  settle(): Set<string>;
}

export function lazyDraft(source: JsonRecord): LazyDraft {
  const draft: JsonRecord = Object.getPrototypeOf(source) === null ? (Object.create(null) as JsonRecord) : {};
  Object.defineProperty(draft, SOURCE, { value: source, enumerable: false, writable: false, configurable: true });
  const lazy: string[] = [];
  for (const key of Object.keys(source)) {
    const value = source[key];
    const pair = typeof value === 'object' && value !== null ? accessorsFor(key) : undefined;
    if (!pair) {
      defineData(draft, key, copyJson(value));
      continue;
    }
    Object.defineProperty(draft, key, { get: pair.get, set: pair.set, enumerable: true, configurable: true });
    lazy.push(key);
  }
  return {
    object: draft,
    settle() {
      const untouched = new Set<string>();
      for (const key of lazy) {
        // Still the shared accessor: never read, written or deleted.
        if (Object.getOwnPropertyDescriptor(draft, key)?.get !== accessors.get(key)?.get) continue;
        defineData(draft, key, source[key]);
        untouched.add(key);
      }
      return untouched;
    },
  };
}

/** The object without the given top-level members, for diffing only what may have changed. */
export function withoutKeys(object: JsonRecord, keys: ReadonlySet<string>): JsonRecord {
  if (keys.size === 0) return object;
  const rest: JsonRecord = {};
  for (const key of Object.keys(object)) if (!keys.has(key)) defineData(rest, key, object[key]);
  return rest;
}
