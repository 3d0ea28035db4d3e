import { parseArgs } from "node:util";

/**
 * Each command's flags as one table that drives both parseArgs and the --help text, so help
 * can never omit a flag the command takes (test/unit/cli-options.test.ts holds every command
 * to it).
 */

export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** The value's placeholder in help, e.g. "FILE". */
  readonly arg?: string;
  /** What the flag does; "\n" starts a continuation line. */
  readonly help: string;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

export interface CommandSpec<T extends OptionTable = OptionTable> {
  /** As in `sallyport NAME`; prefixes every error. */
  readonly name: string;
  /** Usage lines and description: the help above the flags (end it with "\n" for a blank line). */
  readonly synopsis: string;
  readonly options: T;
  /** The help below the flags. */
  readonly epilogue?: string;
  readonly positionals?: boolean;
}

export type Values<T extends OptionTable> = { [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : string };

export type Parsed<T extends OptionTable> =
  | { readonly ok: true; readonly values: Values<T>; readonly positionals: string[] }
  /** Help was printed, or a usage error with it: the exit code to return. */
  | { readonly ok: false; readonly exit: number };

const HELP: OptionSpec = { type: "boolean", short: "h", help: "print this help" };

const withHelp = (options: OptionTable): OptionTable => ({ ...options, help: HELP });

export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(withHelp(spec.options)).map(([name, o]) => [`--${name}${o.arg ? ` ${o.arg}` : ""}`, o.help] as const);
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = rows.flatMap(([flag, help]) => help.split("\n").map((line, i) => `  ${(i === 0 ? flag : "").padEnd(width)}${line}`));
  return `${[spec.synopsis, ...lines, ...(spec.epilogue ? [spec.epilogue] : [])].join("\n")}\n`;
}

/** Writes `sallyport NAME: message` and the help to stderr; returns the exit code for bad flags. */
export function usageError(spec: CommandSpec, message: string): number {
  process.stderr.write(`sallyport ${spec.name}: ${message}\n\n${helpText(spec)}`);
  return 2;
}

export function printHelp(spec: CommandSpec): number {
  process.stdout.write(helpText(spec));
  return 0;
}

/** parseArgs over the table (strict); --help prints the help, a bad flag a usage error. */
export function parseCommand<T extends OptionTable>(spec: CommandSpec<T>, argv: string[]): Parsed<T> {
  const options = Object.fromEntries(
    Object.entries(withHelp(spec.options)).map(([name, o]) => [name, o.short ? { type: o.type, short: o.short } : { type: o.type }]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: spec.positionals ?? false });
  } catch (e) {
    return { ok: false, exit: usageError(spec, (e as Error).message) };
  }
  if (parsed.values.help) return { ok: false, exit: printHelp(spec) };
  return { ok: true, values: parsed.values as Values<T>, positionals: parsed.positionals };
}
