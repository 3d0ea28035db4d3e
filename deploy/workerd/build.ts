import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { bundleEdge } from "../../local-edge/bundle.ts";

/**
 * The self-hosted edge's build step: writes the edge bundle (`edge.js`, edge/index.ts bundled
 * as for Cloudflare and for `sallyport dev`) and the workerd config (`sallyport.capnp`) into
 * one directory. Everything site-specific (services.json, tls/, the secrets) is yours and is
 * never written here, so rebuilding after an upgrade replaces code only.
 *
 *   tsx deploy/workerd/build.ts [--out DIR]      (default dist/workerd)
 */

export const CONFIG_TEMPLATE = fileURLToPath(new URL("./sallyport.capnp", import.meta.url));

export async function buildWorkerdDir(out: string): Promise<{ bundle: string; config: string }> {
  await mkdir(out, { recursive: true });
  const bundle = join(out, "edge.js");
  const config = join(out, "sallyport.capnp");
  await writeFile(bundle, await bundleEdge());
  await copyFile(CONFIG_TEMPLATE, config);
  return { bundle, config };
}

async function main(argv: string[]): Promise<number> {
  let out: string;
  try {
    const { values } = parseArgs({ args: argv, options: { out: { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true });
    if (values.help) {
      process.stdout.write(
        "usage: tsx deploy/workerd/build.ts [--out DIR]\nWrites DIR/edge.js and DIR/sallyport.capnp (default DIR: dist/workerd).\n",
      );
      return 0;
    }
    out = resolve(values.out ?? "dist/workerd");
  } catch (e) {
    process.stderr.write(`build: ${(e as Error).message}\n`);
    return 2;
  }
  const { bundle, config } = await buildWorkerdDir(out);
  process.stdout.write(`wrote ${bundle}\nwrote ${config}\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`build: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
