/**
 * Renders edge services as the wrangler.toml tables the edge reads
 * (`[vars.SALLYPORT_SERVICES.<name>]`, as in the repository's wrangler.toml). Only strings are
 * written; a JSON string literal is a valid TOML basic string (same escapes, TOML 1.0 §String).
 */

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

function key(k: string): string {
  return BARE_KEY.test(k) ? k : JSON.stringify(k);
}

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
