// The policy engine: runs a request through the mutating chain (in order, each policy seeing the
// last one's changes) or the validating chain (every policy, all violations reported together),
// contains policy failures and time-outs, and turns the outcome into a Verdict. Knows no HTTP.
import fastJsonPatch from 'fast-json-patch';
import type { AdmissionRequest, JsonPatchOperation, KubernetesObject } from '../admission/types.js';
import type { Verdict } from '../admission/response.js';
import { ErrorCodes, TollgateError, describeError, type ErrorCode } from '../errors.js';
import type { PolicyMode } from '../config/schema.js';
import { copyPolicyOutput } from './copy.js';
import { lazyDraft, withoutUnchanged } from './draft.js';
import { enterPolicyCall, leavePolicyCall } from './hang-watchdog.js';
import type { LoadedMutatingPolicy, LoadedPolicy, LoadedValidatingPolicy } from './loader.js';
import type { PolicyKind, PolicyLogger, Violation } from './policy.js';

const { compare } = fastJsonPatch;

export type PolicyResult = 'allowed' | 'denied' | 'patched' | 'unchanged' | 'error';

/** What one policy did with one request. */
export interface PolicyOutcome {
  policy: string;
  kind: PolicyKind;
  mode: PolicyMode;
  result: PolicyResult;
  violations: Violation[];
  warnings: string[];
  error?: { code: ErrorCode; message: string };
  durationMs: number;
}

/** What the chain decided, and how each policy that saw the request contributed. */
export interface ReviewOutcome {
  verdict: Verdict;
  policies: PolicyOutcome[];
  /** After the mutating chain: the object as the policies left it (the same reference when unchanged). */
  object?: KubernetesObject | null;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Holds a policy's answer to its time budget, counted from `started` (a performance.now()). A
 * synchronous answer is returned as it is, with no timer and no promise; an asynchronous one is
 * raced against the rest of the budget, so a review never waits on a policy longer than that.
 * (Synchronous code cannot be pre-empted in-process: a synchronous answer that came late is
 * treated as a time-out, but the time is already spent.)
 */
function withinBudget<T>(result: T | PromiseLike<T>, started: number, timeoutMs: number): T | Promise<T> {
  const timeoutError = () => new TollgateError(ErrorCodes.TG_ERR_POLICY_TIMEOUT, `did not answer within ${timeoutMs} ms`);
  if (!isThenable(result)) {
    if (performance.now() - started > timeoutMs) throw timeoutError();
    return result;
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), Math.max(0, timeoutMs - (performance.now() - started)));
  });
  return Promise.race([result, deadline]).finally(() => clearTimeout(timer));
}

function errorOf(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof TollgateError) return { code: err.code, message: err.message };
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return { code: ErrorCodes.TG_ERR_OBJECT_TOO_DEEP, message: 'the object is nested too deeply to process' };
  }
  return { code: ErrorCodes.TG_ERR_POLICY_FAILED, message: `threw: ${describeError(err)}` };
}

function badResult(what: string): TollgateError {
  return new TollgateError(ErrorCodes.TG_ERR_POLICY_BAD_RESULT, `returned ${what}`);
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((w) => typeof w === 'string')) throw badResult(`${field} that is not a list of strings`);
  return value;
}

/** Checks what `validate` returned; anything malformed is an error, never a silent allow. */
function normaliseValidation(result: unknown): { allowed: boolean; violations: Violation[]; warnings: string[] } {
  if (result === undefined || result === null) return { allowed: true, violations: [], warnings: [] };
  if (typeof result !== 'object' || typeof (result as { allowed?: unknown }).allowed !== 'boolean') {
    throw badResult('something other than { allowed: boolean, ... }');
  }
  const { allowed, message, violations, warnings } = result as Record<string, unknown>;
  const warningList = stringList(warnings, 'warnings');
  if (allowed) return { allowed: true, violations: [], warnings: warningList };
  if (violations !== undefined) {
    const valid =
      Array.isArray(violations) &&
      violations.length > 0 &&
      violations.every(
        (v) => typeof v === 'object' && v !== null && typeof v.message === 'string' && (v.path === undefined || typeof v.path === 'string'),
      );
    if (!valid) throw badResult('violations that are not a non-empty list of { message, path? }');
    return { allowed: false, violations: violations as Violation[], warnings: warningList };
  }
  return { allowed: false, violations: [{ message: typeof message === 'string' && message !== '' ? message : 'denied' }], warnings: warningList };
}

export function formatViolation(policy: string, violation: Violation): string {
  return `[${policy}] ${violation.path ? `${violation.path}: ` : ''}${violation.message}`;
}

