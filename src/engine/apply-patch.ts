// Applies the operations a patching policy answered to the object it was given, which stays as it
// is: only the objects and arrays on each operation's path are copied (shallowly), the rest is
// shared. fast-json-patch does the applying, with its checks (a path that does not resolve, a
// `test` that fails, a `__proto__` step); this module only decides what is copied first.
import fastJsonPatch from 'fast-json-patch';
import type { JsonPatchOperation } from '../admission/types.js';
import { ErrorCodes, TollgateError } from '../errors.js';
import { isFrozenPatch } from '../frozen.js';
import { copyJson, copyPolicyOutput, isPlainRecord } from './copy.js';

const { applyOperation, escapePathComponent, unescapePathComponent, validator } = fastJsonPatch;

type Container = Record<string, unknown> | unknown[];

const OPERATIONS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);
const ALL_DIGITS = /^[0-9]*$/;

function badPatch(what: string): TollgateError {
  return new TollgateError(ErrorCodes.TG_ERR_POLICY_BAD_RESULT, `returned a patch ${what}`);
}

function isContainer(value: unknown): value is Container {
  return typeof value === 'object' && value !== null;
}

/** Deeply frozen patches already checked: a policy that answers the same frozen constant each time has it checked once. */
const checkedFrozen = new WeakSet<object>();

/**
 * The operations as the engine keeps them: each checked for shape and copied, values and all, so
 * that nothing the policy holds is in the patch or the object. A deeply frozen patch (a policy's
 * constant, say) cannot change under the engine, so it is kept as it is, once checked.
 */
