import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/processes.ts";

/**
 * The formatter wraps code at biome.jsonc's lineWidth but cannot break a string literal, a
 * template literal, a test title or a comment, so those are split by hand; this keeps them so.
 * The limit is read from biome.jsonc so the two never disagree. Only files git tracks count:
 * the generated browser bundle is .js, and scratch files are nobody's to read.
 */

const lineWidth = Number(/"lineWidth"\s*:\s*(\d+)/.exec(readFileSync(join(ROOT, "biome.jsonc"), "utf8"))?.[1]);

const tracked = execFileSync("git", ["ls-files", "-z", "--", "*.ts"], { cwd: ROOT, encoding: "utf8" })
  .split("\0")
  .filter((path) => path !== "" && existsSync(join(ROOT, path)));

describe("line length", () => {
  it("reads the limit from biome.jsonc and finds the tracked .ts files", () => {
    expect(lineWidth).toBeGreaterThan(0);
    expect(tracked).toContain("test/helpers/processes.ts"); // imported above, so tracked
  });

  it("no tracked .ts file has a line over biome.jsonc's lineWidth", () => {
    const over = tracked.flatMap((path) =>
      readFileSync(join(ROOT, path), "utf8")
        .split(/\r?\n/)
        // Characters as the reader (and grep) counts them, not UTF-16 units.
        .flatMap((line, i) => ([...line].length > lineWidth ? [`${path}:${i + 1} (${[...line].length} characters)`] : [])),
    );
    expect(over, `split these lines to at most ${lineWidth} characters`).toStrictEqual([]);
  });
});
