import { readWranglerVars } from "../../shared/config/wrangler-vars.ts";

/**
 * The `[vars.SALLYPORT_SERVICES.<name>]` tables of a wrangler.toml, read by the same TOML
 * reader `sallyport config check` uses, so the shipped configuration and the docs' examples
 * are validated as the edge would get them. Throws on a file without them.
 */
export type VarValue = string | number | string[];

export function servicesFromWranglerToml(toml: string): Record<string, Record<string, VarValue>> {
  const vars = readWranglerVars(toml);
  if (!vars.ok) throw new Error(`not a wrangler.toml: ${vars.error.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
  const services = vars.value.SALLYPORT_SERVICES;
  if (typeof services !== "object" || services === null) throw new Error("no [vars.SALLYPORT_SERVICES.<name>] tables");
  // The parser's tables have no prototype (a "__proto__" key stays a key); tests compare with plain objects.
  return JSON.parse(JSON.stringify(services)) as Record<string, Record<string, VarValue>>;
}