export function copyOperations(patch: unknown): readonly JsonPatchOperation[] {
  if (typeof patch === 'object' && patch !== null && checkedFrozen.has(patch)) return patch as readonly JsonPatchOperation[];
  // The copy refuses what JSON cannot carry (a cycle, a BigInt) in the values it copies.
  const copy = checkOperations(patch);
  if (!isFrozenPatch(patch)) return copy;
  // Kept as it is, members the copy leaves out (a remove's value) included: sent as JSON, checked
  // as JSON here, once, so that it fails the policy rather than the answer.
  try {
    JSON.stringify(patch);
  } catch (err) {
    throw badPatch(`that is not JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  checkedFrozen.add(patch);
  return patch;
}

function checkOperations(patch: unknown): JsonPatchOperation[] {
  if (!Array.isArray(patch)) throw badPatch('that is not a list of operations');
  const copies = patch.map((operation: unknown, index) => {
    if (!isContainer(operation) || Array.isArray(operation)) throw badPatch(`whose operation ${index} is not an object`);
    const { op, path, value, from } = operation as Record<string, unknown>;
    if (typeof op !== 'string' || !OPERATIONS.has(op)) throw badPatch(`whose operation ${index} has op ${JSON.stringify(op)}`);
    if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) throw badPatch(`whose operation ${index} has a path that is not a JSON Pointer`);
    const copy: JsonPatchOperation = { op: op as JsonPatchOperation['op'], path };
    if (op === 'add' || op === 'replace' || op === 'test') {
      if (value === undefined) throw badPatch(`whose operation ${index} (${op}) has no value`);
      copy.value = copyPolicyOutput(value);
    }
    if (op === 'move' || op === 'copy') {
      if (typeof from !== 'string' || (from !== '' && !from.startsWith('/'))) throw badPatch(`whose operation ${index} (${op}) has a from that is not a JSON Pointer`);
      // RFC 6902 4.4: a value cannot move into itself (fast-json-patch would make a cycle).
      if (op === 'move' && path !== from && (from === '' || path.startsWith(`${from}/`))) throw badPatch(`whose operation ${index} moves ${from} into itself`);
      copy.from = from;
    }
    return copy;
  });
  return copies;
}

/**
 * Object.assign, not a spread: adding a member to a spread's copy (the `add` an operation makes)
 * took V8's slow path, 0.5 µs a member against 0.05. A `__proto__` member, which assigning would
 * turn into the copy's prototype, is the spread's.
 */
function shallowCopy(container: Container): Container {
  if (Array.isArray(container)) return container.slice();
  return Object.hasOwn(container, '__proto__') ? { ...container } : Object.assign({}, container);
}

/**
 * Copies the containers on `pointer` down to the last one (the one an operation changes), each
 * unless it is a copy already; returns the root, copied too.
 */
function copyAlong(root: Container, pointer: string, copies: Set<object>): Container {
  if (!copies.has(root)) {
    root = shallowCopy(root);
    copies.add(root);
  }
  if (pointer === '') return root;
  const keys = pointer.split('/');
  let parent = root;
  // keys[0] is the empty string before the first `/`; the last key names what the operation changes.
  for (let i = 1; i < keys.length - 1; i++) {
    const step = keys[i] as string;
    // Unescaping is two regular-expression replacements; most keys have nothing to unescape.
    let key = step.includes('~') ? unescapePathComponent(step) : step;
    // An array step as fast-json-patch reads it (any run of digits, `00` and the empty step too,
    // is the index it spells), so that the element it writes into is the one copied here.
    if (Array.isArray(parent) && ALL_DIGITS.test(key)) key = String(~~key);
    if (!Object.hasOwn(parent, key)) return root;
    const child = (parent as Record<string, unknown>)[key];
    if (!isContainer(child)) return root;
    let copy = child;
    if (!copies.has(child)) {
      copy = shallowCopy(child);
      copies.add(copy);
      // An own data member (the object is data as parsed, or copies of it); a `__proto__` key is
      // defined rather than assigned, which would set the prototype.
      if (key === '__proto__') Object.defineProperty(parent, key, { value: copy, enumerable: true, writable: true, configurable: true });
      else (parent as Record<string, unknown>)[key] = copy;
    }
    parent = copy;
  }
  return root;
}

/**
 * `object` with `operations` applied, leaving `object` as it was. Throws the policy's failure
 * when an operation does not apply; the result must still be an object.
 */
export function applyOperations(object: Record<string, unknown>, operations: readonly JsonPatchOperation[]): Record<string, unknown> {
  const copies = new Set<object>();
  let document: unknown = object;
  for (let index = 0; index < operations.length; index++) {
    const operation = operations[index] as JsonPatchOperation;
    if (!isContainer(document)) throw badPatch(`whose operation ${index} applies to a document that is no longer an object`);
    // A move is a remove, then an add of what was removed: each step's path is copied as it is at
    // that step (after the remove, the same indices can name other elements).
    const steps: fastJsonPatch.Operation[] =
      operation.op === 'move' ? [{ op: 'remove', path: operation.from! }, { op: 'add', path: operation.path, value: undefined }] : [operation as fastJsonPatch.Operation];
    let removed: unknown;
    try {
      for (let s = 0; s < steps.length; s++) {
        const step = steps[s] as fastJsonPatch.Operation;
        // Where the step writes (a `test` writes nothing).
        if (step.op !== 'test') document = copyAlong(document as Container, step.path, copies);
        // The value goes into the document: a copy of its own, apart from the one in the patch (which
        // was checked when it was copied: a plain copy will do); a moved value is the one removed.
        const value = operation.op === 'move' ? removed : 'value' in step ? copyJson(step.value) : undefined;
        // fast-json-patch reads only these three of such an operation; a literal is cheaper than a spread.
        const applied = step.op === 'add' || step.op === 'replace' || step.op === 'test' ? { op: step.op, path: step.path, value } : step;
        const result = applyOperation(document, applied as fastJsonPatch.Operation, true, true, true, index);
        document = result.newDocument;
        removed = result.removed;
      }
    } catch (err) {
      throw badPatch(`that does not apply: operation ${index} (${operation.op} ${operation.path}): ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (!isContainer(document) || Array.isArray(document)) throw badPatch('that leaves request.object no longer an object');
  return document;
}

/** Operations past which surelyApplies does not look (it compares every pair). */
const MOST_OPERATIONS_LOOKED_AT = 16;

/** Deeply frozen patches whose operations fast-json-patch's own check has passed: a policy's constant is checked once. */
const validFrozen = new WeakSet<object>();

/** fast-json-patch's own check of an operation's shape and value (no `undefined` anywhere in it). */
function passesValidator(operations: readonly JsonPatchOperation[]): boolean {
  if (validFrozen.has(operations)) return true;
  try {
    for (let index = 0; index < operations.length; index++) validator(operations[index] as fastJsonPatch.Operation, index);
  } catch {
    return false;
  }
  if (isFrozenPatch(operations)) validFrozen.add(operations);
  return true;
}

/**
 * True only when `operations` certainly apply to `object`, found without applying them: each is an
 * `add` of a member to an object that is there (RFC 6902 4.1: such an add always applies, replacing
 * the member if it is there), reached through plain objects' own members, with no step that is
 * empty or names a prototype (unescaped first), and no operation writes where another one reads
 * its way through. Then `applyOperations` would succeed: a caller that needs only the patch, and not
 * the patched object, can skip the copies. False says nothing; applyOperations then decides.
 */
export function surelyApplies(object: Record<string, unknown>, operations: readonly JsonPatchOperation[]): boolean {
  if (operations.length === 0 || operations.length > MOST_OPERATIONS_LOOKED_AT || !isPlainRecord(object)) return false;
  for (let index = 0; index < operations.length; index++) {
    const { op, path } = operations[index] as JsonPatchOperation;
    if (op !== 'add') return false;
    const keys = path.split('/');
    // The root itself (`''`) is not a member.
    if (keys.length < 2) return false;
    let parent: unknown = object;
    for (let i = 1; i < keys.length; i++) {
      const step = keys[i] as string;
      // As fast-json-patch reads it: annotation keys hold `/`, escaped `~1`. Only the one spelling
      // of a key (`~2` and `~02` both read as `~2`), so that comparing paths as text compares keys.
      const escaped = step.includes('~');
      const key = escaped ? unescapePathComponent(step) : step;
      if (escaped && escapePathComponent(key) !== step) return false;
      if (key === '' || key === '__proto__' || key === 'constructor' || key === 'prototype') return false;
      if (!isPlainRecord(parent)) return false;
      if (i === keys.length - 1) break;
      if (!Object.hasOwn(parent, key)) return false;
      parent = parent[key];
    }
    // No other operation's path runs through this one's target (an add there could replace an object it writes into).
    for (let other = 0; other < operations.length; other++) {
      if (other !== index && (operations[other] as JsonPatchOperation).path.startsWith(`${path}/`)) return false;
    }
  }
  return passesValidator(operations);
}

