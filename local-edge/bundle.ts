import { build } from "esbuild";
import { fileURLToPath } from "node:url";

/** Bundles edge/index.ts the way wrangler does, in memory, for Miniflare. */
export async function bundleEdge(): Promise<string> {
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
  });
  return result.outputFiles[0]!.text;
}
