// The offline admission check: every object read from the manifests goes through the engine as
// the CREATE request the apiserver would send, and the outcome is kept for reporting.
import type { JsonPatchOperation } from '../admission/types.js';
import type { PolicyEngine } from '../engine/engine.js';
import { admitRequest, type AdmissionResult } from './admit.js';
import type { ManifestDocument } from './read.js';
import { createRequest } from './request.js';
import { forgetReviewContext, noteReviewContext } from '../engine/hang-watchdog.js';

export interface CheckOptions {
  /** Namespace of namespaced objects whose manifest names none; default `default`. */
  namespace?: string;
}

export interface CheckResult {
  document: ManifestDocument;
  admission: AdmissionResult;
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
}

export interface CheckReportJSON {
  allowed: boolean;
  results: CheckResultJSON[];
}

/**
 * Admits every object as a dry-run CREATE. All objects are judged before anything is reported,
 * so one report covers the whole set.
 */
export async function checkManifests(engine: PolicyEngine, documents: readonly ManifestDocument[], options: CheckOptions = {}): Promise<CheckReport> {
  const results: CheckResult[] = [];
  for (const document of documents) {
    const request = createRequest(document.object, { dryRun: true, ...(options.namespace ? { namespace: options.namespace } : {}) });
    noteReviewContext(request.uid, `${document.file}#${document.document}${document.item === undefined ? '' : `.items[${document.item}]`}`);
    try {
      results.push({ document, admission: await admitRequest(engine, request) });
    } finally {
      forgetReviewContext(request.uid);
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
    results: report.results.map(({ document, admission }) => ({
      file: document.file,
      kind: admission.request.kind.kind,
      namespace: admission.request.namespace ?? null,
      name: admission.request.name ?? null,
      allowed: admission.allowed,
      violations: admission.violations.map((v) => ({ policy: v.policy, message: violationText(v) })),
      warnings: admission.warnings,
      patch: admission.patch,
    })),
  };
}
