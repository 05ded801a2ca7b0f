// The object a mutating policy edits, copied lazily. A policy usually touches one member of an
// object (metadata.annotations, say) whose spec and metadata.managedFields are most of its size;
// copying and diffing the whole object for every review was most of what /mutate costs over
// /validate (bench/). Each member of the object, and each member of its top-level objects
// (`metadata.*`, `spec.*`), is copied on first touch (read, write or delete); what was never
// touched is known unchanged, so only the rest is diffed.
//
// The accessors are shared, one pair per member name, and find their draft's state through a
// symbol: accessors made per draft give every draft its own hidden classes, and under load that
// measured slower than copying everything (the garbage collector's share went up fourfold).
import { copyJson } from './copy.js';

type JsonRecord = Record<string, unknown>;

const STATE = Symbol('tollgate.draftState');
/** Member names with a shared accessor pair; a member of any other name is copied at once. */
const MAX_SHARED_ACCESSORS = 256;
/** The object itself is level 0; members of its members (level 1) are lazy too; below that, copies. */
const LAZY_LEVELS = 2;

interface DraftState {
  source: JsonRecord;
  level: number;
  /** Level-1 drafts made when their member was first touched, by member name. */
  children?: Map<string, Draft>;
}

/** What a policy left untouched: whole members, and inside touched members, theirs. */
export interface Untouched {
  members: Set<string>;
  inside: Map<string, Untouched>;
}

interface Accessors {
  get(this: JsonRecord): unknown;
  set(this: JsonRecord, value: unknown): void;
}

function defineData(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A new data member: plain assignment is much cheaper, but would set the prototype for `__proto__`. */
function addData(target: JsonRecord, key: string, value: unknown): void {
  if (key === '__proto__') defineData(target, key, value);
  else target[key] = value;
}

function isPlainRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function stateOf(draft: JsonRecord): DraftState {
  const state = (draft as { [STATE]?: DraftState })[STATE];
  if (!state) throw new TypeError('a lazily copied member was read through an object that is not its draft');
  return state;
}

const accessors = new Map<string, Accessors>();

function accessorsFor(key: string): Accessors | undefined {
  let pair = accessors.get(key);
  if (!pair && accessors.size < MAX_SHARED_ACCESSORS) {
    pair = {
      get() {
        const state = stateOf(this);
        const value = state.source[key];
        let copy: unknown;
        if (state.level + 1 < LAZY_LEVELS && isPlainRecord(value)) {
          const child = new Draft(value, state.level + 1);
          (state.children ??= new Map()).set(key, child);
          copy = child.object;
        } else {
          copy = copyJson(value);
        }
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

class Draft {
  readonly object: JsonRecord;
  private readonly lazy: string[] = [];
  private readonly state: DraftState;

  constructor(source: JsonRecord, level: number) {
    const draft: JsonRecord = {};
    this.state = { source, level };
    Object.defineProperty(draft, STATE, { value: this.state, enumerable: false, writable: false, configurable: true });
    for (const key of Object.keys(source)) {
      const value = source[key];
      const pair = typeof value === 'object' && value !== null ? accessorsFor(key) : undefined;
      if (!pair) {
        addData(draft, key, copyJson(value));
        continue;
      }
      Object.defineProperty(draft, key, { get: pair.get, set: pair.set, enumerable: true, configurable: true });
      this.lazy.push(key);
    }
    this.object = draft;
  }

  settle(): Untouched {
    const untouched: Untouched = { members: new Set(), inside: new Map() };
    for (const key of this.lazy) {
      const descriptor = Object.getOwnPropertyDescriptor(this.object, key);
      // Still the shared accessor: never read, written or deleted.
      if (descriptor?.get !== undefined && descriptor.get === accessors.get(key)?.get) {
        defineData(this.object, key, this.state.source[key]);
        untouched.members.add(key);
        continue;
      }
      // Read as a lazy draft and still in place: what inside it was not touched is unchanged too.
      const child = this.state.children?.get(key);
      if (child && descriptor && 'value' in descriptor && descriptor.value === child.object) untouched.inside.set(key, child.settle());
    }
    return untouched;
  }
}

export interface LazyDraft {
  /** Give this to the policy as `request.object`. */
  readonly object: JsonRecord;
  /**
   * After the policy: turns every member still untouched into a plain data property (sharing the
   * source's value, which nothing edits) and says which they were. Call once.
   */
  settle(): Untouched;
}

export function lazyDraft(source: JsonRecord): LazyDraft {
  // An object without a prototype (a YAML reader's, say) is copied whole, as before.
  if (!isPlainRecord(source)) {
    const object = copyJson(source);
    return { object, settle: () => ({ members: new Set(), inside: new Map() }) };
  }
  return new Draft(source, 0);
}

/** The object without what `untouched` names, for diffing only what may have changed. */
export function withoutUntouched(object: JsonRecord, untouched: Untouched | undefined): JsonRecord {
  if (!untouched || (untouched.members.size === 0 && untouched.inside.size === 0)) return object;
  const rest: JsonRecord = {};
  for (const key of Object.keys(object)) {
    if (untouched.members.has(key)) continue;
    const inside = untouched.inside.get(key);
    const value = object[key];
    addData(rest, key, inside && isPlainRecord(value) ? withoutUntouched(value, inside) : value);
  }
  return rest;
}
