// The one info line per review: who, what, the verdict and how long it took; never the object.
import { verdictName } from '../admission/response.js';
import { Operations, type AdmissionRequest, type GroupVersionKind } from '../admission/types.js';
import type { ReviewOutcome } from '../engine/engine.js';
import { infoLines, jsonStringContent } from '../log/fast-line.js';
import type { Logger } from '../log/logger.js';
import type { ReviewEndpoint } from './server.js';

/** Longest denial reason a line carries; the answer to the apiserver carries all of it. */
export const LOGGED_REASON_CHARS = 1024;

/** Longest name (namespace, name, subResource, kind) a line carries: Kubernetes names are at most 253. */
export const LOGGED_NAME_CHARS = 256;

const text = jsonStringContent;
/** A name as the line carries it: a forged review's megabyte name would otherwise be a megabyte line. */
const name = (value: string) => jsonStringContent(value.length > LOGGED_NAME_CHARS ? value.slice(0, LOGGED_NAME_CHARS) : value);

export function kindName(kind: GroupVersionKind): string {
  return `${kind.group ? `${kind.group}/` : ''}${kind.version}/${kind.kind}`;
}

/** The operation member, for the four the envelope check lets through. */
const OPERATION_MEMBERS: Record<string, string> = Object.fromEntries(Operations.map((operation) => [operation, `,"operation":"${operation}"`]));

/** The last kind written and its text: reviews come in runs of one kind (Pods), and the kind is rebuilt otherwise. */
let lastKind: GroupVersionKind | undefined;
let lastKindText = '';

function kindText(kind: GroupVersionKind): string {
  if (lastKind === undefined || kind.kind !== lastKind.kind || kind.version !== lastKind.version || kind.group !== lastKind.group) {
    lastKindText = name(kindName(kind));
    lastKind = { group: kind.group, version: kind.version, kind: kind.kind };
  }
  return lastKindText;
}

/**
 * The line's fields as JSON members: uid, endpoint, kind, subResource, resource (namespace/name),
 * operation, dryRun, verdict, reason, warnings (a count), policies (how many saw the request) and
 * durationMs. Optional ones are left out when they do not apply, as pino leaves out undefined.
 * Built with the quotes in the constant parts and each value escaped only where it needs it: the
 * line costs half the allocation that JSON.stringify of each value did.
 */
export function reviewLogMembers(endpoint: ReviewEndpoint, request: AdmissionRequest, outcome: ReviewOutcome, durationMs: number): string {
  const verdict = outcome.verdict;
  const generateName = request.object?.metadata?.generateName;
  const objectName = request.name ? name(request.name) : typeof generateName === 'string' ? `${name(generateName)}*` : '';
  let members = ',"uid":"' + text(request.uid) + '","endpoint":"' + endpoint + '","kind":"' + kindText(request.kind) + '"';
  if (request.subResource) members += ',"subResource":"' + name(request.subResource) + '"';
  members += ',"resource":"' + (request.namespace ? name(request.namespace) + '/' : '') + objectName + '"';
  members += OPERATION_MEMBERS[request.operation] ?? ',"operation":"' + text(String(request.operation)) + '"';
  if (request.dryRun) members += ',"dryRun":true';
  members += ',"verdict":"' + verdictName(verdict) + '"';
  if (!verdict.allowed) members += ',"reason":"' + text((verdict.message ?? '').slice(0, LOGGED_REASON_CHARS)) + '"';
  if (verdict.warnings.length > 0) members += ',"warnings":' + verdict.warnings.length;
  return members + ',"policies":' + outcome.policies.length + ',"durationMs":' + Math.round(durationMs * 1000) / 1000;
}

export interface ReviewLog {
  /** The review's line at info (nothing when info is off), written at the next flush. */
  add(endpoint: ReviewEndpoint, request: AdmissionRequest, outcome: ReviewOutcome, durationMs: number): void;
  /** Writes the lines added since the last flush, together. */
  flush(): void;
}

export function reviewLog(logger: Logger): ReviewLog {
  const lines = infoLines(logger, 'review');
  return {
    add(endpoint, request, outcome, durationMs) {
      if (logger.isLevelEnabled('info')) lines.add(reviewLogMembers(endpoint, request, outcome, durationMs));
    },
    flush: lines.flush,
  };
}
