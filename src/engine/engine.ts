// The policy engine: runs a request through the mutating chain (in order, each policy seeing the
// last one's changes) or the validating chain (every policy, all violations reported together),
// contains policy failures and time-outs, and turns the outcome into a Verdict. Knows no HTTP.
import fastJsonPatch from 'fast-json-patch';
import type { AdmissionRequest, JsonPatchOperation, KubernetesObject } from '../admission/types.js';
import type { Verdict } from '../admission/response.js';
import { ErrorCodes, TollgateError, describeError, type ErrorCode } from '../errors.js';
import type { FailurePolicy, PolicyMode } from '../config/schema.js';
import { applyOperations, copyOperations, surelyApplies } from './apply-patch.js';
import { copyPolicyOutput } from './copy.js';
import { lazyDraft, type LazyDraft } from './draft.js';
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
  /** What an error of this policy does: Fail denies (in enforce mode), Ignore lets the request through with a warning. */
  failurePolicy: FailurePolicy;
  durationMs: number;
}

/** What the chain decided, and how each policy that saw the request contributed. */
export interface ReviewOutcome {
  verdict: Verdict;
  policies: PolicyOutcome[];
  /** After the mutating chain: the object as the policies left it (the same reference when unchanged); absent when the caller asked for the patch only. */
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

/** Takes what `validate` returned into the outcome; anything malformed is an error (thrown), never a silent allow. */
function judgeValidation(outcome: PolicyOutcome, result: unknown): void {
  if (result === undefined || result === null) return;
  if (typeof result !== 'object' || typeof (result as { allowed?: unknown }).allowed !== 'boolean') {
    throw badResult('something other than { allowed: boolean, ... }');
  }
  const { allowed, message, violations, warnings } = result as Record<string, unknown>;
  // The outcome's own empty list stands when there are none.
  const warningList = warnings === undefined ? outcome.warnings : stringList(warnings, 'warnings');
  if (allowed) {
    outcome.warnings = warningList;
    return;
  }
  if (violations !== undefined) {
    const valid =
      Array.isArray(violations) &&
      violations.length > 0 &&
      violations.every(
        (v) => typeof v === 'object' && v !== null && typeof v.message === 'string' && (v.path === undefined || typeof v.path === 'string'),
      );
    if (!valid) throw badResult('violations that are not a non-empty list of { message, path? }');
  }
  outcome.warnings = warningList;
  outcome.result = 'denied';
  outcome.violations = violations !== undefined ? (violations as Violation[]) : [{ message: typeof message === 'string' && message !== '' ? message : 'denied' }];
}

export function formatViolation(policy: string, violation: Violation): string {
  return `[${policy}] ${violation.path ? `${violation.path}: ` : ''}${violation.message}`;
}

/** Folds the outcomes into one verdict: enforce-mode violations and fail-closed errors deny. */
function verdictOf(outcomes: PolicyOutcome[], patch?: JsonPatchOperation[]): Verdict {
  const reasons: string[] = [];
  const warnings: string[] = [];
  for (const outcome of outcomes) {
    for (const w of outcome.warnings) warnings.push(`[${outcome.policy}] ${w}`);
    if (outcome.result === 'error' && outcome.error) {
      const failClosed = outcome.failurePolicy !== 'Ignore';
      const text = `[${outcome.policy}] policy failed: ${outcome.error.message}`;
      if (outcome.mode === 'enforce' && failClosed) reasons.push(text);
      else if (outcome.mode !== 'audit') warnings.push(`${text} (ignored)`);
    } else if (outcome.result === 'denied') {
      // One at a time: spreading hundreds of thousands of lines into push() overflows the stack.
      const into = outcome.mode === 'enforce' ? reasons : outcome.mode === 'warn' ? warnings : undefined;
      if (into) for (const violation of outcome.violations) into.push(formatViolation(outcome.policy, violation));
    }
  }
  if (reasons.length > 0) return { allowed: false, code: 403, message: reasons.join('; '), warnings };
  return patch && patch.length > 0 ? { allowed: true, warnings, patch } : { allowed: true, warnings };
}

/** A policy's answer, or what it threw or rejected with (which may be anything, `undefined` too). */
type Settled = { answer: unknown } | { error: unknown };

/** A mutating chain under way: the object as received, as the policies so far left it, and their outcomes. */
interface MutatingRun {
  request: AdmissionRequest;
  original: KubernetesObject;
  current: KubernetesObject | null;
  outcomes: PolicyOutcome[];
  /** The diff of the first change is the patch as long as no later policy changes the object. */
  patchFromOriginal: JsonPatchOperation[] | undefined;
  /** The caller wants the patch only, not the patched object (ReviewOutcome.object). */
  patchOnly: boolean;
}

export interface MutatingOptions {
  /**
   * `false`: the caller needs the patch only, so the object as the policies left it is not
   * returned, and a patch that surely applies (apply-patch.ts) need not be applied to know it:
   * the server's answer carries the patch alone. Default true.
   */
  object?: boolean;
}

/** One mutating policy's call: its draft, and its answer (or what it threw) once settled. */
interface MutatingCall {
  policy: LoadedMutatingPolicy;
  outcome: PolicyOutcome;
  started: number;
  /** The editing policy's draft; undefined for a patching policy, which is given the object itself (and only for it, once the call is made). */
  lazy: LazyDraft | undefined;
  draft: AdmissionRequest | undefined;
  pending: boolean;
  answer: unknown;
  settled: Settled | undefined;
}

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

