import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, it, type TestContext } from "vitest";

/**
 * Tools some e2e files need beyond Node (Chromium, systemd-analyze), installed in CI by
 * .ci/install-browser.sh and .ci/install-system-deps.sh. A local run without one skips the
 * tests that need it and prints why; under CI=true (as .ci/run sets it) the same absence fails
 * the run, so CI cannot go green with a tier silently gone.
 */

/** CI=true (or CI=1), the convention .ci/run and the .ci/install-*.sh scripts share. */
export const IN_CI = ["true", "1"].includes(process.env.CI ?? "");

export interface Tool {
  readonly name: string;
  /** The command or path the tests run; set only when the tool is there. */
  readonly path?: string;
  /** The tool's first line of `--version`, or why it is missing and how to install it. */
  readonly detail: string;
}

/** Debian's Chromium (never Playwright's download); CHROMIUM_PATH points a local run at another build. */
export function findChromium(): Tool {
  const path = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  return existsSync(path)
    ? { name: "Chromium", path, detail: path }
    : { name: "Chromium", detail: `${path} is missing (run .ci/install-browser.sh, or set CHROMIUM_PATH)` };
}

/** systemd-analyze from PATH (Debian's `systemd` package). */
export function findSystemdAnalyze(): Tool {
  const r = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
  return r.status === 0
    ? { name: "systemd-analyze", path: "systemd-analyze", detail: r.stdout.split("\n")[0]! }
    : { name: "systemd-analyze", detail: "not on PATH (run .ci/install-system-deps.sh, or apt-get install systemd)" };
}

/**
 * Whether the tests of `file` that need `tool` can run. When it is missing: locally they skip
 * and this prints why; under CI=true the file also gets a test that fails saying so.
 */
export function needTool(file: string, tool: Tool): tool is Tool & { path: string } {
  if (tool.path !== undefined) return true;
  const reason = `${tool.name}: ${tool.detail}`;
  if (IN_CI) {
    describe(`${tool.name}, required under CI=true`, () => {
      it("is installed", () => {
        throw new Error(`${reason}. Under CI=true a missing tool fails the run instead of skipping the tests that need it.`);
      });
    });
  } else {
    // Straight to stderr: vitest.config.ts shows console output only for failed tests.
    process.stderr.write(`${file}: skipping the tests that need ${reason}\n`);
  }
  return false;
}

/** Inside a test: the installed tool lacks a capability it needs. Skips locally, fails under CI=true. */
export function skipOrFail(ctx: TestContext, reason: string): void {
  if (IN_CI) throw new Error(`${reason}. Under CI=true this fails instead of skipping.`);
  process.stderr.write(`${ctx.task.file.name} > ${ctx.task.name}: skipped: ${reason}\n`);
  ctx.skip(reason);
}
