// The object a mutating policy edits, copied lazily. A policy usually touches one member of an
// object (metadata.annotations, say) whose spec and metadata.managedFields are most of its size;
// copying and diffing the whole object for every review was most of what /mutate costs over
// /validate (bench/). Each member of the object, and each member of its top-level objects
// (`metadata.*`, `spec.*`), is copied on first touch (read, write or delete); what was never
// touched is known unchanged, and what was touched but is still equal to the source is found
// unchanged at settle, so only the rest is diffed and copied for the result.
//
// The accessors are shared, one pair per member name, and find their draft's state in a hidden
// symbol member: accessors made per draft give every draft its own hidden classes, and a
// WeakMap of drafts makes the garbage collector trace ephemerons; under load both measured slower
// than copying everything (/mutate 354 vs 246 µs a review with the WeakMap). A private field was
// cheaper to stamp (6 ns against a defineProperty's 150), but a Proxy does not pass it on: a
// policy that wrapped its draft in one (change tracking, observables) had every read fail. The
// draft keeps its accessors for good: `settle` builds a separate result, so an edit the policy
// makes after it has answered still lands on a copy, never on the object as received, and
// never on the result either, whose changed members are copied again.
import { copyJson, copyPolicyOutput, isPlainRecord, sameJson } from './copy.js';

type JsonRecord = Record<string, unknown>;

/** Member names with a shared accessor pair; a member of any other name is copied at once. */
const MAX_SHARED_ACCESSORS = 512;
/** The object itself is level 0; members of its members (level 1) are lazy too; below that, copies. */
const LAZY_LEVELS = 2;
/** Names every Kubernetes object or pod spec has, given their accessors up front so that no stream of odd names can use up the budget first. */
const COMMON_MEMBERS = [
  'metadata', 'spec', 'status', 'data', 'template', 'labels', 'annotations', 'managedFields', 'ownerReferences', 'finalizers',
  'containers', 'initContainers', 'ephemeralContainers', 'volumes', 'selector', 'securityContext', 'affinity', 'tolerations',
];

interface DraftState {
  source: JsonRecord;
  /** Members the source has: a settled draft with all of them, each the source's own value, is the source. */
  sourceMembers: number;
  level: number;
  /** The copy each member got on its first read, by member name; the accessor returns it from then on. */
  copies?: Map<string, unknown>;
  /** Members the policy assigned through the accessor (undefined included), as opposed to redefined. */
  assigned?: Set<string>;
}

interface Accessors {
  get(this: JsonRecord): unknown;
  set(this: JsonRecord, value: unknown): void;
}

/**
 * Where a draft keeps its state: a non-enumerable symbol member, which JSON, Object.keys, spreads and
 * structuredClone never see, and which a Proxy of the draft, or an object derived from it, passes
 * on to the accessors. It is also a writable data member on every draft, which tells a frozen
 * draft from a sealed one (Object.isFrozen cannot, on a draft of accessors alone).
 */
const STATE = Symbol('tollgate.draft');

/** The draft `value` itself is (not one it was spread from or derived from), if it is one. */
function draftOf(value: unknown): Draft | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const draft = (value as { [STATE]?: unknown })[STATE];
  return draft instanceof Draft && draft.object === value ? draft : undefined;
}

