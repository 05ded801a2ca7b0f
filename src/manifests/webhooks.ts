// Which of tollgate's endpoints the apiserver calls for a request, decided from the webhook
// configurations the cluster runs as its webhook dispatcher decides it (apiserver's
// admission/plugin/webhook: ShouldCallHook, rules.Matcher, the namespace and object matchers,
// matchconditions.Matcher), so that `tollgate check --webhooks` leaves alone what the cluster
// never sends. Where the offline view cannot know something (a namespace's labels, a version's
// equivalence, a condition the CEL library cannot evaluate), the webhook is taken to be called
// (the stricter verdict) and the result says why in a note.
import type { FromSchema } from 'json-schema-to-ts';
import type { AdmissionRequest, KubernetesObject } from '../admission/types.js';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import { createAjv, describeAjvError } from '../json-schema.js';
import { compileMatchCondition, conditionVariables, type MatchCondition } from './match-conditions.js';
import { isRecord } from '../kube/pod-spec.js';
import { documentLocation, type ManifestDocument } from './read.js';
import { GENERATED_SUFFIX, withGeneratedName } from './request.js';

/** tollgate's two review endpoints, by the path a webhook's clientConfig calls. */
export type WebhookEndpoint = 'mutate' | 'validate';

/** The label the apiserver sets on every namespace, equal to its name (defaulting, before admission). */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

const stringList = { type: 'array', items: { type: 'string' } } as const;
const labelSelectorSchema = {
  type: 'object',
  properties: {
    matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
    matchExpressions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: { key: { type: 'string' }, operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }, values: stringList },
      },
    },
  },
} as const;

/** The fields of a webhook the dispatch reads (admissionregistration.k8s.io/v1); the rest is not looked at. */
const webhookSchema = {
  type: 'object',
  required: ['name', 'clientConfig'],
  properties: {
    name: { type: 'string' },
    clientConfig: {
      type: 'object',
      properties: {
        url: { type: 'string' },
        service: { type: 'object', properties: { path: { type: 'string' } } },
      },
    },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          operations: { type: 'array', items: { enum: ['*', 'CREATE', 'UPDATE', 'DELETE', 'CONNECT'] } },
          apiGroups: stringList,
          apiVersions: stringList,
          resources: stringList,
          scope: { enum: ['*', 'Cluster', 'Namespaced'] },
        },
      },
    },
    failurePolicy: { enum: ['Fail', 'Ignore'] },
    matchPolicy: { enum: ['Exact', 'Equivalent'] },
    namespaceSelector: labelSelectorSchema,
    objectSelector: labelSelectorSchema,
    matchConditions: {
      type: 'array',
      items: { type: 'object', required: ['name', 'expression'], properties: { name: { type: 'string' }, expression: { type: 'string' } } },
    },
  },
} as const;

const configurationSchema = {
  type: 'object',
  required: ['apiVersion', 'kind'],
  properties: {
    apiVersion: { const: 'admissionregistration.k8s.io/v1' },
    kind: { enum: ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] },
    webhooks: { type: 'array', items: webhookSchema },
  },
} as const;

type WebhookSpec = FromSchema<typeof webhookSchema>;
type Configuration = FromSchema<typeof configurationSchema>;
type LabelSelector = FromSchema<typeof labelSelectorSchema>;
type Rule = NonNullable<WebhookSpec['rules']>[number];
type Labels = Readonly<Record<string, string>>;

const validateConfiguration = createAjv().compile<Configuration>(configurationSchema);

/** A label selector as apimachinery evaluates one; an empty selector matches everything. */
export function selectorMatches(selector: LabelSelector | undefined, labels: Labels): boolean {
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const matched =
      operator === 'In' ? has && values.includes(labels[key] as string)
      : operator === 'NotIn' ? !has || !values.includes(labels[key] as string)
      : operator === 'Exists' ? has
      : !has;
    if (!matched) return false;
  }
  return true;
}

/** The label keys a selector reads. */
function selectorKeys(selector: LabelSelector | undefined): string[] {
  return [...Object.keys(selector?.matchLabels ?? {}), ...(selector?.matchExpressions ?? []).map((e) => e.key)];
}

function isEmptySelector(selector: LabelSelector | undefined): boolean {
  return selectorKeys(selector).length === 0;
}

function labelsOf(object: KubernetesObject | null | undefined): Labels {
  const labels = object?.metadata?.labels;
  return isRecord(labels) ? (labels as Labels) : {};
}

