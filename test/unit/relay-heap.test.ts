import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

/**
 * cli/relay-heap.ts: with the relaying commands' V8 settings, buffers that die young are freed
 * by young collections alone; without them, the same allocations start full collections (the
 * slow mode of docs/performance.md). Real Node processes, the one that runs the commands.
 */

const run = promisify(execFile);
const ROOT = new URL("../../", import.meta.url);

async function collections(...args: string[]): Promise<{ full: number; young: number }> {
  const script = new URL("test/fixtures/heap-churn.ts", ROOT).pathname;
  const { stdout } = await run(process.execPath, ["--import", "tsx", script, ...args], { cwd: ROOT.pathname });
  return JSON.parse(stdout);
}

describe("the relaying processes' heap", () => {
  it("frees short-lived buffers with young collections only; untuned, the same load starts full ones", async () => {
    const untuned = await collections();
    const tuned = await collections("--tuned");
    expect(untuned.young).toBeGreaterThan(50);
    // If this fails after a Node upgrade, V8 no longer needs the setting: see cli/relay-heap.ts.
    expect(untuned.full, "full collections without the setting").toBeGreaterThan(0);
    expect(tuned.young).toBeGreaterThan(50);
    expect(tuned.full, "full collections with the setting").toBe(0);
  });

  it.each(["connector", "client", "dev"])("`sallyport %s` applies the settings before anything else", (command) => {
    const source = readFileSync(new URL(`cli/commands/${command}.ts`, ROOT), "utf8");
    const body = source.split("export async function run(argv: string[]): Promise<number> {\n")[1] ?? "";
    expect(body.trimStart().startsWith("const heap = tuneHeapForRelaying();")).toBe(true);
    expect(body).toMatch(/const log = stderrLogger\([^)]*\);\n\s*heap\.logTo\(log\);/);
  });
});
