// One request through the engine exactly as the apiserver runs it (mutating chain, then the
// validating chain on the mutated object), with the result spelled out for people: the one code
// path `tollgate check`, `tollgate test` and the test kit share.
import fastJsonPatch from 'fast-json-patch';
import type { Verdict } from '../admission/response.js';
import type { AdmissionRequest, JsonPatchOperation, KubernetesObject } from '../admission/types.js';
import type { PolicyEngine, PolicyOutcome } from '../engine/engine.js';
import { findPoisonedKey } from './poisoning.js';

const { applyPatch } = fastJsonPatch;

/** Names the violations tollgate itself raises rather than a policy. */
export const TOLLGATE = 'tollgate';

/** A reason for a denial, with the policy that gave it. */
export interface PolicyViolation {
  policy: string;
  message: string;
  /** The field the violation is about, when the policy named one. */
  path?: string;
}

export interface AdmissionResult {
  request: AdmissionRequest;
  allowed: boolean;
  /** The combined verdict, as the apiserver would act on it. */
  verdict: Verdict;
  /** Why it is denied; empty when allowed. */
  violations: PolicyViolation[];
  /** Warnings of both chains, each prefixed with its policy: `[policy] text`. */
  warnings: string[];
  /** The mutating chain's RFC 6902 operations against the object as sent; empty when it changed nothing. */
  patch: JsonPatchOperation[];
  /** The object with `patch` applied (what the cluster would store); null when the request has none. */
  patched: KubernetesObject | null;
  /** What each policy that saw the request did, mutating chain first. */
  policies: PolicyOutcome[];
}

/** `object` with `patch` applied, as the apiserver applies it; the input is left untouched. */
export function applyAdmissionPatch(object: KubernetesObject | null | undefined, patch: readonly JsonPatchOperation[]): KubernetesObject | null {
  if (object === null || object === undefined) return null;
  if (patch.length === 0) return object;
  // The values too: applyPatch puts them in by reference, and a patch may be a policy's frozen constant.
  return applyPatch(structuredClone(object), structuredClone(patch) as fastJsonPatch.Operation[], true, true).newDocument;
}

/**
 * The enforce-mode reasons behind a denial, by policy, following the engine's verdict: denials
 * and fail-closed errors. If they ever disagree with the verdict, the verdict's message is kept
 * rather than reporting a denial without a reason.
 */
function violationsOf(engine: PolicyEngine, verdict: Verdict, outcomes: readonly PolicyOutcome[]): PolicyViolation[] {
  if (verdict.allowed) return [];
  const failurePolicy = new Map([...engine.mutating, ...engine.validating].map((p) => [p.name, p.failurePolicy]));
  const violations: PolicyViolation[] = [];
  for (const outcome of outcomes) {
    if (outcome.mode !== 'enforce') continue;
    if (outcome.result === 'denied') {
      for (const v of outcome.violations) violations.push(v.path ? { policy: outcome.policy, message: v.message, path: v.path } : { policy: outcome.policy, message: v.message });
    } else if (outcome.result === 'error' && outcome.error && failurePolicy.get(outcome.policy) !== 'Ignore') {
      violations.push({ policy: outcome.policy, message: `policy failed: ${outcome.error.message}` });
    }
  }
  return violations.length > 0 ? violations : [{ policy: TOLLGATE, message: verdict.message ?? 'denied' }];
}

/** Runs `request` through the engine's mutating and then validating chain. */
export async function admitRequest(engine: PolicyEngine, request: AdmissionRequest): Promise<AdmissionResult> {
  const poisoned = findPoisonedKey(request.object) ?? findPoisonedKey(request.oldObject);
  if (poisoned !== undefined) {
    const message =
      `the object has a key the webhook refuses (${poisoned}): its JSON parser answers such a review with HTTP 400, ` +
      'and the apiserver then applies the webhook’s failurePolicy (under Fail, the request is rejected)';
    return {
      request,
      allowed: false,
      verdict: { allowed: false, code: 400, message: `[${TOLLGATE}] ${message}`, warnings: [] },
      violations: [{ policy: TOLLGATE, message, path: poisoned }],
      warnings: [],
      patch: [],
      patched: request.object ?? null,
      policies: [],
    };
  }
  const { mutation, validation, verdict } = await engine.admit(request);
  const patch = mutation.verdict.allowed ? (mutation.verdict.patch ?? []) : [];
  const policies = [...mutation.policies, ...validation.policies];
  return {
    request,
    allowed: verdict.allowed,
    verdict,
    violations: violationsOf(engine, verdict, policies),
    warnings: verdict.warnings,
    patch,
    patched: applyAdmissionPatch(request.object, patch),
    policies,
  };
}
