import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Cleanup } from "./cleanup.ts";

/** A fresh connector token: random per call, valid for the edge (≥ 16 printable ASCII). */
export function randomToken(): string {
  return randomBytes(24).toString("base64url");
}

/** A private temporary directory, removed by cleanup. */
export async function tempDir(cleanup: Cleanup): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sallyport-e2e-"));
  cleanup.add(`temp dir ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a secret (e.g. a token) to `dir/name` with mode 0600, as a connector's token file. */
export async function writeSecretFile(dir: string, name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${content}\n`, { mode: 0o600 });
  return path;
}
