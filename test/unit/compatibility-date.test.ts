import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { COMPATIBILITY_DATE } from "../../local-edge/compatibility-date.ts";

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

/** Every file that names the date but cannot import it, with how it names it. */
const CARRIERS: ReadonlyArray<{ file: string; pattern: RegExp; count: number }> = [
  { file: "wrangler.toml", pattern: /^compatibility_date = "([^"]+)"/gm, count: 1 },
  { file: "deploy/workerd/sallyport.capnp", pattern: /compatibilityDate = "([^"]+)"/g, count: 2 },
  { file: "README.md", pattern: /`compatibility_date = "([^"]+)"`/g, count: 1 },
  { file: "deploy/workerd/README.md", pattern: /`compatibilityDate` \(`([^`]+)`/g, count: 1 },
];

describe("the compatibility date", () => {
  it.each(CARRIERS)("$file carries COMPATIBILITY_DATE", ({ file, pattern, count }) => {
    const dates = [...read(file).matchAll(pattern)].map((m) => m[1]);
    expect(dates).toEqual(Array(count).fill(COMPATIBILITY_DATE));
  });
});
