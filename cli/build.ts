/**
 * Builds the packed `sallyport` (npm's prepack runs it): cli/main.ts and the commands it imports
 * lazily, bundled by esbuild into dist/cli/ as ESM for Node 22, one chunk per command so that
 * `sallyport connector` still never loads the local edge. The package's dependencies stay
 * imports (installed with it); the sources, tsx and esbuild do not ship. What the sources read
 * from the checkout at run time is inlined (shared/shipped.ts). bin/sallyport.mjs runs the result
 * when there are no sources beside it.
 *
 *   tsx cli/build.ts        (npm pack / npm publish run it as prepack)
 *   tsx cli/build.ts --sea  the connector alone as one executable file (buildConnectorSea)
 */
import { build } from "esbuild";
import { execFile } from "node:child_process";
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { inject } from "postject";
import { fileURLToPath } from "node:url";
import { bundleEdge, EDGE_SCRIPT_DEFINE } from "../local-edge/bundle.ts";
import { readPackageJson, SHIPPED_FILES, type Shipped } from "./shipped.ts";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** Where the built command goes; package.json "files" ships it, bin/sallyport.mjs imports it. */
export const OUT_DIR = `${ROOT}dist/cli`;
export const NODE_TARGET = "node22";
const run = promisify(execFile);

async function shipped(): Promise<Shipped> {
  const pkg = await readPackageJson();
  const files = Object.fromEntries(await Promise.all(SHIPPED_FILES.map(async (f) => [f, await readFile(`${ROOT}${f}`, "utf8")])));
  return { version: pkg.version, files, localEdgeRuntime: `miniflare@${pkg.devDependencies.miniflare}` };
}

export async function buildCli(): Promise<void> {
  await rm(OUT_DIR, { recursive: true, force: true });
  await build({
    entryPoints: { main: `${ROOT}cli/main.ts` },
    outdir: OUT_DIR,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: NODE_TARGET,
    // Dependencies are installed with the package; miniflare (for `dev`) is looked up at run time.
    packages: "external",
    define: { SALLYPORT_SHIPPED: JSON.stringify(await shipped()), [EDGE_SCRIPT_DEFINE]: JSON.stringify(await bundleEdge()) },
    chunkNames: "[name]-[hash]",
    legalComments: "none",
    logLevel: "warning",
  });
}

/** Where `--sea` puts the connector's single executable (and its intermediate files). */
export const SEA_DIR = `${ROOT}dist/sea`;
export const SEA_EXECUTABLE = `${SEA_DIR}/sallyport-connector`;
/** The marker Node's binary carries for an injected SEA blob (Node's documentation, "Single executable applications"). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

/**
 * cli/sea.ts as a single executable: one CommonJS bundle (what Node 22's SEA runs) with every
 * dependency inside but ws's optional native helpers (ws falls back to JavaScript without them),
 * made into a blob by this Node and injected into a copy of it. Linux ELF, this Node's version.
 */
export async function buildConnectorSea(): Promise<string> {
  await rm(SEA_DIR, { recursive: true, force: true });
  await mkdir(SEA_DIR, { recursive: true });
  const script = `${SEA_DIR}/connector.cjs`;
  const blob = `${SEA_DIR}/connector.blob`;
  await build({
    entryPoints: [`${ROOT}cli/sea.ts`],
    outfile: script,
    bundle: true,
    format: "cjs",
    platform: "node",
    target: NODE_TARGET,
    external: ["bufferutil", "utf-8-validate"],
    define: { SALLYPORT_SHIPPED: JSON.stringify(await shipped()) },
    // cli/shipped.ts reads import.meta.url only from the sources, never once SALLYPORT_SHIPPED is set.
    logOverride: { "empty-import-meta": "silent" },
    legalComments: "none",
    logLevel: "warning",
  });
  const config = `${SEA_DIR}/sea-config.json`;
  await writeFile(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true }));
  await run(process.execPath, ["--experimental-sea-config", config]);
  await copyFile(process.execPath, SEA_EXECUTABLE);
  await inject(SEA_EXECUTABLE, "NODE_SEA_BLOB", await readFile(blob), { sentinelFuse: SEA_FUSE });
  await chmod(SEA_EXECUTABLE, 0o755);
  return SEA_EXECUTABLE;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes("--sea")) {
    process.stdout.write(`built ${await buildConnectorSea()}\n`);
  } else {
    await buildCli();
    process.stdout.write(`built ${OUT_DIR}/main.js\n`);
  }
}