/** A request for a Namespace itself: cluster-scoped, yet judged as in its own namespace by scope and namespaceSelector. */
function isNamespacesResource(request: AdmissionRequest): boolean {
  return request.resource.group === '' && request.resource.resource === 'namespaces';
}

/** `pods/status` -> [pods, status]; `pods` -> [pods, ""]. */
function splitResource(resource: string): [string, string] {
  const slash = resource.indexOf('/');
  return slash === -1 ? [resource, ''] : [resource.slice(0, slash), resource.slice(slash + 1)];
}

const exactOrWildcard = (items: readonly string[] | undefined, value: string) => (items ?? []).some((item) => item === '*' || item === value);

/** rules.Matcher: scope, operation, group, version and resource/subresource; `version: false` leaves the version out (matchPolicy Equivalent). */
function ruleMatches(rule: Rule, request: AdmissionRequest, { version, guessedKind = false }: { version: boolean; guessedKind?: boolean }): boolean {
  const resource = request.resource.resource;
  const isNamespace = isNamespacesResource(request);
  const namespaced = request.namespace !== undefined && request.namespace !== '';
  const scope = rule.scope ?? '*';
  // A guessed kind's scope and resource may be any the rule names.
  if (!guessedKind && scope === 'Namespaced' && (isNamespace || !namespaced)) return false;
  if (!guessedKind && scope === 'Cluster' && !(isNamespace || !namespaced)) return false;
  if (!exactOrWildcard(rule.operations, request.operation)) return false;
  if (!exactOrWildcard(rule.apiGroups, request.resource.group)) return false;
  if (version && !exactOrWildcard(rule.apiVersions, request.resource.version)) return false;
  const subResource = request.subResource ?? '';
  return (rule.resources ?? []).some((entry) => {
    const [res, sub] = splitResource(entry);
    return (guessedKind || res === '*' || res === resource) && (sub === '*' || sub === subResource);
  });
}

/**
 * Resources the apiserver serves in more than one group as one (they share storage, so its
 * EquivalentResourceMapper lists each as the other's equivalent): by group, then resource.
 */
const EQUIVALENT_GROUPS: ReadonlyMap<string, readonly string[]> = new Map([['events', ['', 'events.k8s.io']]]);

/** The request as each resource equivalent to its own (the versions aside, which ruleMatches leaves out): its own first. */
function equivalentRequests(request: AdmissionRequest): AdmissionRequest[] {
  const groups = EQUIVALENT_GROUPS.get(request.resource.resource) ?? [];
  if (!groups.includes(request.resource.group)) return [request];
  return [request, ...groups.filter((g) => g !== request.resource.group).map((group) => ({ ...request, resource: { ...request.resource, group } }))];
}

/**
 * What is known offline of the namespaces' labels: the name label the apiserver sets on every
 * namespace, and the labels of the Namespaces the checked manifests declare. A label the manifests
 * do not give is unknown, not absent: the cluster's namespace may carry labels set by others, which
 * `kubectl apply` leaves in place. Applied in order, a Namespace declared after an object has not
 * set its labels yet when the object is written, and two declarations of one namespace leave it
 * with one's labels or the other's: so a namespace counts as declared for an object only from a
 * declaration before it on, and a label only when every declaration of it gives it the same
 * (string) value (a controller creates its pods once all are applied).
 */
export class NamespaceLabels {
  private declarations: ReadonlyMap<string, ReadonlyArray<{ index: number; labels: Labels }>>;
  private readonly position: number;

  constructor(objects: Iterable<KubernetesObject>, position = Infinity) {
    const declarations = new Map<string, Array<{ index: number; labels: Labels }>>();
    let index = 0;
    for (const object of objects) {
      const name = object.metadata?.name;
      if (object.apiVersion === 'v1' && object.kind === 'Namespace' && typeof name === 'string') {
        const list = declarations.get(name) ?? [];
        list.push({ index, labels: labelsOf(object) });
        declarations.set(name, list);
      }
      index++;
    }
    this.declarations = declarations;
    this.position = position;
  }

  /** The view of the object at `position` among the manifests' objects: Namespaces declared after it do not count. */
  at(position: number): NamespaceLabels {
    const view = new NamespaceLabels([], position);
    view.declarations = this.declarations;
    return view;
  }

