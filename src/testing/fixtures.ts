// Fixture suites (`tollgate-test.yaml`): a policy, its config and cases of manifest (or review) in,
// expected verdict, violations, warnings and patch out. `tollgate test` and the built-in policies'
// own tests run them through this one runner.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { LineCounter, parseDocument } from 'yaml';
import { decodeAdmissionReview } from '../admission/review.js';
import { Operations, type AdmissionRequest, type JsonPatchOperation, type KubernetesObject, type Operation, type UserInfo } from '../admission/types.js';
import type { PolicyModule } from '../engine/policy.js';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import { createAjv, describeAjvError } from '../json-schema.js';
import type { AdmissionResult } from '../manifests/admit.js';
import { violationText } from '../manifests/check.js';
import { KUBECTL_YAML, MAX_ALIAS_COUNT, parseManifests } from '../manifests/read.js';
import { createRequest } from '../manifests/request.js';
import { diffValues } from './diff.js';
import { loadTestPolicy, type TestPolicy } from './policy.js';

/** The file a fixture directory holds. */
export const SUITE_FILE = 'tollgate-test.yaml';
/** Directories never searched for suites. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', 'dist']);

const stringList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;
const caseSchema = {
  type: 'object',
  required: ['name', 'expect'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    operation: { enum: [...Operations] },
    manifest: { type: 'string', minLength: 1 },
    object: { type: 'object' },
    oldManifest: { type: 'string', minLength: 1 },
    oldObject: { type: 'object' },
    review: { type: 'string', minLength: 1 },
    subResource: { type: 'string', minLength: 1 },
    namespace: { type: 'string', minLength: 1 },
    userInfo: { type: 'object' },
    config: {},
    expect: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allowed: { type: 'boolean' },
        violations: stringList,
        warnings: stringList,
        patched: { type: ['string', 'object'] },
        patch: { type: 'array', items: { type: 'object', required: ['op', 'path'] } },
        configError: { type: 'string', minLength: 1 },
      },
    },
  },
} as const;
const suiteSchema = {
  type: 'object',
  required: ['policy', 'cases'],
  additionalProperties: false,
  properties: {
    policy: { type: 'string', minLength: 1 },
    config: {},
    cases: { type: 'array', minItems: 1, items: caseSchema },
  },
} as const;
const validateSuite = createAjv({ allowUnionTypes: true }).compile(suiteSchema);

interface RawExpect {
  allowed?: boolean;
  violations?: string[];
  warnings?: string[];
  patched?: string | KubernetesObject;
  patch?: JsonPatchOperation[];
  configError?: string;
}
interface RawCase {
  name: string;
  operation?: Operation;
  manifest?: string;
  object?: KubernetesObject;
  oldManifest?: string;
  oldObject?: KubernetesObject;
  review?: string;
  subResource?: string;
  namespace?: string;
  userInfo?: UserInfo;
  config?: unknown;
  expect: RawExpect;
}
interface RawSuite {
  policy: string;
  config?: unknown;
  cases: RawCase[];
}

/** What a case expects, with `patched` read from its file. */
export interface Expectation {
  allowed?: boolean;
  violations?: string[];
  warnings?: string[];
  patched?: KubernetesObject | null;
  patch?: JsonPatchOperation[];
  configError?: string;
}

export interface FixtureCase {
  name: string;
  /** Position in the suite's `cases`. */
  index: number;
  /** The request the case sends; absent for a case that only expects its config to be refused. */
  request?: AdmissionRequest;
  config: unknown;
  /** Where the case's config is written: `config` or `cases[N].config`. */
  configPath: string;
  expect: Expectation;
}

export interface FixtureSuite {
  file: string;
  /** The `policy` field: a path relative to the suite, a built-in name or a package. */
  policy: string;
  cases: FixtureCase[];
}

export interface CaseResult {
  name: string;
  passed: boolean;
  /** What did not match, each a readable (possibly multi-line) paragraph. */
  failures: string[];
}

export interface SuiteResult {
  file: string;
  policy: string;
  passed: boolean;
  cases: CaseResult[];
}

