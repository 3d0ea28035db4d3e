/**
 * The Node side's log (connector, client, CLI): one JSON object per line when stderr is not a
 * terminal (journald, files), a readable line on a terminal (cli/log.ts decides which). Field names are fixed (sessionId, bindId, service,
 * attempt, closeCode); string values are truncated and stripped of control characters so
 * one record stays one record whatever a peer sent.
 */
export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  log(level: Level, msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const MAX_FIELD = 256;
/**
 * Fields the code writes itself for the operator, never from what a peer sent: the `fix` hint
 * says what to change and is useless cut short. Only escaped, not truncated; a hint may quote
 * local configuration (a token file's path), never a peer's value.
 */
const OWN_TEXT_FIELDS: ReadonlySet<string> = new Set(["fix"]);
/** A record's own keys: a field of the same name takes their place (see `record`). */
const HEAD_KEYS: ReadonlySet<string> = new Set(["time", "level", "msg"]);

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point (log injection)
const CONTROL = /[\u0000-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above, every one of them
const CONTROLS = /[\u0000-\u001f\u007f]/g;

function escapeControls(value: string): string {
  // Tested first: nearly every value has none, and a replace with a callback costs more than a test.
  return CONTROL.test(value) ? value.replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`) : value;
}

export function sanitize(value: string): string {
  const clean = escapeControls(value);
  return clean.length > MAX_FIELD ? `${clean.slice(0, MAX_FIELD)}…` : clean;
}

export interface LoggerOptions {
  readonly level?: Level | undefined;
  readonly json: boolean;
  /** One record, without its newline; `level` lets a sink write warnings at once and buffer the rest. */
  readonly write: (line: string, level: Level) => void;
}

function clean(key: string, v: string | number | boolean): string | number | boolean {
  return typeof v !== "string" ? v : OWN_TEXT_FIELDS.has(key) ? escapeControls(v) : sanitize(v);
}

/**
 * Fields as they follow a record's head: `,"k":v` in JSON, ` k=v` as text. A logger's base
 * fields are serialised once, when it is made: a session's logger says them on every line.
 */
interface Serialised {
  readonly keys: ReadonlySet<string>;
  readonly out: string;
  /** A base field named time, level or msg: each record is merged (see `record`). */
  readonly renamesHead: boolean;
}

const NONE: Serialised = { keys: new Set(), out: "", renamesHead: false };

function serialise(json: boolean, fields: Fields, after: Serialised = NONE): Serialised {
  const keys = new Set(after.keys);
  for (const k in fields) if (fields[k] !== undefined) keys.add(k);
  return { keys, out: after.out + fieldsOut(json, fields), renamesHead: after.renamesHead || [...HEAD_KEYS].some((k) => keys.has(k)) };
}

/** The defined fields, each as it follows a record's head (`field`). */
function fieldsOut(json: boolean, fields: Fields): string {
  let out = "";
  for (const k in fields) {
    const v = fields[k];
    if (v !== undefined) out += field(json, k, v);
  }
  return out;
}

function field(json: boolean, key: string, value: string | number | boolean): string {
  const v = clean(key, value);
  return json ? `,${JSON.stringify(key)}:${JSON.stringify(v)}` : ` ${key}=${typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : v}`;
}

/** True when `fields` names a key already said (a base field, or the record's own): the merge decides then. */
function overrides(fields: Fields, said: ReadonlySet<string>): boolean {
  for (const k in fields) if (fields[k] !== undefined && (said.has(k) || HEAD_KEYS.has(k))) return true;
  return false;
}

/**
 * One record. A field of a base field's name takes its place (and its value), and one named
 * time, level or msg replaces the record's own: both by merging the objects, as rare as they are.
 */
function record(json: boolean, level: Level, msg: string, base: Fields, said: Serialised, fields: Fields): string {
  const time = new Date().toISOString();
  if (said.renamesHead || overrides(fields, said.keys)) {
    const merged = { ...base, ...fields };
    if (!json) return textLine(time, level, msg, fieldsOut(false, merged));
    const all: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(merged)) if (v !== undefined) all[k] = clean(k, v);
    return JSON.stringify({ time, level, msg: sanitize(msg), ...all });
  }
  const own = fieldsOut(json, fields);
  if (json) return `{"time":"${time}","level":"${level}","msg":${JSON.stringify(sanitize(msg))}${said.out}${own}}`;
  return textLine(time, level, msg, said.out + own);
}

function textLine(time: string, level: Level, msg: string, rest: string): string {
  return `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${sanitize(msg)}${rest}`;
}

export function createLogger(opts: LoggerOptions, base: Fields = {}): Logger {
  return logger(opts, base, serialise(opts.json, base));
}

function logger(opts: LoggerOptions, base: Fields, said: Serialised): Logger {
  const min = RANK[opts.level ?? "info"];
  return {
    log(level, msg, fields = {}) {
      if (RANK[level] < min) return;
      opts.write(record(opts.json, level, msg, base, said, fields), level);
    },
    child(fields) {
      const merged = { ...base, ...fields };
      // A child that renames nothing adds its fields behind its parent's, already serialised.
      return logger(opts, merged, overrides(fields, said.keys) ? serialise(opts.json, merged) : serialise(opts.json, fields, said));
    },
  };
}