  /** Marks the outcome failed and logs it. */
  private recordFailure(outcome: PolicyOutcome, policy: LoadedPolicy, request: AdmissionRequest, err: unknown): void {
    const error = errorOf(err);
    outcome.result = 'error';
    outcome.error = error;
    this.logger?.warn({ policy: policy.name, uid: request.uid, code: error.code, reason: error.message, failurePolicy: policy.failurePolicy }, 'policy failed');
  }

  /**
   * Runs the mutating chain. Each policy edits its own copy of the object (copied lazily, member by
   * member, two levels deep: ./draft.ts) so that a policy that fails part-way leaves nothing behind; the final
   * object is diffed against the object exactly as received. No matching policy: no copy, no diff.
   */
  async mutate(request: AdmissionRequest): Promise<ReviewOutcome> {
    return this.runMutating(request);
  }

  /**
   * Runs every matching validating policy and reports all their violations together. Policies that
   * answer synchronously are judged on the spot; only asynchronous answers are awaited (together).
   */
  async validate(request: AdmissionRequest): Promise<ReviewOutcome> {
    return this.runValidating(request);
  }

  /**
   * `mutate`, but the outcome itself when every policy answered synchronously, so that the server
   * answers those reviews without a promise or a turn of the microtask queue. May also throw.
   */
  runMutating(request: AdmissionRequest, options: MutatingOptions = {}): ReviewOutcome | Promise<ReviewOutcome> {
    const original = request.object ?? null;
    if (original === null) return { verdict: { allowed: true, warnings: [] }, policies: [], object: original };
    return this.continueMutating({ request, original, current: original, outcomes: [], patchFromOriginal: undefined, patchOnly: options.object === false }, 0);
  }

  /** The chain from policy `from` on: synchronously, until a policy answers with a promise. */
  private continueMutating(run: MutatingRun, from: number): ReviewOutcome | Promise<ReviewOutcome> {
    const policies = this.mutating;
    for (let index = from; index < policies.length; index++) {
      const policy = policies[index]!;
      if (!policy.matches(run.request)) continue;
      const call = this.callMutatingPolicy(run, policy);
      if (call.pending) {
        const next = (settled: Settled) => {
          call.settled = settled;
          return this.endMutatingCall(run, call, index) ? this.finishMutating(run) : this.continueMutating(run, index + 1);
        };
        return Promise.resolve(call.answer).then(
          (answer: unknown) => next({ answer }),
          (error: unknown) => next({ error }),
        );
      }
      if (this.endMutatingCall(run, call, index)) break;
    }
    return this.finishMutating(run);
  }

