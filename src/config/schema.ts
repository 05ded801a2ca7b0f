// The configuration file's shape: one JSON Schema, from which the TypeScript types are derived.
import type { FromSchema } from 'json-schema-to-ts';

export const PolicyModes = ['enforce', 'warn', 'audit'] as const;
export const FailurePolicies = ['Fail', 'Ignore'] as const;

/** Per-policy time budget when the config names none. */
export const DEFAULT_POLICY_TIMEOUT_MS = 1000;
/** Upper bound of a policy budget: the apiserver gives up on a webhook after 30 s at the most. */
export const MAX_POLICY_TIMEOUT_MS = 30_000;

const nameList = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 253 },
  maxItems: 1000,
} as const;

export const matchSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Namespaces the policy sees (names, `*` wildcards allowed). Cluster-scoped objects never match. */
    namespaces: nameList,
    /** Namespaces the policy never sees. */
    excludeNamespaces: nameList,
    /** `Kind` (any group) or `group/Kind` (`apps/Deployment`; the core group is `core/Pod` or `Pod`). */
    kinds: nameList,
    operations: {
      type: 'array',
      items: { enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
      minItems: 1,
      uniqueItems: true,
    },
  },
} as const;

export const policyEntrySchema = {
  type: 'object',
  required: ['module'],
  additionalProperties: false,
  properties: {
    module: { type: 'string', minLength: 1 },
    name: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' },
    mode: { enum: PolicyModes },
    failurePolicy: { enum: FailurePolicies },
    timeoutMs: { type: 'integer', minimum: 1, maximum: MAX_POLICY_TIMEOUT_MS },
    match: matchSchema,
    config: {},
  },
} as const;

export const configSchema = {
  type: 'object',
  required: ['policies'],
  additionalProperties: false,
  properties: {
    policies: { type: 'array', items: policyEntrySchema, maxItems: 200 },
  },
} as const;

export type TollgateConfig = FromSchema<typeof configSchema>;
export type PolicyEntry = FromSchema<typeof policyEntrySchema>;
export type MatchSpec = FromSchema<typeof matchSchema>;
export type PolicyMode = (typeof PolicyModes)[number];
export type FailurePolicy = (typeof FailurePolicies)[number];
