import { existsSync, readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cleanup, type Finished, ROOT, runCommand, serveWith, spawnCommand, tempDir } from "../helpers/index.ts";

/**
 * The package as a user installs it: `npm pack` (whose prepack builds dist/cli/ with esbuild),
 * `npm install -g` of the tarball into a fresh prefix (production dependencies only, as a global
 * install always is), and the installed `sallyport`, found on PATH, run from a directory outside
 * the checkout: --version, config check, service install, dev's message without miniflare, and a
 * connector that pairs a client (the installed probe) through a local edge.
 *
 * npm may take the dependencies from its cache (--prefer-offline) or the registry.
 */

const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; devDependencies: Record<string, string> };
/** Packages the checkout needs and the installed command must not: the loader, the bundler, the local edge. */
const DEV_ONLY = ["tsx", "esbuild", "miniflare", "typescript", "wrangler", "hono", "jose"];
const NPM_TIMEOUT = 120_000;

const file = new Cleanup();
afterAll(() => file.run());

let work: string;
let prefix: string;
let tarball: string;
/** PATH with the prefix's bin first and this Node (22) next, so `#!/usr/bin/env node` finds it. */
let env: Record<string, string>;

const npm = (args: string[], cwd: string): Promise<Finished> =>
  runCommand(
    "npm",
    [...args, "--no-audit", "--no-fund", "--loglevel=error"],
    { name: `npm ${args[0]}`, cleanup: file, cwd, env },
    NPM_TIMEOUT,
  );

const sallyport = (...args: string[]): Promise<Finished> =>
  runCommand("sallyport", args, { name: `sallyport ${args[0]}`, cleanup: file, cwd: work, env }, 30_000);

beforeAll(async () => {
  work = await tempDir(file);
  prefix = join(work, "prefix");
  env = { PATH: `${join(prefix, "bin")}:${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}` };
  const started = performance.now();
  const packed = await npm(["pack", "--pack-destination", work], ROOT);
  expect(packed.code, packed.stderr).toBe(0);
  const name = (await readdir(work)).find((f) => /^sallyport-.*\.tgz$/.test(f));
  expect(name, `npm pack wrote no tarball\n${packed.stdout}\n${packed.stderr}`).toBeDefined();
  tarball = join(work, name!);
  const packedAt = performance.now();
  const installed = await npm(["install", "--global", "--prefix", prefix, "--omit=dev", "--prefer-offline", tarball], work);
  expect(installed.code, installed.stderr).toBe(0);
  console.info(`npm pack ${Math.round(packedAt - started)} ms, npm install -g ${Math.round(performance.now() - packedAt)} ms`);
}, 2 * NPM_TIMEOUT);

describe("the packed tarball", () => {
  it("holds the built JavaScript and the bin, no TypeScript source", async () => {
    const list = await runCommand("tar", ["-tzf", tarball], { name: "tar", cleanup: file, cwd: work }, 10_000);
    const files = list.stdout.split("\n").filter(Boolean);
    expect(files).toContain("package/bin/sallyport.mjs");
    expect(files).toContain("package/dist/cli/main.js");
    expect(files.filter((f) => f.endsWith(".ts"))).toStrictEqual([]);
  });
});

describe("sallyport installed with npm install -g", () => {
  it("is on PATH, with production dependencies only", async () => {
    expect(existsSync(join(prefix, "bin/sallyport"))).toBe(true);
    const deps = await readdir(join(prefix, "lib/node_modules/sallyport/node_modules"));
    expect(deps).toContain("ws");
    expect(deps.filter((d) => DEV_ONLY.includes(d))).toStrictEqual([]);
  });

  it("--version and -V print the package's version", async () => {
    for (const flag of ["--version", "-V"]) {
      const r = await sallyport(flag);
      expect(r, flag).toStrictEqual({ code: 0, stdout: PKG.version, stderr: "" });
    }
  });

  it("config check reads a configuration", async () => {
    const fixture = join(ROOT, "test/fixtures/config/connector-minimal.json");
    const r = await sallyport("config", "check", fixture);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${fixture}: valid connector configuration`);
  });

  it("service install points the unit at the installed sallyport", async () => {
    const root = join(work, "root");
    const r = await sallyport("service", "install", "--prefix", root);
    expect(r.code, r.stderr).toBe(0);
    const unit = await readFile(join(root, "etc/systemd/system/sallyport-connector.service"), "utf8");
    expect(unit).toMatch(
      new RegExp(`^ExecStart=${join(prefix, "bin/sallyport")} connector --config /etc/sallyport/connector\\.json$`, "m"),
    );
    expect(await readFile(join(root, "etc/sallyport/connector.json"), "utf8")).toBe(
      readFileSync(join(ROOT, "deploy/systemd/connector.example.json"), "utf8"),
    );
  });

  it("dev, without the local edge runtime, says how to get it (exit 1)", async () => {
    const r = await sallyport("dev", "--port", "0");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`npm install -g miniflare@${PKG.devDependencies.miniflare}`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  it("dev runs once the local edge runtime is installed next to it, as its message says", async () => {
    // After the tests above, which see the package without it (tests in a file run in order).
    const runtime = `miniflare@${PKG.devDependencies.miniflare}`;
    const added = await npm(["install", "--global", "--prefix", prefix, "--prefer-offline", runtime], work);
    expect(added.code, added.stderr).toBe(0);
    const dev = spawnCommand("sallyport", ["dev", "--port", "0"], { name: "installed dev", cleanup: file, cwd: work, env });
    const url = (await dev.waitForLog((l) => l.raw.startsWith("client URL: "), 30_000, "the client URL")).raw.slice("client URL: ".length);
    await dev.waitForLog((l) => l.raw === "ready", 10_000, "ready");
    const probe = await sallyport("probe", "--url", url);
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout).toMatch(/^paired in [\d.]+ ms \(first reply from the backend: it echoes\)$/m);
  });

  it("runs a connector that pairs a client through a local edge", async () => {
    const { backend, clientUrl } = await serveWith(file, "installed", "sallyport", { cwd: work, env });
    const probe = await sallyport("probe", "--url", clientUrl);
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout).toMatch(/^paired in [\d.]+ ms \(first reply from the backend: it echoes\)$/m);
    expect(backend.connections()).toBe(1);
  });
});
