import { readFile } from "node:fs/promises";

/**
 * What the `sallyport` command carries besides its code: the package's version and the files
 * `sallyport service install` writes (the edge Worker `sallyport dev` runs: local-edge/bundle.ts). From a checkout
 * they are read from the sources. The packed package has no sources and its bundled JavaScript
 * sits elsewhere than the modules it was built from, so cli/build.ts inlines them at pack time
 * (esbuild `define` of SALLYPORT_SHIPPED) and nothing here touches the disk.
 */
export interface Shipped {
  readonly version: string;
  /** Repository-relative path → text, for the files in SHIPPED_FILES. */
  readonly files: Readonly<Record<string, string>>;
  /** The miniflare that `sallyport dev` needs (a devDependency): "miniflare@VERSION". */
  readonly localEdgeRuntime: string;
}

/** The files cli/build.ts inlines: everything shippedText() may be asked for. */
export const SHIPPED_FILES = ["deploy/systemd/sallyport-connector.service", "deploy/systemd/connector.example.json"] as const;
export type ShippedFile = (typeof SHIPPED_FILES)[number];

declare const SALLYPORT_SHIPPED: Shipped | undefined;

/** Set in the packed JavaScript only; `typeof` keeps an undeclared global from throwing under tsx. */
export const built: Shipped | undefined = typeof SALLYPORT_SHIPPED === "undefined" ? undefined : SALLYPORT_SHIPPED;

/** The checkout's root; only asked for from the sources (a CommonJS bundle has no import.meta.url). */
const root = (): URL => new URL("../", import.meta.url);

export async function shippedText(path: ShippedFile): Promise<string> {
  return built ? built.files[path]! : readFile(new URL(path, root()), "utf8");
}

interface PackageJson {
  readonly version: string;
  readonly devDependencies: Record<string, string>;
}

/** package.json of the checkout (cli/build.ts reads the same to inline its facts). */
export async function readPackageJson(): Promise<PackageJson> {
  return JSON.parse(await readFile(new URL("package.json", root()), "utf8")) as PackageJson;
}

export async function packageVersion(): Promise<string> {
  return built ? built.version : (await readPackageJson()).version;
}

export async function localEdgeRuntime(): Promise<string> {
  return built ? built.localEdgeRuntime : `miniflare@${(await readPackageJson()).devDependencies.miniflare}`;
}
