/**
 * Command-line helpers shared by scripts/soak.ts, scripts/fuzz-long.ts, scripts/faults.ts and the
 * bench/ entry points, on top of node:util `parseArgs`: strict parsing with an options table, and
 * integer options checked with a message naming the option.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type OptionsTable = NonNullable<ParseArgsConfig['options']>;
type Config<T extends OptionsTable> = { args: string[]; options: T; strict: true; allowPositionals: boolean };
/** The parsed values, typed from the options table (@types/node does not export the type by name). */
export type OptionValues<T extends OptionsTable> = ReturnType<typeof parseArgs<Config<T>>>['values'];

/** Bad usage: the message says what is wrong; the caller prints it with its usage line and exits 2. */
export class UsageError extends Error {}

/**
 * `parseArgs` in strict mode, no positionals. A negative number after a string option
 * (`--seed -5`) is taken as its value, as the old hand-written parsers did (parseArgs alone
 * refuses it as ambiguous and wants `--seed=-5`, which works too). Every parse error (unknown
 * option, missing value, value given to a flag, stray argument) becomes a UsageError.
 */
export function parseCommandLine<const T extends OptionsTable>(options: T, argv: string[] = process.argv.slice(2)): OptionValues<T> {
  return parse(options, argv, false).values;
}

/**
 * {@link parseCommandLine} for a command that also takes positional arguments (`bench:ab <rev>`):
 * the option values and the positionals, in order. The caller checks how many it got.
 */
export function parseCommandLineWithPositionals<const T extends OptionsTable>(
  options: T,
  argv: string[] = process.argv.slice(2),
): { values: OptionValues<T>; positionals: string[] } {
  return parse(options, argv, true);
}

function parse<const T extends OptionsTable>(options: T, argv: string[], allowPositionals: boolean): { values: OptionValues<T>; positionals: string[] } {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name !== undefined && Object.hasOwn(options, name) && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      args.push(`${arg}=${next}`);
      i++;
    } else {
      args.push(arg);
    }
  }
  try {
    const config: Config<T> = { args, options, strict: true, allowPositionals };
    const { values, positionals } = parseArgs(config);
    return { values, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** An option holding several words in one argument (e.g. node flags: "--a --b=1"); unset → []. */
export function wordsOption(raw: string | undefined): string[] {
  return (raw ?? '').split(/\s+/).filter(Boolean);
}

/** The integer value of option `--name`, at least `min` (and at most `max`); a UsageError naming the option otherwise. */
export function intOption(name: string, raw: string, min: number, max = Infinity): number {
  return intArgument(`--${name}`, raw, min, max);
}

/** {@link intOption} for any argument, positionals included: `label` names it in the message. */
export function intArgument(label: string, raw: string, min: number, max = Infinity): number {
  const v = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`${label} must be an integer ${max === Infinity ? `≥ ${min}` : `in ${min}..${max}`} (got '${raw}')`);
  }
  return v;
}

/** How a script presents itself in usage errors and --help. */
export interface Cli {
  /** Prefix of error lines, e.g. `soak`. */
  program: string;
  /** The one-line usage. */
  usage: string;
  /** The full --help text. */
  help: string;
  /** Said after a usage error, e.g. `npm run soak -- --help`; none when the usage line is all there is. */
  helpCommand?: string;
}

/**
 * The options `parse` makes of the command line (it returns null for --help). --help prints
 * `cli.help` and exits 0; bad usage prints the message and the usage line and exits 2.
 */
export function optionsOrExit<T>(cli: Cli, parse: (argv: string[]) => T | null, argv: string[] = process.argv.slice(2)): T {
  let opts: T | null;
  try {
    opts = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const hint = cli.helpCommand ? `\n(${cli.helpCommand} for the options)` : '';
    console.error(`${cli.program}: ${err.message}\n${cli.usage}${hint}`);
    process.exit(2);
  }
  if (opts === null) {
    console.log(cli.help);
    process.exit(0);
  }
  return opts;
}
