// The deep copy a mutating policy edits. The object under review is JSON data as parsed, so a
// plain walk copies it several times faster than structuredClone (which serialises and
// deserialises), and iteratively, so no nesting depth overflows the stack.

function isPlain(value: object): boolean {
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null || Array.isArray(value);
}

function emptyLike(value: object): Record<string, unknown> | unknown[] {
  if (Array.isArray(value)) return new Array<unknown>(value.length);
  return Object.getPrototypeOf(value) === null ? (Object.create(null) as Record<string, unknown>) : {};
}

/**
 * A deep copy of JSON-shaped data: plain objects, arrays and primitives. Anything else found
 * inside (a Date or Map from a YAML reader, say) is copied with structuredClone.
 */
export function copyJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (!isPlain(value)) return structuredClone(value);
  const root = emptyLike(value);
  // Pairs of (source, its fresh copy) still to fill.
  const pending: Array<object> = [value, root];
  while (pending.length > 0) {
    const target = pending.pop() as Record<string, unknown>;
    const source = pending.pop() as Record<string, unknown>;
    const keys = Object.keys(source);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const child = source[key];
      let copy = child;
      if (typeof child === 'object' && child !== null) {
        if (isPlain(child)) {
          copy = emptyLike(child);
          pending.push(child, copy as object);
        } else {
          copy = structuredClone(child);
        }
      }
      // A `__proto__` key is data here; assignment would set the copy's prototype instead.
      if (key === '__proto__') Object.defineProperty(target, key, { value: copy, enumerable: true, writable: true, configurable: true });
      else target[key] = copy;
    }
  }
  return root as T;
}
