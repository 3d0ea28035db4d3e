import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

/**
 * cli/relay-tiering.ts: with the relaying commands' tiering settings, a function run once per
 * session is compiled by TurboFan within 2,500 sessions; at V8's defaults it is not. Real
 * Node processes, the one that runs the commands. That each relaying command applies them:
 * test/unit/relay-heap.test.ts, beside the heap's settings.
 */

const run = promisify(execFile);
const ROOT = new URL("../../", import.meta.url);

/** Sessions until the fixture's per-session handler was optimised; null if not within 2,500. */
async function sessionsToOptimise(...args: string[]): Promise<number | null> {
  const script = new URL("test/fixtures/tier-up.ts", ROOT).pathname;
  const { stdout } = await run(process.execPath, ["--import", "tsx", script, ...args], { cwd: ROOT.pathname });
  return (JSON.parse(stdout) as { sessions: number | null }).sessions;
}

describe("the relaying processes' tiering", () => {
  it("optimises a per-session function within 2,500 sessions; at V8's defaults it is not", async () => {
    expect(await sessionsToOptimise("--tuned"), "with the settings").not.toBeNull();
    // If this fails after a Node upgrade, V8's own threshold came down: see cli/relay-tiering.ts.
    expect(await sessionsToOptimise(), "at V8's defaults").toBeNull();
  });
});
