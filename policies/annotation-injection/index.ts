// Mutating policy: adds the configured annotations to the object's metadata, creating the map
// when absent and leaving existing values alone unless told to overwrite them.
import type { AdmissionRequest } from '../../src/admission/types.js';
import { definePolicy } from '../../src/engine/policy.js';

export interface AnnotationInjectionConfig {
  /** Annotations to add: key (a Kubernetes qualified name, optionally prefixed) to value. */
  annotations: Record<string, string>;
  /** Replace a value the object already has. Default false: existing values win. */
  overwrite: boolean;
}

/** Mirror pods are created by the kubelet from static manifests; they must never be mutated. */
const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

// [prefix/]name, as Kubernetes validates annotation keys: a DNS subdomain prefix, a qualified name.
const ANNOTATION_KEY = '^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';

const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['annotations'],
  properties: {
    annotations: {
      type: 'object',
      propertyNames: { pattern: ANNOTATION_KEY, maxLength: 316 },
      additionalProperties: { type: 'string' },
    },
    overwrite: { type: 'boolean', default: false },
  },
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export default definePolicy<AnnotationInjectionConfig>({
  name: 'annotation-injection',
  kind: 'mutating',
  description: 'Adds the configured annotations to every object it sees.',
  configSchema,
  create(config) {
    const entries = Object.entries(config.annotations);
    return {
      mutate(request: AdmissionRequest) {
        const object = request.object;
        if (!object || entries.length === 0) return;
        if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return;
        const existing = isRecord(object.metadata) && isRecord(object.metadata.annotations) ? object.metadata.annotations : undefined;
        if (existing && typeof existing[MIRROR_POD_ANNOTATION] === 'string') return;

        const missing = entries.filter(([key, value]) =>
          existing === undefined || !Object.hasOwn(existing, key) || (config.overwrite && existing[key] !== value),
        );
        if (missing.length === 0) return;
        if (!isRecord(object.metadata)) object.metadata = {};
        const metadata = object.metadata;
        if (!isRecord(metadata.annotations)) metadata.annotations = {};
        // defineProperty, not assignment: keys come from config, but never risk a prototype setter.
        for (const [key, value] of missing) {
          Object.defineProperty(metadata.annotations, key, { value, enumerable: true, writable: true, configurable: true });
        }
      },
    };
  },
});
