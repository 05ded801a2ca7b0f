// Mutating policy: adds the configured annotations to the object's metadata, creating the map
// when absent and leaving existing values alone unless told to overwrite them. It answers the
// patch itself (a patching policy: no copy of the object, no diff), since the change is small and
// known: one `add` of the whole map when there is none, else one operation per key.
import fastJsonPatch from 'fast-json-patch';
import type { AdmissionRequest, JsonPatchOperation } from '../../src/admission/types.js';
import { definePolicy } from '../../src/engine/policy.js';
import { deepFreeze } from '../../src/frozen.js';

const { escapePathComponent } = fastJsonPatch;

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

/** A member JSON would show: own, and not undefined. */
function present(record: object, key: string): boolean {
  return Object.hasOwn(record, key) && (record as Record<string, unknown>)[key] !== undefined;
}

export default definePolicy<AnnotationInjectionConfig>({
  name: 'annotation-injection',
  kind: 'mutating',
  description: 'Adds the configured annotations to every object it sees.',
  configSchema,
  create(config) {
    const entries = Object.entries(config.annotations);
    /** Each key's path inside an existing map, escaped as JSON Pointer requires (`/` as `~1`, `~` as `~0`). */
    const paths = new Map(entries.map(([key]) => [key, `/metadata/annotations/${escapePathComponent(key)}`]));
    // The patches for an object with no map (most pods), made once: frozen, so the engine takes
    // them as they are, without a copy, and sends the same encoding each time.
    const wholeMap = (op: 'add' | 'replace', path: string, value: object) => deepFreeze<JsonPatchOperation[]>([{ op, path, value }]);
    const annotations = Object.fromEntries(entries);
    const intoMetadata = { add: wholeMap('add', '/metadata/annotations', annotations), replace: wholeMap('replace', '/metadata/annotations', annotations) };
    const asMetadata = { add: wholeMap('add', '/metadata', { annotations }), replace: wholeMap('replace', '/metadata', { annotations }) };
    return {
      patch(request: AdmissionRequest) {
        const object = request.object;
        if (!object || entries.length === 0) return;
        if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return;
        const metadata = isRecord(object.metadata) ? object.metadata : undefined;
        const existing = metadata && isRecord(metadata.annotations) ? metadata.annotations : undefined;
        if (existing && typeof existing[MIRROR_POD_ANNOTATION] === 'string') return;
        if (!existing) {
          // No map to add into: one operation that makes it (or metadata itself), with every
          // annotation. A member that is there but not a map (null, say) is replaced, as a diff would.
          if (metadata) return { patch: intoMetadata[present(metadata, 'annotations') ? 'replace' : 'add'] };
          return { patch: asMetadata[present(object, 'metadata') ? 'replace' : 'add'] };
        }
        const replaced: JsonPatchOperation[] = [];
        const added: JsonPatchOperation[] = [];
        for (const [key, value] of entries) {
          if (!Object.hasOwn(existing, key)) added.push({ op: 'add', path: paths.get(key)!, value });
          else if (config.overwrite && existing[key] !== value) replaced.push({ op: 'replace', path: paths.get(key)!, value });
        }
        return { patch: [...replaced, ...added] };
      },
    };
  },
});
