import { fileURLToPath } from "node:url";

/**
 * The packed `sallyport` carries the bundle made at pack time (cli/build.ts defines it; apart from
 * shared/shipped.ts so that only `sallyport dev` loads it), so esbuild, a devDependency, is
 * loaded only when running from the sources. `typeof` keeps the undeclared global from throwing.
 */
declare const SALLYPORT_EDGE_SCRIPT: string | undefined;
export const EDGE_SCRIPT_DEFINE = "SALLYPORT_EDGE_SCRIPT";

/**
 * Bundles edge/index.ts the way wrangler does, in memory, for Miniflare. `plugins`: esbuild
 * plugins for a variant (the bench's edge speaking fewer protocol versions); none for the edge as shipped.
 */
export async function bundleEdge(plugins: readonly import("esbuild").Plugin[] = []): Promise<string> {
  if (typeof SALLYPORT_EDGE_SCRIPT === "string" && plugins.length === 0) return SALLYPORT_EDGE_SCRIPT;
  const { build } = await import("esbuild");
  const entry = fileURLToPath(new URL("../edge/index.ts", import.meta.url));
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    external: ["cloudflare:*"],
    write: false,
    logLevel: "silent",
    plugins: [...plugins],
  });
  return result.outputFiles[0]!.text;
}
