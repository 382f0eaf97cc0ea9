/**
 * The command line of every `npm run` command and entry point, handled one way:
 * - `--help` or `-h` (anywhere before a `--`) prints the command's help on stdout and exits 0 before the command does
 *   anything: its usage line, what it does, its arguments and options, the environment variables that matter to it,
 *   an example;
 * - anything it does not take (an unknown option, an option without its value, an extra argument) is one line on
 *   stderr, `<name>: <problem>; <usage line>; try --help`, and exit 2. A command's own checks of what was parsed
 *   (an unknown subcommand, a bad value) end the same way through `usageError`.
 * Parsing is node's `util.parseArgs` in strict mode: `parseCommandLine` takes the same configuration (options,
 * allowPositionals, tokens) and returns the same result. How a command ends (its exit code, a failure's one line) is
 * `runMain`'s.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { messageOf, stackOf } from './error-text';
import PROCESS_HELP from './process-help.json';

/** What `--help` prints and every usage error quotes. Texts are written on one line each; the help wraps them. */
export interface Command {
  /** Prefix of the command's error lines, usually its npm script name (`migrate`, `check:fresh`). */
  name: string;
  /** One line starting `usage: `: the first line of the help, quoted by every usage error. */
  usage: string;
  /** What the command does, in a few sentences. */
  summary: string;
  /** Its positional arguments and options as [name, meaning]; `-h, --help` is added at the end. */
  arguments?: readonly (readonly [string, string])[];
  /** The environment variables that matter to it, as [name, meaning]. */
  environment: readonly (readonly [string, string])[];
  /** One example command line (or a few). */
  example: string | readonly string[];
  /** Where to read more. */
  more?: string;
}

/** The `parseArgs` configuration a command gives; the arguments and strict mode are the helper's. */
export type CommandConfig = Omit<ParseArgsConfig, 'args' | 'strict'>;

/** What `parseCommandLine` returns for the configuration `T`: `parseArgs`'s result in strict mode. */
export type CommandLine<T extends CommandConfig> = ReturnType<typeof parseArgs<T & { strict: true }>>;

/** A wrong command line found by a command's own checks, for code that reports it later through `usageError`. */
export class UsageError extends Error {}

/** Width the help text is wrapped to. */
const WIDTH = 100;
/** Widest name column of the help's tables; a longer name gets its meaning on the next line. */
const NAME_COLUMN = 30;
const HELP_ROW = ['-h, --help', 'print this help and exit'] as const;

/** Splits `text` into lines of at most `width` characters, at spaces (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** Two aligned columns, indented by two spaces; meanings wrap under their own column. */
function table(rows: readonly (readonly [string, string])[]): string[] {
  const column = Math.min(NAME_COLUMN, Math.max(...rows.map(([name]) => name.length)));
  const indent = ' '.repeat(2 + column + 2);
  return rows.flatMap(([name, meaning]) => {
    const [first = '', ...rest] = wrap(meaning, WIDTH - indent.length);
    const head = name.length > column ? [`  ${name}`, `${indent}${first}`] : [`  ${name.padEnd(column)}  ${first}`];
    return [...head, ...rest.map((line) => `${indent}${line}`)];
  });
}

/** The text `--help` prints for `command`. */
export function helpText(command: Command): string {
  const examples = typeof command.example === 'string' ? [command.example] : command.example;
  return [
    command.usage,
    '',
    ...wrap(command.summary, WIDTH),
    '',
    'arguments:',
    ...table([...(command.arguments ?? []), HELP_ROW]),
    '',
    'environment:',
    ...table(command.environment),
    '',
    examples.length === 1 ? 'example:' : 'examples:',
    ...examples.map((line) => `  ${line}`),
    ...(command.more === undefined ? [] : ['', ...wrap(`more: ${command.more}`, WIDTH)]),
    '',
  ].join('\n');
}

/** True when `argv` asks for help: `--help` or `-h` before any `--` (after it, arguments are only data). */
export function helpRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((arg) => arg === '--help' || arg === '-h');
}

/** Prints the help of `command` on stdout and exits 0. */
export function exitWithHelp(command: Command): never {
  process.stdout.write(helpText(command));
  process.exit(0);
}

/** Prints `<name>: <problem>; <usage line>; try --help` on stderr and exits 2. */
export function usageError(command: Command, problem: string): never {
  process.stderr.write(`${command.name}: ${problem}; ${command.usage}; try --help\n`);
  process.exit(2);
}

/** The first sentence of a `parseArgs` error, lower-cased (`unknown option '--x'`); other errors are rethrown. */
function parseProblem(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (!(error instanceof Error) || typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw error;
  const sentence = (error.message.split('\n')[0] ?? '')
    .replace(/\. (To specify a positional argument|This command does not take) .*$/, '')
    .replace(/\.$/, '');
  return `${sentence.charAt(0).toLowerCase()}${sentence.slice(1)}`;
}

/**
 * Parses `argv` with `util.parseArgs` (strict) and `config`, which adds `--help` / `-h` to the options: help exits 0
 * after printing it (`exitWithHelp`), a command line the configuration refuses exits 2 (`usageError`). Commands that
 * take no arguments pass `{}`.
 */
export function parseCommandLine<const T extends CommandConfig>(
  command: Command,
  config: T,
  argv: readonly string[] = process.argv.slice(2),
): CommandLine<T> {
  if (helpRequested(argv)) exitWithHelp(command);
  let parsed;
  try {
    parsed = parseArgs({
      ...config,
      args: argv,
      strict: true,
      options: { ...config.options, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    return usageError(command, parseProblem(error));
  }
  if ((parsed.values as { help?: boolean }).help === true) exitWithHelp(command); // e.g. in a group of short options
  return parsed as CommandLine<T>;
}

/** A process entry point: each runs one of our processes and takes no arguments (settings come from the environment). */
export type ProcessName = keyof typeof PROCESS_HELP;

/**
 * The help of a process entry point (`npm run api`, `worker`, `realtime`, `codec-server`): its summary, settings and
 * example are data, in lib/process-help.json, one entry per process.
 */
export function processCommand(name: ProcessName): Command {
  const help = PROCESS_HELP[name];
  return {
    name,
    usage: `usage: npm run ${name} (no arguments: settings come from the environment)`,
    summary: help.summary,
    environment: help.environment.map(([variable = '', meaning = '']) => [variable, meaning] as const),
    example: help.example,
    more: help.more,
  };
}

/** How `runMain` ends a command whose `main` failed. */
export interface FailureEnding {
  /** The exit code (the chaos run and the reset sweep keep 1 for "violations found"). @default 1 */
  exitCode?: number;
  /** The line carries the error's stack, not only its message: for runs where no failure is expected. @default false */
  stack?: boolean;
}

/**
 * Runs a command's `main`, the one way every command ends: a number it returns is the exit code (otherwise the
 * process ends when its work does); a failure is one line on stderr, `<prefix>: <message>`, and exit code 1 (both as
 * `failure` says).
 */
export function runMain(
  prefix: string,
  main: () => Promise<number | void> | number | void,
  failure: FailureEnding = {},
): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        if (typeof code === 'number') process.exit(code);
      },
      (error: unknown) => {
        process.stderr.write(`${prefix}: ${failure.stack === true ? stackOf(error) : messageOf(error)}\n`);
        process.exit(failure.exitCode ?? 1);
      },
    );
}