  /** Gives the policy its draft. What it answered, or threw, is in `settled`, unless it answered with a promise. */
  private callMutatingPolicy(run: MutatingRun, policy: LoadedMutatingPolicy): MutatingCall {
    const started = performance.now();
    const outcome: PolicyOutcome = { policy: policy.name, kind: 'mutating', mode: policy.mode, result: 'unchanged', violations: [], warnings: [], failurePolicy: policy.failurePolicy, durationMs: 0 };
    const call: MutatingCall = { policy, outcome, started, lazy: undefined, draft: undefined, pending: false, answer: undefined, settled: undefined };
    try {
      const { instance } = policy;
      if (instance.patch) {
        // A patching policy reads the object as it is (its operations are applied to copies).
        call.draft = run.current === run.request.object ? run.request : { ...run.request, object: run.current };
      } else {
        call.lazy = lazyDraft(run.current as Record<string, unknown>);
        call.draft = { ...run.request, object: call.lazy.object as KubernetesObject };
      }
      enterPolicyCall(policy.name, run.request);
      try {
        call.answer = withinBudget(instance.patch ? instance.patch(call.draft) : instance.mutate(call.draft), started, policy.timeoutMs);
        // Reading `then` may run the policy's getter: decided here, inside the mark.
        call.pending = isThenable(call.answer);
      } finally {
        leavePolicyCall();
      }
      if (!call.pending) call.settled = { answer: call.answer };
    } catch (error) {
      call.settled = { error };
    }
    return call;
  }

  /** Takes what the policy produced into the run, or records its failure; true when the chain stops here. */
  private endMutatingCall(run: MutatingRun, call: MutatingCall, index: number): boolean {
    const { policy, outcome, lazy, draft } = call;
    // Reading what the policy left, or describing what it threw, runs its getters, if it set any: marked as its code too.
    enterPolicyCall(policy.name, run.request);
    try {
      const settled = call.settled!;
      if ('error' in settled) throw settled.error;
      const patching = lazy === undefined;
      const result = settled.answer as { warnings?: unknown; patch?: unknown } | null | undefined;
      if (result !== undefined && result !== null && typeof result !== 'object') throw badResult(patching ? 'something other than { patch?, warnings? }' : 'something other than { warnings? }');
      outcome.warnings = stringList(result?.warnings, 'warnings');
      let next: Record<string, unknown>;
      let ops: JsonPatchOperation[];
      if (patching) {
        // A list is the operations without their wrapper: a slip, refused rather than taken for "no change".
        if (Array.isArray(result)) throw badResult('a list; answer { patch: [...operations] }');
        // Possibly the policy's own frozen constant: no patch is changed once made.
        ops = result?.patch === undefined ? [] : (copyOperations(result.patch) as JsonPatchOperation[]);
        const current = run.current as Record<string, unknown>;
        // Applied only if something will read the result: the caller, or a later policy. Else the
        // patch, as the first change, is the answer, and it need only apply, which is checked.
        const unread = ops.length > 0 && run.patchOnly && current === run.original && !this.laterMatches(run.request, index) && surelyApplies(current, ops);
        next = ops.length > 0 && !unread ? applyOperations(current, ops) : current;
      } else {
        const edited = draft!.object;
        if (typeof edited !== 'object' || edited === null || Array.isArray(edited)) throw badResult('with request.object no longer an object');
        // What the policy left unchanged is the very values of `current`, which the diff passes over.
        // A replaced object is copied too: the policy may still hold it.
        next = edited === lazy.object ? lazy.settle() : copyPolicyOutput(edited);
        ops = compare(run.current as Record<string, unknown>, next) as JsonPatchOperation[];
      }
      if (ops.length > 0) {
        outcome.result = 'patched';
        if (policy.mode === 'enforce') {
          run.patchFromOriginal = run.current === run.original ? ops : undefined;
          run.current = next as KubernetesObject;
        } else if (policy.mode === 'warn') outcome.warnings.push('would change the object (mode: warn, not applied)');
      }
    } catch (err) {
      this.recordFailure(outcome, policy, run.request, err);
    } finally {
      leavePolicyCall();
    }
    outcome.durationMs = performance.now() - call.started;
    run.outcomes.push(outcome);
    return outcome.result === 'error' && policy.failurePolicy === 'Fail' && policy.mode === 'enforce';
  }

  /** Whether a mutating policy after `index` will see the request. */
  private laterMatches(request: AdmissionRequest, index: number): boolean {
    const policies = this.mutating;
    for (let later = index + 1; later < policies.length; later++) if (policies[later]!.matches(request)) return true;
    return false;
  }

