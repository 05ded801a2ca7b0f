// Turns the config's policy entries into running policies: finds each module (a built-in name, a
// path or a package), checks its shape, validates its config against its schema, and creates it.
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import { createAjv, describeAjvError } from '../json-schema.js';
import { DEFAULT_POLICY_TIMEOUT_MS, type FailurePolicy, type PolicyEntry, type PolicyMode } from '../config/schema.js';
import { compileMatch, type RequestMatcher } from './match.js';
import type { MutatingPolicy, PolicyContext, PolicyLogger, PolicyModule, ValidatingPolicy } from './policy.js';
import { deepFreeze } from '../frozen.js';
import { enterPolicyCall, leavePolicyCall } from './hang-watchdog.js';

/** How long a module's `create` may take at start before the start is refused. */
export const POLICY_CREATE_TIMEOUT_MS = 10_000;

/** Built-in modules live in `policies/` beside `src/` (and beside `dist/src/` once built). */
export const BUILTIN_POLICY_DIR = fileURLToPath(new URL('../../policies/', import.meta.url));

interface LoadedPolicyBase {
  name: string;
  module: string;
  mode: PolicyMode;
  failurePolicy: FailurePolicy;
  timeoutMs: number;
  matches: RequestMatcher;
}
export interface LoadedValidatingPolicy extends LoadedPolicyBase {
  kind: 'validating';
  instance: ValidatingPolicy;
}
export interface LoadedMutatingPolicy extends LoadedPolicyBase {
  kind: 'mutating';
  instance: MutatingPolicy;
}
export type LoadedPolicy = LoadedValidatingPolicy | LoadedMutatingPolicy;

export interface LoadOptions {
  /** Directory that relative module paths are resolved against (the config file's). */
  baseDir: string;
  /** Where the config came from, for error messages (a file path, or `<embedded default>`). */
  source: string;
  logger: PolicyLogger & { child?(bindings: object): PolicyLogger };
}

const BUILTIN_NAME = /^[a-z0-9][a-z0-9-]*$/;

