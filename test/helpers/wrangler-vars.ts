/**
 * Reads the `[vars.SALLYPORT_SERVICES.<name>]` tables of a wrangler.toml, so the shipped
 * configuration and the docs' examples are validated by the same parser the edge uses.
 * Deliberately tiny: it understands only what those tables hold (`key = "string"` lines,
 * bare or quoted keys, comments) and throws on anything else rather than guessing.
 */
export function servicesFromWranglerToml(toml: string): Record<string, Record<string, string>> {
  const services: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | undefined;
  for (const [n, raw] of toml.split("\n").entries()) {
    const line = raw.replace(/^\s+|\s+$/g, "");
    if (line === "" || line.startsWith("#")) continue;
    const table = /^\[([^\]]+)\]$/.exec(line);
    if (table || line.startsWith("[[")) {
      const m = table ? /^vars\.SALLYPORT_SERVICES\.([A-Za-z0-9_-]+)$/.exec(table[1]!) : null;
      current = m ? (services[m[1]!] = {}) : undefined;
      continue;
    }
    if (!current) continue;
    const kv = /^(?:"([^"]+)"|([A-Za-z0-9_-]+))\s*=\s*"([^"\\]*)"\s*(?:#.*)?$/.exec(line);
    if (!kv) throw new Error(`line ${n + 1}: not understood by the test's TOML reader: ${line}`);
    current[kv[1] ?? kv[2]!] = kv[3]!;
  }
  return services;
}