  private finishMutating(run: MutatingRun): ReviewOutcome {
    const { original, current, outcomes } = run;
    let patch = run.patchFromOriginal;
    if (current !== original && !patch) {
      try {
        patch = compare(original, current as KubernetesObject) as JsonPatchOperation[];
      } catch (err) {
        const outcome: PolicyOutcome = { policy: 'tollgate', kind: 'mutating', mode: 'enforce', result: 'error', violations: [], warnings: [], error: errorOf(err), failurePolicy: 'Fail', durationMs: 0 };
        outcomes.push(outcome);
        return { verdict: verdictOf(outcomes), policies: outcomes, object: original };
      }
    }
    const verdict = verdictOf(outcomes, patch);
    if (run.patchOnly) return { verdict, policies: outcomes };
    return { verdict, policies: outcomes, object: verdict.allowed ? current : original };
  }

  /** `validate`, but the outcome itself when every policy answered synchronously. May also throw. */
  runValidating(request: AdmissionRequest): ReviewOutcome | Promise<ReviewOutcome> {
    const outcomes: PolicyOutcome[] = [];
    let pending: Promise<void>[] | undefined;
    for (const policy of this.validating) {
      if (!policy.matches(request)) continue;
      const started = performance.now();
      const outcome: PolicyOutcome = { policy: policy.name, kind: 'validating', mode: policy.mode, result: 'allowed', violations: [], warnings: [], failurePolicy: policy.failurePolicy, durationMs: 0 };
      outcomes.push(outcome);
      enterPolicyCall(policy.name, request);
      try {
        let answer: unknown;
        try {
          answer = withinBudget(policy.instance.validate(request), started, policy.timeoutMs);
        } catch (error) {
          this.settleValidation(outcome, policy, request, started, true, error);
          continue;
        }
        if (isThenable(answer)) (pending ??= []).push(this.settleValidationLater(outcome, policy, request, started, answer));
        else this.settleValidation(outcome, policy, request, started, false, answer);
      } finally {
        leavePolicyCall();
      }
    }
    return pending ? Promise.all(pending).then(() => ({ verdict: verdictOf(outcomes), policies: outcomes })) : { verdict: verdictOf(outcomes), policies: outcomes };
  }

  /** Records one validating policy's answer, or what it threw (`failed`), in its outcome. */
  private settleValidation(outcome: PolicyOutcome, policy: LoadedValidatingPolicy, request: AdmissionRequest, started: number, failed: boolean, value: unknown): void {
    try {
      // A rejection with no reason (even `undefined`) is still a failure, never an allow.
      if (failed) throw value;
      judgeValidation(outcome, value);
    } catch (err) {
      this.recordFailure(outcome, policy, request, err);
    }
    outcome.durationMs = performance.now() - started;
  }

  /** settleValidation once the answer settles; judging it runs the policy's getters, if it set any: marked as its code too. */
  private settleValidationLater(outcome: PolicyOutcome, policy: LoadedValidatingPolicy, request: AdmissionRequest, started: number, answer: PromiseLike<unknown>): Promise<void> {
    const settle = (failed: boolean, value: unknown) => {
      enterPolicyCall(policy.name, request);
      try {
        this.settleValidation(outcome, policy, request, started, failed, value);
      } finally {
        leavePolicyCall();
      }
    };
    return Promise.resolve(answer).then(
      (result) => settle(false, result),
      (error: unknown) => settle(true, error),
    );
  }

  /**
   * What the apiserver does with both chains: mutate, then validate the mutated object. The CLI's
   * offline check calls this so that its verdict is the cluster's.
   */
  async admit(request: AdmissionRequest): Promise<{ mutation: ReviewOutcome; validation: ReviewOutcome; verdict: Verdict }> {
    const mutation = await this.mutate(request);
    if (!mutation.verdict.allowed) return { mutation, validation: notRun(), verdict: mutation.verdict };
    const validation = await this.validate({ ...request, object: mutation.object ?? null });
    return { mutation, validation, verdict: combinedVerdict(mutation, validation) };
  }
}

/** The outcome of a chain that did not run (the request was denied before it, or never sent to it). */
export function notRun(object?: KubernetesObject | null): ReviewOutcome {
  return { verdict: { allowed: true, warnings: [] }, policies: [], ...(object === undefined ? {} : { object }) };
}

/** The apiserver's verdict once both chains answered: the validating chain's denial or the mutation's patch, with the warnings of both. */
export function combinedVerdict(mutation: ReviewOutcome, validation: ReviewOutcome): Verdict {
  if (!mutation.verdict.allowed) return mutation.verdict;
  const warnings = [...mutation.verdict.warnings, ...validation.verdict.warnings];
  return validation.verdict.allowed ? { ...mutation.verdict, warnings } : { ...validation.verdict, warnings };
}
