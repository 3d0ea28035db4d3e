import { copyFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConnectorSea } from "../../cli/build.ts";
import { Cleanup, openClient, ROOT, runCommand, serveWith, tempDir } from "../helpers/index.ts";

/**
 * The connector as one executable file (Node's single executable applications, cli/sea.ts):
 * built by `tsx cli/build.ts --sea`, copied alone into an empty directory and run there with no
 * Node on PATH, it prints the version and pairs a client through a local edge.
 */

const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
/** No Node 22 here (the system's, if any, is older): the executable must bring its own. */
const ENV = { PATH: "/usr/bin:/bin" };

const file = new Cleanup();
afterAll(() => file.run());

let work: string;
let exe: string;

beforeAll(async () => {
  const started = performance.now();
  const built = await buildConnectorSea();
  console.info(`single executable built in ${Math.round(performance.now() - started)} ms`);
  work = await tempDir(file);
  exe = join(work, "sallyport-connector");
  await copyFile(built, exe);
}, 120_000);

describe("sallyport-connector, a single executable", () => {
  it("prints the version, alone in an empty directory", async () => {
    const r = await runCommand(exe, ["--version"], { name: "sea --version", cleanup: file, cwd: work, env: ENV }, 30_000);
    expect(r).toStrictEqual({ code: 0, stdout: PKG.version, stderr: "" });
  });

  it("registers with a local edge and relays a client to the backend", async () => {
    const { backend, clientUrl } = await serveWith(file, "sea", exe, { cwd: work, env: ENV });
    const client = openClient(file, clientUrl);
    await client.opened(10_000);
    await client.send("through one file\n");
    expect((await client.take(17, 10_000)).toString()).toBe("through one file\n");
    expect(backend.connections()).toBe(1);
  });
});
