// Which requests a policy sees, compiled once from its `match` block into one predicate.
import type { AdmissionRequest } from '../admission/types.js';
import type { MatchSpec } from '../config/schema.js';

export type RequestMatcher = (request: AdmissionRequest) => boolean;

const matchAll: RequestMatcher = () => true;

/** A name list with `*` wildcards, as a predicate; exact names are looked up in a Set. */
function compileNameList(patterns: readonly string[]): (name: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes('*')));
  const globs = patterns
    .filter((p) => p.includes('*'))
    .map((p) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
  if (globs.length === 0) return (name) => exact.has(name);
  return (name) => exact.has(name) || globs.some((g) => g.test(name));
}

/** `Pod`, `core/Pod`, `apps/Deployment`: a Kind in any group, or in the one named. */
function compileKinds(kinds: readonly string[]): (request: AdmissionRequest) => boolean {
  const anyGroup = new Set<string>();
  const inGroup = new Set<string>();
  for (const entry of kinds) {
    const slash = entry.lastIndexOf('/');
    if (slash === -1) anyGroup.add(entry);
    else {
      const group = entry.slice(0, slash);
      inGroup.add(`${group === 'core' ? '' : group}/${entry.slice(slash + 1)}`);
    }
  }
  return (request) => anyGroup.has(request.kind.kind) || inGroup.has(`${request.kind.group}/${request.kind.kind}`);
}

export function compileMatch(spec: MatchSpec | undefined): RequestMatcher {
  if (!spec) return matchAll;
  const tests: RequestMatcher[] = [];
  if (spec.operations) {
    const operations = new Set<string>(spec.operations);
    tests.push((request) => operations.has(request.operation));
  }
  if (spec.kinds) tests.push(compileKinds(spec.kinds));
  if (spec.namespaces) {
    const included = compileNameList(spec.namespaces);
    tests.push((request) => request.namespace !== undefined && request.namespace !== '' && included(request.namespace));
  }
  if (spec.excludeNamespaces) {
    const excluded = compileNameList(spec.excludeNamespaces);
    tests.push((request) => !excluded(request.namespace ?? ''));
  }
  if (tests.length === 0) return matchAll;
  return (request) => tests.every((test) => test(request));
}
