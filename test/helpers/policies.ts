// Hand-built LoadedPolicies for engine tests: the engine's contract without the loader.
import type { LoadedMutatingPolicy, LoadedValidatingPolicy } from '../../src/engine/loader.js';
import type { EditingPolicy, PatchingPolicy, ValidatingPolicy } from '../../src/engine/policy.js';
import type { FailurePolicy, PolicyMode } from '../../src/config/schema.js';
import { compileMatch } from '../../src/engine/match.js';
import type { MatchSpec } from '../../src/config/schema.js';

interface Settings {
  mode?: PolicyMode;
  failurePolicy?: FailurePolicy;
  timeoutMs?: number;
  match?: MatchSpec;
}

function common(name: string, settings: Settings) {
  return {
    name,
    module: name,
    mode: settings.mode ?? 'enforce',
    failurePolicy: settings.failurePolicy ?? 'Fail',
    timeoutMs: settings.timeoutMs ?? 1000,
    matches: compileMatch(settings.match),
  } as const;
}

export function validating(name: string, validate: ValidatingPolicy['validate'], settings: Settings = {}): LoadedValidatingPolicy {
  return { ...common(name, settings), kind: 'validating', instance: { validate } };
}

export function mutating(name: string, mutate: EditingPolicy['mutate'], settings: Settings = {}): LoadedMutatingPolicy {
  return { ...common(name, settings), kind: 'mutating', instance: { mutate } };
}

/** A mutating policy that answers with the operations (PatchingPolicy). */
export function patching(name: string, patch: PatchingPolicy['patch'], settings: Settings = {}): LoadedMutatingPolicy {
  return { ...common(name, settings), kind: 'mutating', instance: { patch } };
}

/** Decodes the base64 JSONPatch of an AdmissionResponse. */
export function decodePatch(patch: string | undefined): unknown[] {
  return patch ? (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as unknown[]) : [];
}
