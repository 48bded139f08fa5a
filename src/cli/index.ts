#!/usr/bin/env node
/**
 * `aiconexus`: a command-line agent for an AIConexus gateway (keys, health, discovery, listening).
 * Every failure prints one line to stderr and exits with status 1.
 */
import { readFileSync } from 'node:fs';
import { commandHelp, commands, runCommand, type Io } from './commands.js';
import { CliError, describeError } from './errors.js';
import { terminalSafe } from './text.js';

function version(): string {
  try {
    // src/cli/index.ts and dist/cli/index.js are both two levels below package.json.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function programHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: aiconexus <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'aiconexus <command> --help' for a command's options.",
    'GATEWAY_URL sets the default gateway (ws://127.0.0.1:8000/ws); GATEWAY_ID the gateway id that',
    "agents expect in the gateway's CHALLENGE (aiconexus-gateway, the gateway's default).",
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and the script); resolves with the exit status. */
async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(programHelp());
    return 1;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const command = commands.find((c) => c.name === rest[0]);
    io.out(command ? commandHelp(command) : programHelp());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    io.out(version());
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  try {
    if (!command) throw new CliError(`unknown command ${JSON.stringify(name)}. See 'aiconexus --help'`);
    return await runCommand(command, rest, io);
  } catch (err) {
    io.err(`aiconexus: ${describeError(err)}`);
    if (io.env.AICONEXUS_DEBUG && err instanceof Error) io.err(String(err.stack).split('\n').map(terminalSafe).join('\n'));
    return 1;
  }
}

const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  onSignal(handler) {
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  },
};

process.exitCode = await main(process.argv.slice(2), processIo);