function builtinEntry(name: string): string | undefined {
  if (!BUILTIN_NAME.test(name)) return undefined;
  for (const file of ['index.js', 'index.ts']) {
    const candidate = path.join(BUILTIN_POLICY_DIR, name, file);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function fileEntry(candidate: string): string | undefined {
  if (!existsSync(candidate)) return undefined;
  if (!statSync(candidate).isDirectory()) return candidate;
  for (const file of ['index.js', 'index.mjs']) {
    const inner = path.join(candidate, file);
    if (existsSync(inner)) return inner;
  }
  return undefined;
}

/** Resolves a `module` string to something `import()` takes. */
function resolveModule(spec: string, baseDir: string, where: string): string {
  const isPath = spec.startsWith('./') || spec.startsWith('../') || path.isAbsolute(spec);
  if (isPath) {
    const absolute = path.resolve(baseDir, spec);
    const entry = fileEntry(absolute);
    if (!entry) throw new TollgateError(ErrorCodes.TG_ERR_MODULE_NOT_FOUND, `${where}: no policy module at ${absolute}`);
    return pathToFileURL(entry).href;
  }
  const builtin = builtinEntry(spec);
  if (builtin) return pathToFileURL(builtin).href;
  try {
    // Packages are resolved from the config file's directory, as a user expects of a path there.
    return pathToFileURL(createRequire(path.join(baseDir, 'noop.js')).resolve(spec)).href;
  } catch {
    try {
      return import.meta.resolve(spec);
    } catch {
      throw new TollgateError(
        ErrorCodes.TG_ERR_MODULE_NOT_FOUND,
        `${where}: "${spec}" is neither a built-in policy (${BUILTIN_POLICY_DIR}), a path (start it with ./ or /) nor an installed package`,
      );
    }
  }
}

function checkModuleShape(candidate: unknown, where: string): PolicyModule {
  const fail = (what: string): never => {
    throw new TollgateError(ErrorCodes.TG_ERR_MODULE_INVALID, `${where}: ${what}`);
  };
  if (typeof candidate !== 'object' || candidate === null) fail('the default export must be a policy object { name, kind, create }');
  const module = candidate as Record<string, unknown>;
  if (typeof module.name !== 'string' || !BUILTIN_NAME.test(module.name)) fail('name must be a lowercase name (a-z, 0-9, -)');
  if (module.kind !== 'validating' && module.kind !== 'mutating') fail(`kind must be "validating" or "mutating", not ${JSON.stringify(module.kind)}`);
  if (typeof module.create !== 'function') fail('create must be a function create(config, context)');
  const schema = module.configSchema;
  if (schema !== undefined && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) fail('configSchema must be a JSON Schema object');
  return module as unknown as PolicyModule;
}

async function withCreateBudget<T>(work: Promise<T>, where: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TollgateError(ErrorCodes.TG_ERR_MODULE_CREATE, `${where}: create() did not finish within ${POLICY_CREATE_TIMEOUT_MS} ms`)),
      POLICY_CREATE_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Loads, checks and creates one policy entry; `index` is its place in `policies`. */
export async function loadPolicy(entry: PolicyEntry, index: number, options: LoadOptions): Promise<LoadedPolicy> {
  const where = `${options.source}: policies[${index}].module "${entry.module}"`;
  const url = resolveModule(entry.module, options.baseDir, where);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new TollgateError(ErrorCodes.TG_ERR_MODULE_INVALID, `${where}: failed to import: ${describeError(err)}`, { cause: err });
  }
  return createPolicy(namespace.default, entry, index, options);
}

/**
 * Checks, configures and creates a policy module already in hand (the default export of an
 * imported module, or a module object a test passes directly): everything `loadPolicy` does after
 * the import.
 */
export async function createPolicy(candidate: unknown, entry: PolicyEntry, index: number, options: LoadOptions): Promise<LoadedPolicy> {
  const where = `${options.source}: policies[${index}].module "${entry.module}"`;
  const module = checkModuleShape(candidate, where);
  const name = entry.name ?? module.name;

  let config: unknown = structuredClone(entry.config ?? {});
  if (module.configSchema) {
    let validate;
    try {
      validate = createAjv({ useDefaults: true, strict: false }).compile(module.configSchema);
    } catch (err) {
      throw new TollgateError(ErrorCodes.TG_ERR_MODULE_INVALID, `${where}: configSchema does not compile: ${describeError(err)}`, { cause: err });
    }
    if (!validate(config)) {
      throw new TollgateError(
        ErrorCodes.TG_ERR_POLICY_CONFIG_INVALID,
        `${options.source}: ${describeAjvError(validate.errors?.[0], `policies[${index}].config`)}`,
      );
    }
  }
  config = deepFreeze(config);

  const context: PolicyContext = { name, logger: options.logger.child?.({ policy: name }) ?? options.logger };
  let instance: unknown;
  try {
    const create = () => {
      enterPolicyCall(name);
      try {
        return module.create(config as never, context);
      } finally {
        leavePolicyCall();
      }
    };
    instance = await withCreateBudget(Promise.resolve().then(create), where);
  } catch (err) {
    if (err instanceof TollgateError) throw err;
    if (err instanceof Error && err.name === 'PolicyConfigError') {
      const field = String((err as { path?: unknown }).path ?? '');
      const where = `policies[${index}].config${field === '' ? '' : field.startsWith('[') ? field : `.${field}`}`;
      throw new TollgateError(ErrorCodes.TG_ERR_POLICY_CONFIG_INVALID, `${options.source}: ${where} ${err.message}`, { cause: err });
    }
    throw new TollgateError(ErrorCodes.TG_ERR_MODULE_CREATE, `${where}: create() failed: ${describeError(err)}`, { cause: err });
  }
  const methods = typeof instance === 'object' && instance !== null ? instance as Record<string, unknown> : {};
  if (module.kind === 'validating' && typeof methods.validate !== 'function') {
    throw new TollgateError(ErrorCodes.TG_ERR_MODULE_INVALID, `${where}: create() must return an object with a validate(request) method`);
  }
  if (module.kind === 'mutating' && (typeof methods.mutate === 'function') === (typeof methods.patch === 'function')) {
    throw new TollgateError(
      ErrorCodes.TG_ERR_MODULE_INVALID,
      typeof methods.mutate === 'function'
        ? `${where}: create() returned an object with both mutate(request) and patch(request); a mutating policy has one of them`
        : `${where}: create() must return an object with a mutate(request) or a patch(request) method`,
    );
  }

  const base = {
    name,
    module: entry.module,
    mode: entry.mode ?? 'enforce',
    failurePolicy: entry.failurePolicy ?? 'Fail',
    timeoutMs: entry.timeoutMs ?? DEFAULT_POLICY_TIMEOUT_MS,
    matches: compileMatch(entry.match),
  };
  return module.kind === 'validating'
    ? { ...base, kind: 'validating', instance: instance as ValidatingPolicy }
    : { ...base, kind: 'mutating', instance: instance as MutatingPolicy };
}

/** Loads every entry in order; refuses duplicate names. */
export async function loadPolicies(entries: readonly PolicyEntry[], options: LoadOptions): Promise<LoadedPolicy[]> {
  const loaded: LoadedPolicy[] = [];
  const seen = new Map<string, number>();
  for (const [index, entry] of entries.entries()) {
    const policy = await loadPolicy(entry, index, options);
    const earlier = seen.get(policy.name);
    if (earlier !== undefined) {
      throw new TollgateError(
        ErrorCodes.TG_ERR_CONFIG_INVALID,
        `${options.source}: policies[${index}].name "${policy.name}" is already used by policies[${earlier}]; give one of them another name`,
      );
    }
    seen.set(policy.name, index);
    loaded.push(policy);
  }
  return loaded;
}