/** Folds the outcomes into one verdict: enforce-mode violations and fail-closed errors deny. */
function verdictOf(outcomes: PolicyOutcome[], failures: Map<PolicyOutcome, LoadedPolicy>, patch?: JsonPatchOperation[]): Verdict {
  const reasons: string[] = [];
  const warnings: string[] = [];
  for (const outcome of outcomes) {
    for (const w of outcome.warnings) warnings.push(`[${outcome.policy}] ${w}`);
    if (outcome.result === 'error' && outcome.error) {
      const failClosed = failures.get(outcome)?.failurePolicy !== 'Ignore';
      const text = `[${outcome.policy}] policy failed: ${outcome.error.message}`;
      if (outcome.mode === 'enforce' && failClosed) reasons.push(text);
      else if (outcome.mode !== 'audit') warnings.push(`${text} (ignored)`);
    } else if (outcome.result === 'denied') {
      const lines = outcome.violations.map((v) => formatViolation(outcome.policy, v));
      if (outcome.mode === 'enforce') reasons.push(...lines);
      else if (outcome.mode === 'warn') warnings.push(...lines);
    }
  }
  if (reasons.length > 0) return { allowed: false, code: 403, message: reasons.join('; '), warnings };
  return patch && patch.length > 0 ? { allowed: true, warnings, patch } : { allowed: true, warnings };
}

/** A policy's answer, or what it threw or rejected with (which may be anything, `undefined` too). */
type Settled = { answer: unknown } | { error: unknown };

export interface PolicyEngineOptions {
  logger?: PolicyLogger;
}

export class PolicyEngine {
  readonly mutating: readonly LoadedMutatingPolicy[];
  readonly validating: readonly LoadedValidatingPolicy[];
  private readonly logger: PolicyLogger | undefined;

  constructor(policies: readonly LoadedPolicy[], options: PolicyEngineOptions = {}) {
    this.mutating = policies.filter((p): p is LoadedMutatingPolicy => p.kind === 'mutating');
    this.validating = policies.filter((p): p is LoadedValidatingPolicy => p.kind === 'validating');
    this.logger = options.logger;
  }

  /** Marks the outcome failed, remembers which policy's failurePolicy applies, and logs it. */
  private recordFailure(outcome: PolicyOutcome, policy: LoadedPolicy, request: AdmissionRequest, err: unknown, failures: Map<PolicyOutcome, LoadedPolicy>): void {
    const error = errorOf(err);
    outcome.result = 'error';
    outcome.error = error;
    failures.set(outcome, policy);
    this.logger?.warn({ policy: policy.name, uid: request.uid, code: error.code, reason: error.message, failurePolicy: policy.failurePolicy }, 'policy failed');
  }

  /**
   * Runs the mutating chain. Each policy edits its own copy of the object (copied lazily, member by
   * member, two levels deep: ./draft.ts) so that a policy that fails part-way leaves nothing behind; the final
   * object is diffed against the object exactly as received. No matching policy: no copy, no diff.
   */
  async mutate(request: AdmissionRequest): Promise<ReviewOutcome> {
    const original = request.object ?? null;
    const outcomes: PolicyOutcome[] = [];
    const failures = new Map<PolicyOutcome, LoadedPolicy>();
    let current = original;
    // The diff of the first change is the patch as long as no later policy changes the object.
    let patchFromOriginal: JsonPatchOperation[] | undefined;
    if (original === null) return { verdict: { allowed: true, warnings: [] }, policies: outcomes, object: original };

    for (const policy of this.mutating) {
      if (!policy.matches(request)) continue;
      const started = performance.now();
      const outcome: PolicyOutcome = { policy: policy.name, kind: 'mutating', mode: policy.mode, result: 'unchanged', violations: [], warnings: [], durationMs: 0 };
      try {
        const lazy = lazyDraft(current as Record<string, unknown>);
        const draft: AdmissionRequest = { ...request, object: lazy.object as KubernetesObject };
        let answer: unknown;
        let pending = false;
        enterPolicyCall(policy.name, request);
        try {
          answer = withinBudget(policy.instance.mutate(draft), started, policy.timeoutMs);
          // Reading `then` may run the policy's getter: decided here, inside the mark.
          pending = isThenable(answer);
        } finally {
          leavePolicyCall();
        }
        const result = (pending ? await answer : answer) as { warnings?: unknown } | null | undefined;
        // Reading what the policy left runs its getters, if it set any: marked as its code too.
        enterPolicyCall(policy.name, request);
        try {
          if (result !== undefined && result !== null && typeof result !== 'object') throw badResult('something other than { warnings? }');
          outcome.warnings = stringList(result?.warnings, 'warnings');
          const edited = draft.object;
          if (typeof edited !== 'object' || edited === null || Array.isArray(edited)) throw badResult('with request.object no longer an object');
          // What the policy left unchanged is the very values of `current`: only the rest is diffed.
          const settled = edited === lazy.object ? lazy.settle() : undefined;
          // A replaced object is copied too: the policy may still hold it.
          const next = settled?.object ?? copyPolicyOutput(edited);
          const ops = compare(withoutUnchanged(current as Record<string, unknown>, settled?.unchanged), withoutUnchanged(next, settled?.unchanged)) as JsonPatchOperation[];
          if (ops.length > 0) {
            outcome.result = 'patched';
            if (policy.mode === 'enforce') {
              patchFromOriginal = current === original ? ops : undefined;
              current = next as KubernetesObject;
            } else if (policy.mode === 'warn') outcome.warnings.push('would change the object (mode: warn, not applied)');
          }
        } finally {
          leavePolicyCall();
        }
      } catch (err) {
        // Describing what the policy threw may run its getters.
        enterPolicyCall(policy.name, request);
        try {
          this.recordFailure(outcome, policy, request, err, failures);
        } finally {
          leavePolicyCall();
        }
      }
      outcome.durationMs = performance.now() - started;
      outcomes.push(outcome);
      if (outcome.result === 'error' && policy.failurePolicy === 'Fail' && policy.mode === 'enforce') break;
    }

    let patch = patchFromOriginal;
    if (current !== original && !patch) {
      try {
        patch = compare(original, current as KubernetesObject) as JsonPatchOperation[];
      } catch (err) {
        const outcome: PolicyOutcome = { policy: 'tollgate', kind: 'mutating', mode: 'enforce', result: 'error', violations: [], warnings: [], error: errorOf(err), durationMs: 0 };
        outcomes.push(outcome);
        return { verdict: verdictOf(outcomes, failures), policies: outcomes, object: original };
      }
    }
    const verdict = verdictOf(outcomes, failures, patch);
    return { verdict, policies: outcomes, object: verdict.allowed ? current : original };
  }