function suiteError(message: string, cause?: unknown): TollgateError {
  return new TollgateError(ErrorCodes.TG_ERR_TEST_SUITE, message, cause === undefined ? undefined : { cause });
}

async function readText(file: string, where: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw suiteError(`${where}: cannot read ${file}: ${describeError(err)}`, err);
  }
}

/** The one object a fixture file holds, read as `tollgate check` reads manifests. */
async function readObject(dir: string, relative: string, where: string): Promise<KubernetesObject> {
  const file = path.resolve(dir, relative);
  let documents;
  try {
    documents = parseManifests(await readText(file, where), file);
  } catch (err) {
    if (err instanceof TollgateError && err.code === ErrorCodes.TG_ERR_TEST_SUITE) throw err;
    throw suiteError(`${where}: ${describeError(err)}`, err);
  }
  if (documents.length !== 1) throw suiteError(`${where}: ${relative} must hold exactly one object, not ${documents.length}`);
  return documents[0]!.object;
}

/** `policy: .` means the directory of the suite; the loader wants a path to start with `./`. */
function modulePath(policy: string): string {
  return policy === '.' || policy === '..' ? `${policy}/` : policy;
}

/** Reads and checks a suite, and every file its cases name. Throws TG_ERR_TEST_SUITE naming the file, line and field at fault. */
export async function loadFixtureSuite(file: string): Promise<FixtureSuite> {
  const text = await readText(file, file);
  const dir = path.dirname(path.resolve(file));
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { ...KUBECTL_YAML, lineCounter });
  const parseFailure = document.errors[0];
  if (parseFailure) throw suiteError(`${file}:${lineCounter.linePos(parseFailure.pos[0]).line}: ${parseFailure.message.split('\n')[0]}`);
  const data: unknown = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  const lineOf = (keys: Array<string | number>): string => {
    const node = document.getIn(keys, true) as { range?: [number, number, number] } | undefined;
    return node?.range ? `:${lineCounter.linePos(node.range[0]).line}` : '';
  };
  if (!validateSuite(data)) {
    const error = validateSuite.errors?.[0];
    const keys = (error?.instancePath ?? '').split('/').slice(1).map((k) => (/^\d+$/.test(k) ? Number(k) : k.replace(/~1/g, '/').replace(/~0/g, '~')));
    throw suiteError(`${file}${lineOf(keys)}: ${describeAjvError(error)}`);
  }
  const raw = data as RawSuite;

  const cases: FixtureCase[] = [];
  for (const [index, c] of raw.cases.entries()) {
    const where = `${file}${lineOf(['cases', index])}: cases[${index}] (${c.name})`;
    const inputs = [c.manifest, c.object, c.review].filter((v) => v !== undefined).length;
    const configOnly = c.expect.configError !== undefined;
    if (configOnly) {
      const others = Object.keys(c.expect).filter((k) => k !== 'configError');
      if (others.length > 0) throw suiteError(`${where}: expect.configError stands alone; a refused config judges no request (drop ${others.join(', ')})`);
    } else if (c.expect.allowed === undefined) {
      throw suiteError(`${where}: expect.allowed is required`);
    }
    if (inputs > 1 || (inputs === 0 && !configOnly)) throw suiteError(`${where}: give exactly one of manifest, object or review`);
    if (c.review !== undefined && [c.operation, c.oldManifest, c.oldObject, c.subResource, c.namespace, c.userInfo].some((v) => v !== undefined)) {
      throw suiteError(`${where}: a review is sent as it is; operation, oldManifest, oldObject, subResource, namespace and userInfo belong to manifest cases`);
    }
    if (c.oldManifest !== undefined && c.oldObject !== undefined) throw suiteError(`${where}: give oldManifest or oldObject, not both`);

    let request: AdmissionRequest | undefined;
    if (c.review !== undefined) {
      const review = await readObject(dir, c.review, where);
      try {
        request = decodeAdmissionReview(review).request;
      } catch (err) {
        throw suiteError(`${where}: ${c.review}: ${describeError(err)}`, err);
      }
    } else if (c.manifest !== undefined || c.object !== undefined) {
      const object = c.manifest !== undefined ? await readObject(dir, c.manifest, where) : (c.object as KubernetesObject);
      const oldObject = c.oldManifest !== undefined ? await readObject(dir, c.oldManifest, where) : c.oldObject;
      const operation = c.operation ?? 'CREATE';
      if (operation === 'UPDATE' && oldObject === undefined) throw suiteError(`${where}: an UPDATE needs oldManifest or oldObject (the object as stored)`);
      request = createRequest(object, {
        operation,
        uid: `fixture-${index}`,
        ...(oldObject !== undefined ? { oldObject } : {}),
        ...(c.subResource !== undefined ? { subResource: c.subResource } : {}),
        ...(c.namespace !== undefined ? { namespace: c.namespace } : {}),
        ...(c.userInfo !== undefined ? { userInfo: c.userInfo } : {}),
      });
    }

    const expect: Expectation = {};
    if (c.expect.allowed !== undefined) expect.allowed = c.expect.allowed;
    if (c.expect.violations) expect.violations = c.expect.violations;
    if (c.expect.warnings) expect.warnings = c.expect.warnings;
    if (c.expect.patch) expect.patch = c.expect.patch;
    if (c.expect.configError !== undefined) expect.configError = c.expect.configError;
    if (c.expect.patched !== undefined) expect.patched = typeof c.expect.patched === 'string' ? await readObject(dir, c.expect.patched, where) : c.expect.patched;

    const override = c.config !== undefined;
    const fixtureCase: FixtureCase = { name: c.name, index, config: override ? c.config : (raw.config ?? {}), configPath: override ? `cases[${index}].config` : 'config', expect };
    if (request) fixtureCase.request = request;
    cases.push(fixtureCase);
  }
  return { file, policy: raw.policy, cases };
}

