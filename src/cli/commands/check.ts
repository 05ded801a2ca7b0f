// `tollgate check`: admits manifests offline, as a dry-run CREATE through the same engine and config
// the webhook runs, for CI. Exit 0: all allowed; 1: something denied; 2: usage, input or config error.
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { LevelWithSilent } from 'pino';
import { loadConfig } from '../../config/load.js';
import { createEngine } from '../../engine/create.js';
import { ErrorCodes, TollgateError, describeError } from '../../errors.js';
import { createLogger } from '../../log/logger.js';
import { checkManifests, checkReportToJSON, documentLocation, violationText, type CheckReport, type CheckResult } from '../../manifests/check.js';
import { readManifests } from '../../manifests/read.js';
import { writeManifests } from '../../manifests/write.js';
import { DEFAULT_NAMESPACE } from '../../manifests/request.js';
import { ExitCodes, type CliIO } from '../io.js';
import { maxBlockedOption, watchForHangs } from '../watchdog.js';

const OUTPUTS = ['text', 'json'] as const;
type Output = (typeof OUTPUTS)[number];

interface CheckFlags {
  config?: string;
  output: Output;
  namespace: string;
  mutatedOut?: string;
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
  return admission.request.namespace ? `${admission.request.namespace}/${name}` : name;
}

/** One line per object, its violations and warnings indented below it, and a summary line. */
export function formatCheckText(report: CheckReport): string {
  const lines: string[] = [];
  for (const result of report.results) {
    const { admission } = result;
    const verdict = !admission.allowed ? 'DENIED' : admission.patch.length > 0 ? `allowed (mutated: ${admission.patch.length} patch operation${admission.patch.length === 1 ? '' : 's'})` : 'allowed';
    const podOf = result.podOf ? `  (the pod of ${result.podOf.kind} ${result.podOf.name ?? '<no name>'}'s template)` : '';
    lines.push(`${documentLocation(result.document)}  ${admission.request.kind.kind}  ${objectNameOf(result)}${podOf}  ${verdict}`);
    for (const v of admission.violations) lines.push(`    denied by ${v.policy}: ${violationText(v)}`);
    for (const w of admission.warnings) lines.push(`    warning: ${w}`);
  }
  const denied = report.results.filter((r) => !r.admission.allowed).length;
  const total = report.results.length;
  const pods = report.results.filter((r) => r.podOf).length;
  const objects = total - pods;
  const podsChecked = pods > 0 ? ` and ${pods} pod${pods === 1 ? '' : 's'} of their templates` : '';
  lines.push(`${objects} object${objects === 1 ? '' : 's'}${podsChecked} checked: ${total - denied} allowed, ${denied} denied`);
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
    .option('--log-level <level>', 'log level of policy logs (to stderr)', 'error')
    .addOption(maxBlockedOption())
    .action(async (files: string[], flags: CheckFlags) => {
      const documents = await readManifests(files, { stdin: io.stdin });
      const logger = createLogger({ level: flags.logLevel, destination: { write: (line: string) => io.stderr.write(line) } });
      const watchdog = watchForHangs(flags.maxBlockedSeconds, 2, logger);
      let report: CheckReport;
      try {
        const engine = await createEngine(await loadConfig(flags.config), logger);
        report = await checkManifests(engine, documents, { namespace: flags.namespace });
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