  /**
   * Runs every matching validating policy and reports all their violations together. Policies that
   * answer synchronously are judged on the spot; only asynchronous answers are awaited (together).
   */
  async validate(request: AdmissionRequest): Promise<ReviewOutcome> {
    const failures = new Map<PolicyOutcome, LoadedPolicy>();
    const outcomes: PolicyOutcome[] = [];
    let pending: Promise<void>[] | undefined;
    for (const policy of this.validating) {
      if (!policy.matches(request)) continue;
      const started = performance.now();
      const outcome: PolicyOutcome = { policy: policy.name, kind: 'validating', mode: policy.mode, result: 'allowed', violations: [], warnings: [], durationMs: 0 };
      outcomes.push(outcome);
      const settle = (settled: Settled) => this.settleValidation(outcome, policy, request, failures, started, settled);
      // Judging the answer runs the policy's getters, if it set any: marked as its code too.
      const settleLater = (settled: Settled) => {
        enterPolicyCall(policy.name, request);
        try {
          settle(settled);
        } finally {
          leavePolicyCall();
        }
      };
      enterPolicyCall(policy.name, request);
      try {
        let answer: unknown;
        try {
          answer = withinBudget(policy.instance.validate(request), started, policy.timeoutMs);
        } catch (error) {
          settle({ error });
          continue;
        }
        if (isThenable(answer)) (pending ??= []).push(Promise.resolve(answer).then((result) => settleLater({ answer: result }), (error: unknown) => settleLater({ error })));
        else settle({ answer });
      } finally {
        leavePolicyCall();
      }
    }
    if (pending) await Promise.all(pending);
    return { verdict: verdictOf(outcomes, failures), policies: outcomes };
  }

  /** Records one validating policy's answer (or its failure) in its outcome. */
  private settleValidation(
    outcome: PolicyOutcome,
    policy: LoadedValidatingPolicy,
    request: AdmissionRequest,
    failures: Map<PolicyOutcome, LoadedPolicy>,
    started: number,
    settled: Settled,
  ): void {
    try {
      // A rejection with no reason (even `undefined`) is still a failure, never an allow.
      if ('error' in settled) throw settled.error;
      const result = normaliseValidation(settled.answer);
      outcome.warnings = result.warnings;
      if (!result.allowed) {
        outcome.result = 'denied';
        outcome.violations = result.violations;
      }
    } catch (err) {
      this.recordFailure(outcome, policy, request, err, failures);
    }
    outcome.durationMs = performance.now() - started;
  }

  /**
   * What the apiserver does with both chains: mutate, then validate the mutated object. The CLI's
   * offline check calls this so that its verdict is the cluster's.
   */
  async admit(request: AdmissionRequest): Promise<{ mutation: ReviewOutcome; validation: ReviewOutcome; verdict: Verdict }> {
    const mutation = await this.mutate(request);
    if (!mutation.verdict.allowed) return { mutation, validation: { verdict: { allowed: true, warnings: [] }, policies: [] }, verdict: mutation.verdict };
    const validation = await this.validate({ ...request, object: mutation.object ?? null });
    const warnings = [...mutation.verdict.warnings, ...validation.verdict.warnings];
    const verdict: Verdict = validation.verdict.allowed
      ? { ...mutation.verdict, warnings }
      : { ...validation.verdict, warnings };
    return { mutation, validation, verdict };
  }
}