export interface RunFixtureOptions {
  /** Run the cases against this module object instead of the suite's `policy` (to test the suite itself). */
  module?: PolicyModule;
}

/** Loaded policies per suite and config, so a suite's cases share one instance per config. */
const loadedPolicies = new WeakMap<FixtureSuite, Map<string, Promise<TestPolicy>>>();

function policyFor(suite: FixtureSuite, config: unknown, options: RunFixtureOptions): Promise<TestPolicy> {
  let byConfig = loadedPolicies.get(suite);
  if (!byConfig) loadedPolicies.set(suite, (byConfig = new Map()));
  const key = `${options.module ? 'override' : 'suite'}:${JSON.stringify(config)}`;
  let policy = byConfig.get(key);
  if (!policy) {
    const dir = path.dirname(path.resolve(suite.file));
    policy = loadTestPolicy(options.module ?? modulePath(suite.policy), config, { baseDir: dir, source: suite.file });
    byConfig.set(key, policy);
  }
  return policy;
}

/** The loader speaks of `policies[0]`; a suite has `policy` and `config`. */
function inSuiteTerms(message: string, configPath: string): string {
  return message.replace('policies[0].config', configPath).replace(/policies\[0\]\.module "[^"]*"/, 'policy');
}

function list(items: readonly string[]): string {
  return items.length === 0 ? '  (none)' : items.map((item) => `  - ${item}`).join('\n');
}

