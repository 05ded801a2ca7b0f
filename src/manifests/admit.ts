// One request through the engine exactly as the apiserver runs it (mutating chain, then the
// validating chain on the mutated object), with the result spelled out for people: the one code
// path `tollgate check`, `tollgate test` and the test kit share.
import fastJsonPatch from 'fast-json-patch';
import type { Verdict } from '../admission/response.js';
import type { AdmissionRequest, JsonPatchOperation, KubernetesObject } from '../admission/types.js';
import { combinedVerdict, notRun, type PolicyEngine, type PolicyOutcome } from '../engine/engine.js';
import { findPoisonedKey } from './poisoning.js';
import { withGeneratedName } from './request.js';

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

/** Whether the apiserver calls tollgate in one phase of a request (mutating, then validating). */
export interface PhaseCall {
  called: boolean;
  /** Why the apiserver rejects the request in this phase without calling (a matchCondition it cannot evaluate, under failurePolicy Fail). */
  rejected?: string;
  /** Whether an error answer rejects the request (a called webhook's failurePolicy is Fail) rather than skipping the webhook. */
  failOnError: boolean;
}

/** Decides a phase; `request` carries the object as that phase sees it (the validating phase: as mutated). */
export type PhaseCalls = (phase: 'mutate' | 'validate', request: AdmissionRequest) => PhaseCall;

/** Without webhook configurations: tollgate is called in both phases, and an error answer rejects. */
const ALWAYS_CALLED: PhaseCall = Object.freeze({ called: true, failOnError: true });

/** A request the apiserver rejects itself, before or instead of tollgate's verdict. */
function rejection(request: AdmissionRequest, policy: string, message: string, code: number, path?: string): AdmissionResult {
  return {
    request,
    allowed: false,
    verdict: { allowed: false, code, message: `[${policy}] ${message}`, warnings: [] },
    violations: [path === undefined ? { policy, message } : { policy, message, path }],
    warnings: [],
    patch: [],
    patched: request.object ?? null,
    policies: [],
  };
}

function poisonedKeyRejection(request: AdmissionRequest, poisoned: string): AdmissionResult {
  const message =
    `the object has a key the webhook refuses (${poisoned}): its JSON parser answers such a review with HTTP 400, ` +
    'and the apiserver then applies the webhook’s failurePolicy (under Fail, the request is rejected)';
  return rejection(request, TOLLGATE, message, 400, poisoned);
}

/** Names the rejections the apiserver makes itself (a webhook's matchCondition it cannot evaluate). */
const APISERVER = 'apiserver';

/**
 * Runs `request` through the engine's mutating and then validating chain, as the apiserver does;
 * `calls` says which phases call tollgate at all (from the cluster's webhook configurations), both
 * when absent.
 */
export async function admitRequest(engine: PolicyEngine, request: AdmissionRequest, calls?: PhaseCalls): Promise<AdmissionResult> {
  const poisoned = findPoisonedKey(request.object) ?? findPoisonedKey(request.oldObject);
  /**
   * What the apiserver does in a phase before tollgate's chain: rejects the request itself, skips
   * tollgate (not called; or called with a poisoned key, which tollgate answers with HTTP 400,
   * under failurePolicy Ignore), or runs the chain.
   */
  const enter = (name: 'mutate' | 'validate', seen: AdmissionRequest): AdmissionResult | 'skip' | 'run' => {
    const call = calls ? calls(name, seen) : ALWAYS_CALLED;
    if (call.rejected !== undefined) return rejection(request, APISERVER, call.rejected, 500);
    if (!call.called) return 'skip';
    if (poisoned === undefined) return 'run';
    return call.failOnError ? poisonedKeyRejection(request, poisoned) : 'skip';
  };

  const mutating = enter('mutate', request);
  if (typeof mutating === 'object') return mutating;
  const mutation = mutating === 'run' ? await engine.mutate(request) : notRun(request.object ?? null);
  let validation = notRun();
  if (mutation.verdict.allowed) {
    const mutated = { ...request, object: mutation.object ?? null };
    const validating = enter('validate', mutated);
    if (typeof validating === 'object') return validating;
    // The validating webhooks see the name the apiserver generates from generateName.
    if (validating === 'run') validation = await engine.validate(withGeneratedName(mutated) ?? mutated);
  }
  const verdict = combinedVerdict(mutation, validation);
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
