// The policy author's test helper: loads a module (an object in hand, or a name or path) through
// the real loader, config schema included, and runs requests through it as the webhook would.
import type { AdmissionRequest } from '../admission/types.js';
import type { PolicyEntry } from '../config/schema.js';
import { PolicyEngine } from '../engine/engine.js';
import { createPolicy, loadPolicy, type LoadOptions } from '../engine/loader.js';
import type { PolicyLogger, PolicyModule } from '../engine/policy.js';
import { admitRequest, type AdmissionResult } from '../manifests/admit.js';

const silentLogger: PolicyLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface TestPolicyOptions {
  /** The config entry's other fields: `name`, `mode`, `failurePolicy`, `timeoutMs`, `match`. */
  entry?: Omit<PolicyEntry, 'module' | 'config'>;
  /** Directory a module path is resolved against; default: the working directory. */
  baseDir?: string;
  /** What error messages name as the source of the config; default `test`. */
  source?: string;
  logger?: LoadOptions['logger'];
}

/** A loaded policy, ready to judge requests. */
export interface TestPolicy {
  /** The policy's name, as violations and warnings name it. */
  name: string;
  engine: PolicyEngine;
  /** Runs the request through the mutating chain, then the validating chain, as the apiserver does. */
  admit(request: AdmissionRequest): Promise<AdmissionResult>;
}

/**
 * Loads `module` with `config` exactly as the server would: the shape is checked, the config is
 * validated against `configSchema` (defaults filled in) and frozen, and `create` is called. A bad
 * config throws the same TollgateError the server's start would. `module` is a module object
 * (`import policy from './index.js'`), or a built-in name, a path or a package name.
 */
export async function loadTestPolicy(module: PolicyModule | string, config: unknown = {}, options: TestPolicyOptions = {}): Promise<TestPolicy> {
  const load: LoadOptions = { baseDir: options.baseDir ?? process.cwd(), source: options.source ?? 'test', logger: options.logger ?? silentLogger };
  const entry = { ...options.entry, module: typeof module === 'string' ? module : String((module as { name?: unknown }).name), config } as PolicyEntry;
  const policy = typeof module === 'string' ? await loadPolicy(entry, 0, load) : await createPolicy(module, entry, 0, load);
  const engine = new PolicyEngine([policy], { logger: load.logger });
  return { name: policy.name, engine, admit: (request) => admitRequest(engine, request) };
}

/**
 * One request through one policy, in one call:
 * `const result = await runPolicy(policy, { label: 'team' }, createRequest(pod))`, then assert on
 * `result.allowed`, `result.violations`, `result.patch` or `result.patched`.
 */
export async function runPolicy(module: PolicyModule | string, config: unknown, request: AdmissionRequest, options: TestPolicyOptions = {}): Promise<AdmissionResult> {
  return (await loadTestPolicy(module, config, options)).admit(request);
}