function compare(expect: Expectation, result: AdmissionResult): string[] {
  const failures: string[] = [];
  const violations = result.violations.map((v) => `[${v.policy}] ${violationText(v)}`);
  if (expect.allowed !== undefined && expect.allowed !== result.allowed) {
    failures.push(
      expect.allowed
        ? `expected the request to be allowed, but it was denied:\n${list(violations)}`
        : `expected the request to be denied, but it was allowed${result.patch.length > 0 ? ` (with a patch of ${result.patch.length} operations)` : ''}`,
    );
  }
  for (const wanted of expect.violations ?? []) {
    if (!violations.some((v) => v.includes(wanted))) failures.push(`expected a violation containing ${JSON.stringify(wanted)}; the violations were:\n${list(violations)}`);
  }
  for (const wanted of expect.warnings ?? []) {
    if (!result.warnings.some((w) => w.includes(wanted))) failures.push(`expected a warning containing ${JSON.stringify(wanted)}; the warnings were:\n${list(result.warnings)}`);
  }
  if (expect.patch !== undefined && !isDeepStrictEqual(expect.patch, result.patch)) {
    failures.push(`the patch differs (- expected, + actual):\n${diffValues(expect.patch, result.patch)}`);
  }
  if (expect.patched !== undefined && !isDeepStrictEqual(expect.patched, result.patched)) {
    failures.push(`the object after the patch differs (- expected, + actual):\n${diffValues(expect.patched, result.patched)}`);
  }
  return failures;
}

/**
 * Runs one case. Assertion mismatches and a config the policy refuses are failures of the case;
 * a module that cannot be found or loaded is thrown, since no case of the suite can run.
 */
export async function runFixtureCase(suite: FixtureSuite, fixtureCase: FixtureCase, options: RunFixtureOptions = {}): Promise<CaseResult> {
  const done = (failures: string[]): CaseResult => ({ name: fixtureCase.name, passed: failures.length === 0, failures });
  let policy: TestPolicy;
  try {
    policy = await policyFor(suite, fixtureCase.config, options);
  } catch (err) {
    const configRefused = err instanceof TollgateError && (err.code === ErrorCodes.TG_ERR_POLICY_CONFIG_INVALID || err.code === ErrorCodes.TG_ERR_MODULE_CREATE);
    if (!configRefused) throw err instanceof TollgateError ? new TollgateError(err.code, inSuiteTerms(err.message, fixtureCase.configPath), { cause: err }) : err;
    const message = inSuiteTerms(err.message, fixtureCase.configPath);
    const wanted = fixtureCase.expect.configError;
    if (wanted === undefined) return done([`the policy refused its config: ${message}`]);
    return done(message.includes(wanted) ? [] : [`expected the config to be refused with a message containing ${JSON.stringify(wanted)}, but the message was:\n  ${message}`]);
  }
  if (fixtureCase.expect.configError !== undefined) {
    return done([`expected the config to be refused with a message containing ${JSON.stringify(fixtureCase.expect.configError)}, but it was accepted`]);
  }
  if (!fixtureCase.request) return done(['the case sends no request']);
  // Each case gets its own copy, so no case can see another's changes.
  return done(compare(fixtureCase.expect, await policy.admit(structuredClone(fixtureCase.request))));
}

/** Runs every case of a suite (a file, or one already loaded), in order. */
export async function runFixtureSuite(suite: string | FixtureSuite, options: RunFixtureOptions = {}): Promise<SuiteResult> {
  const loaded = typeof suite === 'string' ? await loadFixtureSuite(suite) : suite;
  const cases: CaseResult[] = [];
  for (const fixtureCase of loaded.cases) cases.push(await runFixtureCase(loaded, fixtureCase, options));
  return { file: loaded.file, policy: loaded.policy, passed: cases.every((c) => c.passed), cases };
}

async function walkForSuites(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.isDirectory() && !SKIPPED_DIRS.has(entry.name)) await walkForSuites(path.join(dir, entry.name), out);
    else if (entry.isFile() && entry.name === SUITE_FILE) out.push(path.join(dir, entry.name));
  }
}

/**
 * The suite files the paths name: a suite file itself, a directory holding `tollgate-test.yaml`,
 * or a directory searched below for them (node_modules, .git and dist skipped).
 */
export async function findFixtureSuites(paths: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const given of paths) {
    let info;
    try {
      info = await stat(given);
    } catch (err) {
      throw suiteError(`${given}: ${describeError(err)}`, err);
    }
    if (!info.isDirectory()) {
      found.push(given);
      continue;
    }
    const before = found.length;
    await walkForSuites(given, found);
    if (found.length === before) throw suiteError(`${given}: no ${SUITE_FILE} in it or below it`);
  }
  return found;
}
