// The one info line per review: who, what, the verdict and how long it took; never the object.
import { verdictName } from '../admission/response.js';
import type { AdmissionRequest, GroupVersionKind } from '../admission/types.js';
import type { ReviewOutcome } from '../engine/engine.js';
import { infoLineWriter } from '../log/fast-line.js';
import type { Logger } from '../log/logger.js';
import type { ReviewEndpoint } from './server.js';

/** Longest denial reason a line carries; the answer to the apiserver carries all of it. */
export const LOGGED_REASON_CHARS = 1024;

const json = JSON.stringify;

export function kindName(kind: GroupVersionKind): string {
  return `${kind.group ? `${kind.group}/` : ''}${kind.version}/${kind.kind}`;
}

/** namespace/name, or the generateName with a `*` when the apiserver has not named the object yet. */
export function resourceName(request: AdmissionRequest): string {
  const generateName = request.object?.metadata?.generateName;
  const name = request.name || (typeof generateName === 'string' ? `${generateName}*` : '');
  return request.namespace ? `${request.namespace}/${name}` : name;
}

/**
 * The line's fields as JSON members: uid, endpoint, kind, subResource, resource (namespace/name),
 * operation, dryRun, verdict, reason, warnings (a count), policies (how many saw the request) and
 * durationMs. Optional ones are left out when they do not apply, as pino leaves out undefined.
 */
export function reviewLogMembers(endpoint: ReviewEndpoint, request: AdmissionRequest, outcome: ReviewOutcome, durationMs: number): string {
  const verdict = outcome.verdict;
  let members = `,"uid":${json(request.uid)},"endpoint":"${endpoint}","kind":${json(kindName(request.kind))}`;
  if (request.subResource) members += `,"subResource":${json(request.subResource)}`;
  members += `,"resource":${json(resourceName(request))},"operation":${json(request.operation)}`;
  if (request.dryRun) members += ',"dryRun":true';
  members += `,"verdict":"${verdictName(verdict)}"`;
  if (!verdict.allowed) members += `,"reason":${json((verdict.message ?? '').slice(0, LOGGED_REASON_CHARS))}`;
  if (verdict.warnings.length > 0) members += `,"warnings":${verdict.warnings.length}`;
  return `${members},"policies":${outcome.policies.length},"durationMs":${Math.round(durationMs * 1000) / 1000}`;
}

/** Logs each review at info, or does nothing when info is off. */
export function reviewLogger(logger: Logger): (endpoint: ReviewEndpoint, request: AdmissionRequest, outcome: ReviewOutcome, durationMs: number) => void {
  const write = infoLineWriter(logger);
  return (endpoint, request, outcome, durationMs) => {
    if (logger.isLevelEnabled('info')) write(reviewLogMembers(endpoint, request, outcome, durationMs), 'review');
  };
}