function defineData(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A new data member: plain assignment is much cheaper, but would set the prototype for `__proto__`. */
function addData(target: JsonRecord, key: string, value: unknown): void {
  if (key === '__proto__') defineData(target, key, value);
  else target[key] = value;
}

function stateOf(object: object): DraftState {
  // Through the prototype chain (an object derived from the draft) and through a Proxy's target.
  const draft = (object as { [STATE]?: unknown })[STATE];
  if (!(draft instanceof Draft)) throw new TypeError('a lazily copied member was read through an object that is not its draft');
  return draft.state;
}

/** The getter of an own accessor, without a descriptor object (settle asks it of every member). */
const lookupGetter = (Object.prototype as unknown as { __lookupGetter__(this: object, key: string): (() => unknown) | undefined }).__lookupGetter__;

const accessors = new Map<string, Accessors>();

function accessorsFor(key: string): Accessors | undefined {
  let pair = accessors.get(key);
  if (!pair && accessors.size < MAX_SHARED_ACCESSORS) {
    pair = {
      get() {
        const state = stateOf(this);
        if (state.copies?.has(key)) return state.copies.get(key);
        const value = state.source[key];
        let copy: unknown;
        if (state.level + 1 < LAZY_LEVELS && isPlainRecord(value)) {
          copy = new Draft(value, state.level + 1).object;
        } else {
          copy = copyJson(value);
        }
        // Kept in the state, not put in place of the accessor: turning an accessor into a data
        // member moved the draft to a new hidden class on every first read (measured: 7-15 µs of
        // CPU per /mutate review in the server, over two runs). It also works on a frozen or sealed draft.
        (state.copies ??= new Map()).set(key, copy);
        return copy;
      },
      set(value) {
        const state = stateOf(this);
        (state.assigned ??= new Set()).add(key);
        const own = Object.getOwnPropertyDescriptor(this, key);
        if (own?.configurable === false && own.get !== undefined) {
          // The draft was sealed (or the member locked) while this was still an accessor: a plain
          // object's member would still take the value, unless the object is frozen.
          if (Object.isFrozen(this)) throw new TypeError(`Cannot assign to read only property '${key}' of object`);
          (state.copies ??= new Map()).set(key, value);
          return;
        }
        defineData(this, key, value);
      },
    };
    accessors.set(key, pair);
  }
  return pair;
}
for (const name of COMMON_MEMBERS) accessorsFor(name);

class Draft {
  readonly object: JsonRecord;
  private readonly lazy: string[] = [];
  readonly state: DraftState;

  constructor(source: JsonRecord, level: number) {
    const draft: JsonRecord = {};
    const keys = Object.keys(source);
    this.state = { source, sourceMembers: keys.length, level };
    Object.defineProperty(draft, STATE, { value: this, writable: true, enumerable: false, configurable: true });
    for (const key of keys) {
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

  /**
   * The object the policy produced, as a new plain object. Nothing in it is an object the policy
   * holds: a member equal to the source's is the source's very value, and any other touched member
   * is copied again, so that an edit the policy makes after it has answered (from a timer, say)
   * changes neither the patch nor the object. A draft left wholly unchanged settles into its source.
   * The diff passes over every member that is the source's value at once (fast-json-patch's compare
   * skips members identical on both sides), so only what changed is walked. (A policy that digs the
   * source out of the draft's hidden state can still reach it; policy code is trusted: SECURITY.md.)
   */
  settle(): JsonRecord {
    const result: JsonRecord = {};
    const { source, sourceMembers, copies, assigned } = this.state;
    const object = this.object;
    let changed = false;
    let kept = 0;
    for (const key of Object.keys(object)) {
      // Own, as Object.keys lists them: the getter, if the member is (still) an accessor.
      const getter = lookupGetter.call(object, key);
      const ours = getter !== undefined && getter === accessors.get(key)?.get;
      const inSource = Object.hasOwn(source, key);
      let value: unknown;
      if (ours && !copies?.has(key)) {
        // Never read, written or deleted: the source's own value, which nothing edits.
        value = source[key];
      } else {
        value = ours ? copies?.get(key) : object[key];
        const child = draftOf(value);
        if (child !== undefined && child.state.source === source[key] && child.state.level === this.state.level + 1) {
          // Read as a lazy draft and still in place: what inside it was not touched is the source's too.
          value = child.settle();
        } else {
          // Object.defineProperty(draft, key, { writable: false }) on an accessor leaves undefined, where
          // on a plain object it would keep the value and lock it: refuse rather than patch a removal.
          // (A writable one is left alone: a full descriptor with value undefined, a removal as JSON
          // sees it, looks the same afterwards.)
          if (!ours && value === undefined && !assigned?.has(key) && this.lazy.includes(key) && Object.getOwnPropertyDescriptor(object, key)?.writable === false) {
            throw new TypeError(`member "${key}" of request.object was redefined without a value; give Object.defineProperty a full descriptor, or delete the member`);
          }
          // A member the policy only read (the containers, for a policy that adds an annotation) is
          // the source's value again; only what differs is copied for the result.
          value = inSource && sameJson(value, source[key]) ? source[key] : copyPolicyOutput(value);
        }
      }
      if (inSource) kept++;
      if (!inSource || value !== source[key]) changed = true;
      addData(result, key, value);
    }
    return changed || kept !== sourceMembers ? result : source;
  }
}

export interface LazyDraft {
  /** Give this to the policy as `request.object`. */
  readonly object: JsonRecord;
  /**
   * After the policy: the object it produced, a new object whose unchanged members are the
   * source's own values (or the source itself, when nothing changed). Call once, when the policy has answered.
   */
  settle(): JsonRecord;
}

export function lazyDraft(source: JsonRecord): LazyDraft {
  // An object without the plain prototype (a YAML reader's, say) is copied whole, as before.
  if (!isPlainRecord(source)) {
    const object = copyJson(source);
    return { object, settle: () => copyPolicyOutput(object) };
  }
  return new Draft(source, 0);
}
