// Whether data can change under whoever holds it: frozen, and everything in it frozen too.

/**
 * True when `value` is a primitive, or JSON-shaped data (plain objects and arrays) frozen all the
 * way down. Anything else (a Date, whose time can be set though it is frozen; an object with some
 * other prototype) is not taken as unchangeable. Each object is looked at once.
 */
export function isDeeplyFrozen(value: unknown): boolean {
  const pending = [value];
  const seen = new Set<object>();
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null || seen.has(next)) continue;
    const prototype = Object.getPrototypeOf(next) as unknown;
    if (!Object.isFrozen(next) || (prototype !== Object.prototype && prototype !== Array.prototype)) return false;
    seen.add(next);
    for (const child of Object.values(next as object)) pending.push(child);
  }
  return true;
}
