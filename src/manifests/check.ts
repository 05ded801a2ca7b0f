// The offline admission check: every object read from the manifests goes through the engine as
// the CREATE request the apiserver would send, and so does the pod an admitted workload's
// controller would create from its template; the outcomes are kept for reporting.
import type { AdmissionRequest, JsonPatchOperation } from '../admission/types.js';
import type { PolicyEngine } from '../engine/engine.js';
import { admitRequest, type AdmissionResult } from './admit.js';
import { forgetReviewContext, noteReviewContext } from '../engine/hang-watchdog.js';
import { controllerPodOf } from './controller-pods.js';
import { documentLocation, type ManifestDocument } from './read.js';
import { createRequest, objectNamespaceOf } from './request.js';
import { CustomResources } from './resources.js';
import { NamespaceLabels, type WebhookConfigurations } from './webhooks.js';

export interface CheckOptions {
  /** Namespace of namespaced objects whose manifest names none; default `default`. */
  namespace?: string;
  /**
   * The cluster's webhook configurations for tollgate: a request is judged only by the phases whose
   * webhooks the apiserver would call for it. Without them, every object goes through both chains.
   */
  webhooks?: WebhookConfigurations;
}

/** The webhooks the apiserver calls for an object, by name, in each phase. */
export interface WebhooksCalled {
  mutate: string[];
  validate: string[];
}

/** A workload whose controller creates pods from its template, by kind and name. */
export interface WorkloadRef {
  kind: string;
  name: string | null;
}

export interface CheckResult {
  document: ManifestDocument;
  admission: AdmissionResult;
  /** For the pod a workload's controller creates from its template: the workload (the document's object). */
  podOf?: WorkloadRef;
  /** With webhook configurations: the webhooks that call tollgate for the object (none: it is never sent). */
  webhooks?: WebhooksCalled;
  /** Where the offline verdict rests on an assumption (a webhook taken to be called). */
  notes: string[];
}

export interface CheckReport {
  allowed: boolean;
  results: CheckResult[];
}

/** The `--output json` shape, one entry per object. */
export interface CheckResultJSON {
  file: string;
  kind: string;
  namespace: string | null;
  name: string | null;
  allowed: boolean;
  violations: Array<{ policy: string; message: string }>;
  warnings: string[];
  patch: JsonPatchOperation[];
  /** For the pod a workload's controller creates from its template: that workload; null for a manifest's object. */
  podOf: WorkloadRef | null;
  /** With --webhooks: the webhooks that call tollgate for the object, by phase; null without. */
  webhooks: WebhooksCalled | null;
  notes: string[];
}

export interface CheckReportJSON {
  allowed: boolean;
  results: CheckResultJSON[];
}

