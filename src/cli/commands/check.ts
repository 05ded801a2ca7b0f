// `tollgate check`: admits manifests offline, as a dry-run CREATE through the same engine and config
// the webhook runs, for CI. Exit 0: all allowed; 1: something denied; 2: usage, input or config error.
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { LevelWithSilent } from 'pino';
import { collect } from '../arguments.js';
import { loadConfig } from '../../config/load.js';
import { createEngine } from '../../engine/create.js';
import { ErrorCodes, TollgateError, describeError } from '../../errors.js';
import { createLogger } from '../../log/logger.js';
import { checkManifests, checkReportToJSON, violationText, type CheckReport, type CheckResult } from '../../manifests/check.js';
import { documentLocation, readManifests } from '../../manifests/read.js';
import { WebhookConfigurations } from '../../manifests/webhooks.js';
import { writeManifests } from '../../manifests/write.js';
import { DEFAULT_NAMESPACE, objectNamespaceOf } from '../../manifests/request.js';
import { ExitCodes, type CliIO } from '../io.js';
import { maxBlockedOption, watchForHangs } from '../watchdog.js';

const OUTPUTS = ['text', 'json'] as const;
type Output = (typeof OUTPUTS)[number];

interface CheckFlags {
  config?: string;
  output: Output;
  namespace: string;
  mutatedOut?: string;
  webhooks: string[];
  logLevel: LevelWithSilent;
  maxBlockedSeconds: number;
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function parseNamespace(value: string): string {
  if (!NAMESPACE.test(value)) throw new InvalidArgumentError('must be a namespace name (a DNS label)');
  return value;
}

function objectNameOf({ admission }: CheckResult): string {
  const generateName = admission.request.object?.metadata?.generateName;
  const name = admission.request.name ?? (typeof generateName === 'string' ? `${generateName}*` : '<no name>');
  const namespace = objectNamespaceOf(admission.request);
  return namespace ? `${namespace}/${name}` : name;
}

const isNotSent = ({ webhooks }: CheckResult) => webhooks !== undefined && webhooks.mutate.length === 0 && webhooks.validate.length === 0;

function verdictText(result: CheckResult): string {
  const { admission, webhooks } = result;
  if (!admission.allowed) return 'DENIED';
  if (isNotSent(result)) return 'not sent to tollgate (no webhook matches it)';
  const mutated = admission.patch.length > 0 ? ` (mutated: ${admission.patch.length} patch operation${admission.patch.length === 1 ? '' : 's'})` : '';
  const onePhase = webhooks?.mutate.length === 0 ? ' (not sent to /mutate)' : webhooks?.validate.length === 0 ? ' (not sent to /validate)' : '';
  return `allowed${mutated}${onePhase}`;
}

/** One line per object, its violations, warnings and notes indented below it, and a summary line. */
export function formatCheckText(report: CheckReport): string {
  const lines: string[] = [];
  for (const result of report.results) {
    const { admission } = result;
    const podOf = result.podOf ? `  (the pod of ${result.podOf.kind} ${result.podOf.name ?? '<no name>'}'s template)` : '';
    lines.push(`${documentLocation(result.document)}  ${admission.request.kind.kind}  ${objectNameOf(result)}${podOf}  ${verdictText(result)}`);
    for (const v of admission.violations) lines.push(`    denied by ${v.policy}: ${violationText(v)}`);
    for (const w of admission.warnings) lines.push(`    warning: ${w}`);
    for (const n of result.notes) lines.push(`    note: ${n}`);
  }
  const denied = report.results.filter((r) => !r.admission.allowed).length;
  const notSent = report.results.filter(isNotSent).length;
  const total = report.results.length;
  const pods = report.results.filter((r) => r.podOf).length;
  const objects = total - pods;
  const podsChecked = pods > 0 ? ` and ${pods} pod${pods === 1 ? '' : 's'} of their templates` : '';
  const notSentText = notSent > 0 ? ` (${notSent} not sent to tollgate)` : '';
  lines.push(`${objects} object${objects === 1 ? '' : 's'}${podsChecked} checked: ${total - denied} allowed${notSentText}, ${denied} denied`);
  return `${lines.join('\n')}\n`;
}

/** The objects as the cluster would store them after the mutating chain, as one YAML stream kubectl reads back as they are. */
export function formatMutated(report: CheckReport): string {
  return writeManifests(report.results.filter((r) => !r.podOf).map((r) => r.admission.patched));
}

export function checkCommand(io: CliIO, setExitCode: (code: number) => void): Command {
  return new Command('check')
    .description('admit manifests offline through the configured policies, as the webhook would (for CI)')
    .argument('<files...>', 'YAML or JSON manifests, directories (searched for .yaml, .yml, .json) or - for stdin')
    .option('-c, --config <file>', 'policy config (YAML or JSON), the one the webhook runs with; default: the embedded example config')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(OUTPUTS).default('text'))
    .option('-n, --namespace <namespace>', 'namespace of objects whose manifest names none', parseNamespace, DEFAULT_NAMESPACE)
    .option('--mutated-out <file>', 'write the objects as the mutating policies leave them (a YAML stream)')
    .option(
      '--webhooks <file>',
      "the cluster's webhook configurations for tollgate (e.g. manifests/webhooks.yaml; repeatable): objects they do not send to tollgate are not judged",
      collect,
      [],
    )
    .option('--log-level <level>', 'log level of policy logs (to stderr)', 'error')
    .addOption(maxBlockedOption())
    .action(async (files: string[], flags: CheckFlags) => {
      const documents = await readManifests(files, { stdin: io.stdin });
      const webhooks = flags.webhooks.length > 0 ? WebhookConfigurations.fromDocuments(await readManifests(flags.webhooks)) : undefined;
      const logger = createLogger({ level: flags.logLevel, destination: { write: (line: string) => io.stderr.write(line) } });
      const watchdog = watchForHangs(flags.maxBlockedSeconds, 2, logger);
      let report: CheckReport;
      try {
        const engine = await createEngine(await loadConfig(flags.config), logger);
        report = await checkManifests(engine, documents, { namespace: flags.namespace, ...(webhooks ? { webhooks } : {}) });
      } finally {
        await watchdog?.close();
      }
      if (flags.mutatedOut) {
        try {
          await writeFile(flags.mutatedOut, formatMutated(report));
        } catch (err) {
          throw new TollgateError(ErrorCodes.TG_ERR_USAGE, `${flags.mutatedOut}: cannot write the mutated manifests: ${describeError(err)}`, { cause: err });
        }
      }
      io.stdout.write(flags.output === 'json' ? `${JSON.stringify(checkReportToJSON(report), null, 2)}\n` : formatCheckText(report));
      setExitCode(report.allowed ? ExitCodes.ok : ExitCodes.denied);
    });
}
