import { build } from "esbuild";
import { fileURLToPath } from "node:url";

/**
 * Builds client/browser/sallyport.js from client/browser/entry.ts (ESM, no dependencies).
 * `npm run build:browser` runs this file; the browser test calls buildBrowserHelper() and
 * serves the result from memory, so it never tests a stale build.
 */

export const ENTRY = fileURLToPath(new URL("./entry.ts", import.meta.url));
export const OUTFILE = fileURLToPath(new URL("./sallyport.js", import.meta.url));

const BANNER =
  "// Sallyport browser helper. Generated from client/browser/entry.ts by client/browser/build.ts (npm run build:browser): do not edit.";

export async function buildBrowserHelper(opts: { write?: boolean } = {}): Promise<string> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outfile: OUTFILE,
    write: opts.write ?? false,
    banner: { js: BANNER },
    legalComments: "none",
    logLevel: "silent",
  });
  if (opts.write) return OUTFILE;
  return result.outputFiles![0]!.text;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildBrowserHelper({ write: true });
  process.stdout.write(`wrote ${out}\n`);
}
