// The keys the webhook's JSON parser refuses (fastify's prototype-poisoning guard answers 400, so
// the apiserver applies the webhook's failurePolicy): found here so an offline check judges alike.

/**
 * The field path of the first `__proto__` key, or of a `constructor` key holding a `prototype`
 * key, in `value`; undefined when there is none. Iterative, so deep nesting cannot overflow the
 * stack, and at any depth, as the webhook's parser looks at every depth.
 */
export function findPoisonedKey(value: unknown): string | undefined {
  const stack: Array<{ node: unknown; path: string }> = [{ node: value, path: '' }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push({ node: node[i], path: `${path}[${i}]` });
      continue;
    }
    if (Object.hasOwn(node, '__proto__')) return join(path, '__proto__');
    const ctor = Object.hasOwn(node, 'constructor') ? (node as Record<string, unknown>).constructor : undefined;
    if (typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) return join(join(path, 'constructor'), 'prototype');
    const keys = Object.keys(node);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      stack.push({ node: (node as Record<string, unknown>)[key], path: join(path, key) });
    }
  }
  return undefined;
}

function join(path: string, key: string): string {
  const part = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  return path === '' || part.startsWith('[') ? `${path}${part}` : `${path}.${part}`;
}
