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

function escapeControls(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point (log injection)
  return value.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function sanitize(value: string): string {
  const clean = escapeControls(value);
  return clean.length > MAX_FIELD ? `${clean.slice(0, MAX_FIELD)}…` : clean;
}

export interface LoggerOptions {
  readonly level?: Level | undefined;
  readonly json: boolean;
  readonly write: (line: string) => void;
}

export function createLogger(opts: LoggerOptions, base: Fields = {}): Logger {
  const min = RANK[opts.level ?? "info"];
  const { json, write } = opts;
  return {
    log(level, msg, fields = {}) {
      if (RANK[level] < min) return;
      const all: Fields = { ...base, ...fields };
      const clean: Record<string, string | number | boolean> = {};
      for (const [k, v] of Object.entries(all)) {
        if (v !== undefined) clean[k] = typeof v !== "string" ? v : OWN_TEXT_FIELDS.has(k) ? escapeControls(v) : sanitize(v);
      }
      if (json) {
        write(JSON.stringify({ time: new Date().toISOString(), level, msg: sanitize(msg), ...clean }));
      } else {
        const rest = Object.entries(clean).map(([k, v]) => `${k}=${typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : v}`);
        write(
          `${new Date().toISOString().slice(11, 23)} ${level.toUpperCase().padEnd(5)} ` +
            `${sanitize(msg)}${rest.length ? " " + rest.join(" ") : ""}`,
        );
      }
    },
    child(fields) {
      return createLogger(opts, { ...base, ...fields });
    },
  };
}
