// The `tollgate` command line: one module per command; `run` returns the exit code.
import { Command, CommanderError } from 'commander';
import { TollgateError, describeError } from '../errors.js';
import { certsCommand } from './commands/certs.js';
import { checkCommand } from './commands/check.js';
import { serveCommand } from './commands/serve.js';
import { testCommand } from './commands/test.js';
import { ExitCodes, processIO, type CliIO } from './io.js';

export type CommandFactory = (io: CliIO, setExitCode: (code: number) => void) => Command;

/** Every command; a new one is a module in commands/ and a line here. */
const COMMANDS: CommandFactory[] = [serveCommand, certsCommand, checkCommand, testCommand];

export async function run(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let exitCode: number = ExitCodes.ok;
  const setExitCode = (code: number) => {
    exitCode = code;
  };
  const program = new Command('tollgate')
    .description('Kubernetes admission webhook server with a pluggable chain of policy modules')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError();
  // addCommand does not pass the output settings down: without this, a sub-command's usage errors bypass `io`.
  for (const factory of COMMANDS) program.addCommand(factory(io, setExitCode).exitOverride().configureOutput(program.configureOutput()));
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCodes.ok : ExitCodes.usage;
    io.stderr.write(`tollgate: ${err instanceof TollgateError ? `${err.message} (${err.code})` : describeError(err)}\n`);
    return ExitCodes.usage;
  }
  return exitCode;
}