  /** The namespace's known labels, and whether the manifests declare it (before the object). */
  of(name: string): { labels: Labels; declared: boolean } {
    const declarations = this.declarations.get(name) ?? [];
    const nameLabel = { [NAMESPACE_NAME_LABEL]: name };
    if (!declarations.some((d) => d.index < this.position)) return { labels: nameLabel, declared: false };
    const [first, ...rest] = declarations;
    const agreed: Record<string, string> = {};
    for (const [key, value] of Object.entries(first!.labels)) {
      if (typeof value === 'string' && rest.every((d) => Object.hasOwn(d.labels, key) && d.labels[key] === value)) agreed[key] = value;
    }
    return { labels: { ...agreed, ...nameLabel }, declared: true };
  }
}

/** What one webhook does with a request. */
type WebhookDecision =
  /** Not called; the notes say what would call it (an UPDATE). */
  | { call: false; notes?: string[] }
  | { call: true; notes: string[] }
  /** A matchCondition failed to evaluate under failurePolicy Fail: the apiserver rejects the request. */
  | { call: 'reject'; message: string };

/** One webhook of a configuration that calls tollgate. */
export class TollgateWebhook {
  readonly name: string;
  readonly endpoint: WebhookEndpoint;
  readonly failurePolicy: 'Fail' | 'Ignore';
  private readonly spec: WebhookSpec;
  private readonly conditions: MatchCondition[];

  constructor(spec: WebhookSpec, endpoint: WebhookEndpoint, conditions: MatchCondition[]) {
    this.spec = spec;
    this.name = spec.name;
    this.endpoint = endpoint;
    this.failurePolicy = spec.failurePolicy ?? 'Fail';
    this.conditions = conditions;
  }

  /** ShouldCallHook, then the matchConditions; `namespaces` gives the labels the namespaceSelector reads. */
  decide(request: AdmissionRequest, namespaces: NamespaceLabels, guessedKind = false, generatedName = false): WebhookDecision {
    const decision = this.decideFor(request, namespaces, false, generatedName);
    if (!guessedKind || decision.call !== false) return decision;
    // The kind's resource and scope are guesses: whatever the rules name, and cluster-scoped (never
    // exempted by a namespaceSelector), may be the real ones.
    const lenient = this.decideFor(request, namespaces, true, generatedName);
    if (lenient.call === true) {
      const { group, kind } = request.kind;
      lenient.notes.push(
        `webhook ${this.name}: ${group}/${kind} is not built in and no CustomResourceDefinition among the manifests defines it, so its resource ` +
          `("${request.resource.resource}") and scope (${request.namespace ? 'namespaced' : 'cluster'}) are guesses, under which it is not called: taken to be called`,
      );
    }
    return lenient;
  }

  private decideFor(request: AdmissionRequest, namespaces: NamespaceLabels, guessedKind: boolean, generatedName: boolean): WebhookDecision {
    const notes: string[] = [];
    const namespaceMatch = guessedKind || this.namespaceMatches(request, namespaces, notes);
    if (!namespaceMatch) return { call: false };
    const objectSelector = this.spec.objectSelector;
    if (!isEmptySelector(objectSelector) && !selectorMatches(objectSelector, labelsOf(request.object)) && !(request.oldObject && selectorMatches(objectSelector, labelsOf(request.oldObject)))) {
      return { call: false };
    }
    const rules = this.spec.rules ?? [];
    if (!rules.some((rule) => ruleMatches(rule, request, { version: true, guessedKind }))) {
      const equivalents = equivalentRequests(request);
      const through = (this.spec.matchPolicy ?? 'Equivalent') === 'Equivalent' ? equivalents.find((r) => rules.some((rule) => ruleMatches(rule, r, { version: false, guessedKind }))) : undefined;
      if (!through) {
        // check judges a creation; a re-apply of an object that exists is an UPDATE.
        const onUpdate = request.operation === 'CREATE' && rules.some((rule) => ruleMatches(rule, { ...request, operation: 'UPDATE' }, { version: true, guessedKind }));
        return onUpdate
          ? { call: false, notes: [`webhook ${this.name} is not called on the object's creation, which check judges, but is on an UPDATE of it (a re-apply once it exists)`] }
          : { call: false };
      }
      const other = through.resource.group === request.resource.group ? 'another version of it' : `its equivalent in group ${through.resource.group || 'core'}`;
      notes.push(
        `webhook ${this.name} matches ${request.resource.group || 'core'}/${request.resource.version} ${request.resource.resource} only through ${other} ` +
          '(matchPolicy Equivalent): taken to be called; the apiserver sends the object converted to the rule’s version, if it serves that version',
      );
    }
    return this.conditionsDecide(request, notes, generatedName, guessedKind);
  }