/** One request through the engine, as the webhook configurations (if any) send it. */
async function admitNoted(
  engine: PolicyEngine,
  request: AdmissionRequest,
  context: string,
  options: CheckOptions,
  namespaces: NamespaceLabels,
  customResources: CustomResources,
): Promise<Pick<CheckResult, 'admission' | 'webhooks' | 'notes'>> {
  const { webhooks } = options;
  noteReviewContext(request.uid, context);
  try {
    if (!webhooks) return { admission: await admitRequest(engine, request), notes: [] };
    /** One way through the phases; `skipMutating` takes the mutating webhooks tollgate is only taken to be called by as not called. */
    const judge = async (skipMutating: boolean) => {
      const called: WebhooksCalled = { mutate: [], validate: [] };
      const notes: string[] = [];
      let mutatingUnsure = false;
      const calls = (phase: 'mutate' | 'validate', seen: AdmissionRequest) => {
        const dispatch = webhooks.dispatch(phase, seen, namespaces, customResources.isGuessed(seen.kind));
        if (phase === 'mutate') mutatingUnsure = dispatch.unsure;
        const skipped = phase === 'mutate' && skipMutating && dispatch.unsure;
        called[phase] = skipped ? [] : dispatch.called.map((w) => w.name);
        notes.push(...dispatch.notes);
        return {
          called: !skipped && dispatch.called.length > 0,
          failOnError: !skipped && dispatch.called.some((w) => w.failurePolicy === 'Fail'),
          ...(dispatch.rejected === undefined ? {} : { rejected: dispatch.rejected }),
        };
      };
      const admission = await admitRequest(engine, request, calls);
      return { admission, webhooks: called, notes, mutatingUnsure };
    };
    const { mutatingUnsure, ...mutated } = await judge(false);
    // Taking an unsure mutating webhook to be called is not the stricter verdict: its changes may
    // be what lets the object pass. Judged without them too; the denial wins.
    if (!mutatingUnsure || !mutated.admission.allowed) return mutated;
    const { mutatingUnsure: _same, ...unmutated } = await judge(true);
    if (unmutated.admission.allowed) return mutated;
    const skipped = mutated.webhooks.mutate.join(', ');
    return {
      ...unmutated,
      notes: [...unmutated.notes, `denied as if ${skipped} were not called (the apiserver may not call ${mutated.webhooks.mutate.length === 1 ? 'it' : 'them'}): called, its mutation lets the object pass`],
    };
  } finally {
    forgetReviewContext(request.uid);
  }
}

/**
 * Admits every object as a dry-run CREATE, and for each workload admitted (a Deployment, Job...)
 * the pod its controller creates from the stored template, as its controller's service account:
 * a denied workload creates no pods, so only admitted ones are followed. All objects are judged
 * before anything is reported, so one report covers the whole set.
 */
export async function checkManifests(engine: PolicyEngine, documents: readonly ManifestDocument[], options: CheckOptions = {}): Promise<CheckReport> {
  const results: CheckResult[] = [];
  const namespaces = new NamespaceLabels(documents.map((d) => d.object));
  // The custom kinds the manifests define get their resource and scope from the definition, wherever it is.
  const customResources = new CustomResources(documents.map((d) => d.object));
  for (const [index, document] of documents.entries()) {
    const request = createRequest(document.object, { dryRun: true, customResources, ...(options.namespace ? { namespace: options.namespace } : {}) });
    const context = documentLocation(document);
    // The namespaces as the object finds them when written: the Namespaces before it applied.
    const seen = namespaces.at(index);
    const judged = await admitNoted(engine, request, context, options, seen, customResources);
    results.push({ document, ...judged });
    const { admission } = judged;
    const controllerPod = admission.allowed && admission.patched ? controllerPodOf(admission.patched) : undefined;
    if (controllerPod) {
      const podRequest = createRequest(controllerPod.pod, { dryRun: true, userInfo: controllerPod.userInfo, ...(request.namespace ? { namespace: request.namespace } : {}) });
      const podOf = { kind: request.kind.kind, name: request.name ?? null };
      results.push({ document, ...(await admitNoted(engine, podRequest, `${context} (the pod of its template)`, options, seen, customResources)), podOf });
    }
  }
  return { allowed: results.every((r) => r.admission.allowed), results };
}

/** A violation as one line: the field path, when there is one, then the message. */
export function violationText(violation: { message: string; path?: string }): string {
  return violation.path ? `${violation.path}: ${violation.message}` : violation.message;
}

export function checkReportToJSON(report: CheckReport): CheckReportJSON {
  return {
    allowed: report.allowed,
    results: report.results.map(({ document, admission, podOf, webhooks, notes }) => ({
      file: document.file,
      kind: admission.request.kind.kind,
      namespace: objectNamespaceOf(admission.request) ?? null,
      name: admission.request.name ?? null,
      allowed: admission.allowed,
      violations: admission.violations.map((v) => ({ policy: v.policy, message: violationText(v) })),
      warnings: admission.warnings,
      patch: admission.patch,
      podOf: podOf ?? null,
      webhooks: webhooks ?? null,
      notes,
    })),
  };
}
