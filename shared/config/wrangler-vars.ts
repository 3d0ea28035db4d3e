import { parse, TomlError } from "smol-toml";
import { err, ok, type Result } from "../result.ts";
import type { ConfigIssue } from "./issues.ts";
import { isRecord } from "./reader.ts";

/**
 * The edge's vars in wrangler.toml: read (the `[vars]` table, by a TOML 1.0 parser) and
 * rendered (`[vars.SALLYPORT_SERVICES.<name>]` tables, as in the repository's wrangler.toml).
 */

/**
 * The `[vars]` table of a wrangler.toml ({} when it has none). A syntax error is reported by
 * line and column only: the parser's message quotes the line, which may hold a secret.
 */
export function readWranglerVars(text: string): Result<Record<string, unknown>, readonly ConfigIssue[]> {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text);
  } catch (e) {
    const where = e instanceof TomlError ? ` (line ${e.line} column ${e.column})` : "";
    return err([{ path: "(file)", message: `is not valid TOML${where}` }]);
  }
  const vars = doc.vars;
  if (vars === undefined) return ok({});
  if (!isRecord(vars)) return err([{ path: "vars", message: "must be a table ([vars])" }]);
  return ok(vars);
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

function key(k: string): string {
  return BARE_KEY.test(k) ? k : JSON.stringify(k);
}

/** Only strings are written; a JSON string literal is a valid TOML basic string (same escapes, TOML 1.0 §String). */
export function renderWranglerVars(
  services: Readonly<Record<string, Readonly<Record<string, string>>>>,
  comments: readonly string[] = [],
): string {
  const lines = comments.map((c) => (c ? `# ${c}` : "#"));
  for (const [name, settings] of Object.entries(services)) {
    if (lines.length) lines.push("");
    lines.push(`[vars.SALLYPORT_SERVICES.${key(name)}]`);
    for (const [k, v] of Object.entries(settings)) lines.push(`${key(k)} = ${JSON.stringify(v)}`);
  }
  return `${lines.join("\n")}\n`;
}
