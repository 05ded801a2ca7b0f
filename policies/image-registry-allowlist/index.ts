// Validating policy: every container image of a pod, or of a workload's pod template, must come
// from an allowed registry (and path prefix), judged on the reference as the runtime resolves it.
import type { AdmissionRequest } from '../../src/admission/types.js';
import { containersOf, forEachContainer, forEachImageVolume } from '../../src/kube/pod-spec.js';
import { PolicyConfigError, definePolicy, type Violation } from '../../src/engine/policy.js';
import {
  ImageReferenceError,
  matchesPattern,
  normalisedName,
  parseImageReference,
  parseRegistryPattern,
  type RegistryPattern,
} from './image-reference.js';

export interface ImageRegistryAllowlistConfig {
  /** `host[:port][/path-prefix]` entries; the host is compared exactly, the path at `/` boundaries. */
  registries: string[];
  /** Also require every image to be pinned by digest (`@sha256:...`). */
  requireDigest: boolean;
  /** On UPDATE, judge containers the update does not change too (default: only new or changed ones). */
  recheckUnchanged: boolean;
}

const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['registries'],
  properties: {
    registries: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1, maxLength: 512 } },
    requireDigest: { type: 'boolean', default: false },
    recheckUnchanged: { type: 'boolean', default: false },
  },
};

function judgeImage(image: unknown, patterns: readonly RegistryPattern[], allowedText: string, requireDigest: boolean): string | undefined {
  let reference;
  try {
    reference = parseImageReference(image);
  } catch (err) {
    if (err instanceof ImageReferenceError) return err.message;
    throw err;
  }
  if (!patterns.some((pattern) => matchesPattern(reference, pattern))) {
    return `image ${JSON.stringify(image)} resolves to ${normalisedName(reference)}, which is not from an allowed registry (allowed: ${allowedText})`;
  }
  if (requireDigest && reference.digest === undefined) {
    return `image ${JSON.stringify(image)} must be pinned by digest (${normalisedName(reference)}@sha256:...)`;
  }
  return undefined;
}

/**
 * Verdicts per image reference, kept by the policy instance (so per config). A cluster runs the
 * same few hundred images over and over; parsing each reference again cost about 1 µs a container
 * (bench/containers). Bounded in entries and key length, and emptied when full, so a stream of
 * made-up references costs what it did without the cache and no more memory than this.
 */
const VERDICT_CACHE_ENTRIES = 4096;
const VERDICT_CACHE_MAX_KEY = 512;

function cachedJudge(judge: (image: unknown) => string | undefined): (image: unknown) => string | undefined {
  const verdicts = new Map<string, string | undefined>();
  return (image) => {
    if (typeof image !== 'string' || image.length > VERDICT_CACHE_MAX_KEY) return judge(image);
    if (verdicts.has(image)) return verdicts.get(image);
    const problem = judge(image);
    if (verdicts.size >= VERDICT_CACHE_ENTRIES) verdicts.clear();
    verdicts.set(image, problem);
    return problem;
  };
}

/** The answer to most reviews, made once. */
const ALLOWED = Object.freeze({ allowed: true as const });

function containerKey(list: string, container: Record<string, unknown>): string {
  return JSON.stringify([list, container.name, container.image]);
}

function imageVolumeKey(volume: Record<string, unknown>, source: Record<string, unknown>): string {
  return JSON.stringify(['volumes', volume.name, source.reference]);
}

/**
 * The containers and image volumes an UPDATE leaves exactly as the stored object had them (same
 * list, name and image). They were admitted before, or predate the policy: judging them again would
 * block every later update of the object, even the removal of a finalizer. Pods they create are
 * judged anyway.
 */
function admittedBefore(request: AdmissionRequest): Set<string> {
  const keys = new Set(containersOf(request.oldObject, request.kind).map(({ list, container }) => containerKey(list, container)));
  forEachImageVolume(request.oldObject, request.kind, (source, volume) => keys.add(imageVolumeKey(volume, source)));
  return keys;
}

export default definePolicy<ImageRegistryAllowlistConfig>({
  name: 'image-registry-allowlist',
  kind: 'validating',
  description: 'Admits only container images from the listed registries (and path prefixes).',
  configSchema,
  create(config) {
    const patterns = config.registries.map((entry, index) => {
      try {
        return parseRegistryPattern(entry);
      } catch (err) {
        throw new PolicyConfigError(`registries[${index}]`, (err as Error).message);
      }
    });
    const allowedText = config.registries.join(', ');
    const judge = cachedJudge((image) => judgeImage(image, patterns, allowedText, config.requireDigest));
    return {
      validate(request: AdmissionRequest) {
        // The kind comes from the request, which the apiserver sets; DELETE and CONNECT carry no pod.
        if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return ALLOWED;
        let violations: Violation[] | undefined;
        const unchanged = request.operation === 'UPDATE' && !config.recheckUnchanged ? admittedBefore(request) : undefined;
        forEachContainer(request.object, request.kind, (container, list, index, prefix) => {
          if (unchanged?.has(containerKey(list, container))) return;
          const problem = judge(container.image);
          if (problem) {
            const name = typeof container.name === 'string' ? container.name : '?';
            (violations ??= []).push({ path: `${prefix}.${list}[${index}].image`, message: `container ${JSON.stringify(name)}: ${problem}` });
          }
        });
        // An image volume is pulled like a container's image, and its files can be run from the mount.
        forEachImageVolume(request.object, request.kind, (source, volume, index, prefix) => {
          if (unchanged?.has(imageVolumeKey(volume, source))) return;
          const problem = judge(source.reference);
          if (problem) {
            const name = typeof volume.name === 'string' ? volume.name : '?';
            (violations ??= []).push({ path: `${prefix}.volumes[${index}].image.reference`, message: `image volume ${JSON.stringify(name)}: ${problem}` });
          }
        });
        return violations === undefined ? ALLOWED : { allowed: false, violations };
      },
    };
  },
});
