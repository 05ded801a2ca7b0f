// The server asks the mutating chain for the patch only, and then a patch that surely applies is
// not applied: only the answer's speed showed it. Here applyOperations is watched.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { JsonPatchOperation } from '../../src/admission/types.js';
import type * as ApplyPatch from '../../src/engine/apply-patch.js';
import { PolicyEngine } from '../../src/engine/engine.js';
import { buildServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';
import { decodePatch, patching } from '../helpers/policies.js';
import { pod, requestFor, reviewFor } from '../helpers/reviews.js';

const applied = vi.hoisted(() => ({ calls: 0 }));
vi.mock('../../src/engine/apply-patch.js', async (importOriginal) => {
  const original = await importOriginal<typeof ApplyPatch>();
  return {
    ...original,
    applyOperations: (...args: Parameters<typeof original.applyOperations>) => {
      applied.calls++;
      return original.applyOperations(...args);
    },
  };
});

const addTeam: JsonPatchOperation[] = [{ op: 'add', path: '/metadata/labels', value: { team: 'a' } }];
const label = patching('label', () => ({ patch: addTeam }));

describe('a patch that surely applies, asked for the patch only', () => {
  beforeEach(() => {
    applied.calls = 0;
  });

  it('is not applied by runMutating(request, { object: false }), and is applied when the object is asked for', async () => {
    const engine = new PolicyEngine([label]);
    const patchOnly = await engine.runMutating(requestFor(pod(['nginx'])), { object: false });
    expect(patchOnly.verdict.patch).toEqual(addTeam);
    expect(applied.calls).toBe(0);
    const full = await engine.mutate(requestFor(pod(['nginx'])));
    expect(full.verdict).toEqual(patchOnly.verdict);
    expect(applied.calls).toBe(1);
  });

  it('is not applied by the server on /mutate', async () => {
    const app = await buildServer({ engine: { current: new PolicyEngine([label]) }, logger: createLogger({ level: 'silent' }) });
    try {
      const response = await app.inject({ method: 'POST', url: '/mutate', payload: JSON.stringify(reviewFor(pod(['nginx']))), headers: { 'content-type': 'application/json' } });
      expect(decodePatch(response.json().response.patch)).toEqual(addTeam);
      expect(applied.calls).toBe(0);
    } finally {
      await app.close();
    }
  });
});
