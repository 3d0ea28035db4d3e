/**
 * Reads the `[vars.SALLYPORT_SERVICES.<name>]` tables of a wrangler.toml, so the shipped
 * configuration and the docs' examples are validated by the same parser the edge uses.
 * Deliberately tiny: it understands only what those tables hold — `key = value` lines with
 * bare or quoted keys, where a value is a basic string, an integer or a one-line array of
 * strings — and comments; it throws on anything else rather than guessing.
 */
export type VarValue = string | number | string[];

const STRING = /^"([^"\\]*)"$/;
const INTEGER = /^(\d+)$/;
const ARRAY = /^\[\s*((?:"[^"\\]*"\s*,\s*)*(?:"[^"\\]*"\s*,?\s*)?)\]$/;

function value(text: string): VarValue | undefined {
  const s = STRING.exec(text);
  if (s) return s[1]!;
  const n = INTEGER.exec(text);
  if (n) return Number(n[1]);
  const a = ARRAY.exec(text);
  if (a) return [...a[1]!.matchAll(/"([^"\\]*)"/g)].map((m) => m[1]!);
  return undefined;
}

export function servicesFromWranglerToml(toml: string): Record<string, Record<string, VarValue>> {
  const services: Record<string, Record<string, VarValue>> = {};
  let current: Record<string, VarValue> | undefined;
  for (const [n, raw] of toml.split("\n").entries()) {
    const line = raw.replace(/\s+#[^"]*$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const table = /^\[([^\]]+)\]$/.exec(line);
    if (table || line.startsWith("[[")) {
      const m = table ? /^vars\.SALLYPORT_SERVICES\.([A-Za-z0-9_-]+)$/.exec(table[1]!) : null;
      current = undefined;
      if (m) {
        current = {};
        services[m[1]!] = current;
      }
      continue;
    }
    if (!current) continue;
    const kv = /^(?:"([^"]+)"|([A-Za-z0-9_-]+))\s*=\s*(.+)$/.exec(line);
    const v = kv ? value(kv[3]!.trim()) : undefined;
    if (!kv || v === undefined) throw new Error(`line ${n + 1}: not understood by the test's TOML reader: ${line}`);
    current[kv[1] ?? kv[2]!] = v;
  }
  return services;
}
