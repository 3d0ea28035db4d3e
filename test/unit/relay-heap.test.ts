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
const RUNS = 3;

async function collections(...args: string[]): Promise<{ full: number; young: number }> {
  const script = new URL("test/fixtures/heap-churn.ts", ROOT).pathname;
  const { stdout } = await run(process.execPath, ["--import", "tsx", script, ...args], { cwd: ROOT.pathname });
  return JSON.parse(stdout);
}

describe("the relaying processes' heap", () => {
  it("frees short-lived buffers with young collections; untuned, the same load starts many more full ones", async () => {
    // Three runs of each: a run's count varies (untuned 2–14 full collections, tuned 0–2 —
    // buffers that live long enough to be promoted still need one now and then).
    const untuned: Array<{ full: number; young: number }> = [];
    const tuned: Array<{ full: number; young: number }> = [];
    for (let i = 0; i < RUNS; i++) {
      untuned.push(await collections());
      tuned.push(await collections("--tuned"));
    }
    const total = (runs: typeof untuned, k: "full" | "young"): number => runs.reduce((n, r) => n + r[k], 0);
    expect(total(untuned, "young")).toBeGreaterThan(50 * RUNS);
    expect(total(tuned, "young")).toBeGreaterThan(50 * RUNS);
    // If this fails after a Node upgrade, V8 no longer needs the setting: see cli/relay-heap.ts.
    expect(total(untuned, "full"), "full collections without the setting").toBeGreaterThanOrEqual(RUNS);
    expect(total(tuned, "full") * 2, "full collections with the setting, twice over").toBeLessThan(total(untuned, "full"));
  });

  // The tiering settings' behaviour: test/unit/relay-tiering.test.ts.
  it.each(["connector", "client", "dev"])("`sallyport %s` applies the V8 settings, heap then tiering, before anything else", (command) => {
    const source = readFileSync(new URL(`cli/commands/${command}.ts`, ROOT), "utf8");
    const body = source.split("export async function run(argv: string[]): Promise<number> {\n")[1] ?? "";
    expect(body).toMatch(/^\s*const heap = tuneHeapForRelaying\(\);\n\s*tierUpSooner\(\);\n/);
    expect(body).toMatch(/const log = stderrLogger\([^)]*\);\n\s*heap\.logTo\(log\);/);
  });
});