  private namespaceMatches(request: AdmissionRequest, namespaces: NamespaceLabels, notes: string[]): boolean {
    const selector = this.spec.namespaceSelector;
    if (isEmptySelector(selector)) return true;
    const isNamespace = isNamespacesResource(request);
    if (isNamespace && (request.operation === 'CREATE' || request.operation === 'UPDATE') && !request.subResource) {
      // The namespace being written: its own labels, with the name label defaulting puts there.
      const name = request.object?.metadata?.name;
      return selectorMatches(selector, { ...labelsOf(request.object), ...(typeof name === 'string' ? { [NAMESPACE_NAME_LABEL]: name } : {}) });
    }
    const namespace = request.namespace ?? '';
    // A cluster-scoped object is never exempted by a namespaceSelector.
    if (namespace === '' && !isNamespace) return true;
    const { labels, declared } = namespaces.of(namespace);
    const unknown = [...new Set(selectorKeys(selector).filter((key) => !Object.hasOwn(labels, key)))];
    if (unknown.length > 0) {
      const which = unknown.map((key) => JSON.stringify(key)).join(', ');
      notes.push(
        declared
          ? `webhook ${this.name}: the manifests' Namespace ${namespace} does not give its label ${which}, which the namespaceSelector reads (the cluster's may have it): taken to be called`
          : `webhook ${this.name}: namespace ${namespace} is not declared in the manifests checked, and its namespaceSelector reads its label ${which}: taken to be called`,
      );
      return true;
    }
    return selectorMatches(selector, labels);
  }

  /**
   * matchconditions.Matcher: any false skips the webhook; else any error applies the
   * failurePolicy. A condition whose value offline may not be the apiserver's never skips it.
   */
  private conditionsDecide(request: AdmissionRequest, notes: string[], generatedName: boolean, guessedKind: boolean): WebhookDecision {
    if (this.conditions.length === 0) return { call: true, notes };
    const variables = conditionVariables(request);
    const errors: string[] = [];
    const unsure: string[] = [];
    const generated: MatchCondition['unsure'] = {
      always: false,
      why: `reads the name, which the apiserver generates from generateName before the validating webhooks ("${request.name ?? ''}" here, the last ${GENERATED_SUFFIX.length} characters random)`,
    };
    const guessed: MatchCondition['unsure'] = { always: false, why: 'reads the resource or namespace, guesses for a kind no CustomResourceDefinition among the manifests defines' };
    for (const condition of this.conditions) {
      const unsureWhy = condition.unsure ?? (generatedName && condition.readsName ? generated : guessedKind && condition.readsGuess ? guessed : undefined);
      let result: unknown;
      let error: string | undefined;
      try {
        result = condition.evaluate(variables);
      } catch (err) {
        // The library's first line; the rest is a picture of the expression.
        error = `matchCondition ${condition.name}: ${describeError(err).split('\n')[0]}`;
      }
      if (unsureWhy && (unsureWhy.always || result !== true)) {
        unsure.push(`matchCondition ${condition.name} ${unsureWhy.why} (offline: ${error ?? String(result)})`);
        continue;
      }
      if (error !== undefined) errors.push(error);
      else if (result === false) return { call: false };
      else if (result !== true) errors.push(`matchCondition ${condition.name} evaluated to ${String(result)}, not a bool`);
    }
    if (unsure.length > 0) notes.push(`webhook ${this.name}: ${unsure.join('; ')}: taken to be called`);
    if (errors.length === 0) return { call: true, notes };
    if (this.failurePolicy === 'Fail') {
      return {
        call: 'reject',
        message: `webhook ${this.name}: ${errors.join('; ')}: under failurePolicy Fail the apiserver rejects a request whose matchConditions cannot be evaluated`,
      };
    }
    notes.push(`webhook ${this.name}: ${errors.join('; ')}: the apiserver skips the webhook (failurePolicy Ignore) if it cannot evaluate them either; taken to be called`);
    return { call: true, notes };
  }
}

/** What the apiserver does with a request in one phase (mutating or validating), across tollgate's webhooks of that phase. */
export interface Dispatch {
  /** The webhooks that call tollgate for the request, in the apiserver's order. */
  called: TollgateWebhook[];
  /** Set when a matchCondition's error rejects the request (failurePolicy Fail). */
  rejected?: string;
  /** Why a webhook was taken to be called where the offline view cannot be sure. */
  notes: string[];
  /**
   * Every webhook called was only taken to be called (each has a note): the apiserver may call
   * none. Calling is the stricter verdict in the validating phase, not in the mutating one, whose
   * changes can make the object pass.
   */
  unsure: boolean;
}

/** Kinds the apiserver never sends to a webhook, so that no webhook can lock itself or the admission policies in (rules.IsExemptAdmissionConfigurationResource). */
const EXEMPT_KINDS: ReadonlySet<string> = new Set([
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
]);

function isExemptFromWebhooks(request: AdmissionRequest): boolean {
  return request.kind.group === 'admissionregistration.k8s.io' && EXEMPT_KINDS.has(request.kind.kind);
}

function endpointOf(spec: WebhookSpec): WebhookEndpoint | undefined {
  let path = spec.clientConfig.service?.path;
  if (spec.clientConfig.url !== undefined) {
    try {
      path = new URL(spec.clientConfig.url).pathname;
    } catch {
      return undefined;
    }
  }
  return path === '/mutate' ? 'mutate' : path === '/validate' ? 'validate' : undefined;
}

/** The webhook configurations the cluster runs: the ones among the given objects. */
export class WebhookConfigurations {
  readonly webhooks: readonly TollgateWebhook[];

  private constructor(webhooks: TollgateWebhook[]) {
    this.webhooks = webhooks;
  }

  /**
   * The Mutating/ValidatingWebhookConfigurations among `documents` (other objects are passed
   * over). Every webhook must call /mutate or /validate: a file that also holds another
   * product's webhooks is refused rather than guessed at. Refuses, naming the field, what the
   * apiserver would not store.
   */
  static fromDocuments(documents: readonly ManifestDocument[]): WebhookConfigurations {
    const webhooks: TollgateWebhook[] = [];
    for (const document of documents) {
      const { object } = document;
      if (typeof object.kind !== 'string' || !object.kind.endsWith('WebhookConfiguration') || !String(object.apiVersion).startsWith('admissionregistration.k8s.io/')) continue;
      const where = documentLocation(document);
      const fail = (message: string) => new TollgateError(ErrorCodes.TG_ERR_MANIFEST_PARSE, `${where}: ${message}`);
      if (!validateConfiguration(object)) throw fail(describeAjvError(validateConfiguration.errors?.[0]));
      for (const [i, spec] of (object.webhooks ?? []).entries()) {
        const endpoint = endpointOf(spec);
        const expected: WebhookEndpoint = object.kind === 'MutatingWebhookConfiguration' ? 'mutate' : 'validate';
        if (endpoint !== expected) {
          const path = spec.clientConfig.url === undefined ? 'clientConfig.service.path' : 'clientConfig.url';
          throw fail(`webhooks[${i}].${path} must call tollgate's /${expected} from a ${object.kind} (pass tollgate's configurations only)`);
        }
        const conditions = (spec.matchConditions ?? []).map((condition, c) => {
          try {
            return compileMatchCondition(condition.name, condition.expression);
          } catch (err) {
            throw fail(`webhooks[${i}].matchConditions[${c}].expression: ${describeError(err)}`);
          }
        });
        webhooks.push(new TollgateWebhook(spec, endpoint, conditions));
      }
    }
    if (webhooks.length === 0) throw new TollgateError(ErrorCodes.TG_ERR_USAGE, 'no MutatingWebhookConfiguration or ValidatingWebhookConfiguration with webhooks in the --webhooks files');
    return new WebhookConfigurations(webhooks);
  }

  /**
   * The webhooks of one phase the apiserver calls for `request`: the mutating phase's for the
   * object as sent, the validating phase's for the object as the mutating webhooks left it.
   */
  dispatch(endpoint: WebhookEndpoint, request: AdmissionRequest, namespaces: NamespaceLabels, guessedKind = false): Dispatch {
    const result: Dispatch = { called: [], notes: [], unsure: false };
    if (isExemptFromWebhooks(request)) return result;
    const named = endpoint === 'validate' ? withGeneratedName(request) : undefined;
    let sure = false;
    for (const webhook of this.webhooks) {
      if (webhook.endpoint !== endpoint) continue;
      const decision = webhook.decide(named ?? request, namespaces, guessedKind, named !== undefined);
      if (decision.call === 'reject') {
        result.rejected ??= decision.message;
      } else if (!decision.call) {
        result.notes.push(...(decision.notes ?? []));
      } else {
        result.called.push(webhook);
        result.notes.push(...decision.notes);
        if (decision.notes.length === 0) sure = true;
      }
    }
    result.unsure = result.called.length > 0 && !sure;
    return result;
  }
}
