import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/processes.ts";

/**
 * docs/architecture.md walks a session through the files by name, and README's Layout names
 * folders and files: a rename that leaves them behind fails here instead of misleading the
 * next newcomer. Every repository path they cite must exist; every function, method or type
 * the architecture page cites must be declared in a file it cites (`Class.method()` in the
 * file that declares the class).
 */

const read = (path: string): string => readFileSync(join(ROOT, path), "utf8");
const ARCHITECTURE = read("docs/architecture.md");

/** Backticked tokens, and bare docs/*.md mentions, that look like repository paths. */
function citedPaths(markdown: string): string[] {
  const ticked = [...markdown.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]!);
  const bare = [...markdown.matchAll(/\b(docs\/[\w-]+\.md)\b/g)].map((m) => m[1]!);
  const isPath = (t: string): boolean => /^[\w.-]+(\/[\w.-]+)*\/?$/.test(t) && t.includes("/") && !t.startsWith("node_modules/");
  return [...new Set([...ticked, ...bare].filter(isPath))];
}

/** `name()`, `Class.member()`, `Class.member` and capitalised names (types, constants, classes). */
function citedNames(markdown: string): string[] {
  const tokens = [...markdown.matchAll(/`([A-Za-z_]\w*(?:\.\w+)?(?:\(\))?)`/g)].map((m) => m[1]!);
  return [...new Set(tokens.filter((t) => t.endsWith("()") || /^[A-Z]/.test(t)))];
}

/** Whether `source` declares `name`: a function, method, class, interface, type, const or property. */
function declares(source: string, name: string): boolean {
  const n = name.replace(/[$]/g, "\\$&");
  return [
    new RegExp(`\\b(function|class|interface|type|const|let|enum)\\s+${n}\\b`),
    // A method or property: `  private async name(`, `  name<T>(`, `  readonly name =`, `  name: (`.
    new RegExp(`^\\s*(?:(?:private|protected|public|static|async|override|readonly|get|set)\\s+)*${n}\\s*(?:<[^>]*>)?\\s*[(=:]`, "m"),
  ].some((re) => re.test(source));
}

describe("docs/architecture.md and README cite what exists", () => {
  it.each(["docs/architecture.md", "README.md"])("every path %s cites exists", (doc) => {
    const paths = citedPaths(read(doc));
    expect(paths.length).toBeGreaterThan(10);
    // dist/ is what `npm pack` and the edge build write (gitignored): a doc may name it before it exists.
    expect(paths.filter((p) => !p.startsWith("dist/") && !existsSync(join(ROOT, p)))).toStrictEqual([]);
  });

  it("every function, method and type the architecture page cites is declared where it says", () => {
    const files = citedPaths(ARCHITECTURE)
      .filter((p) => p.endsWith(".ts"))
      .map((p) => [p, read(p)] as const);
    const names = citedNames(ARCHITECTURE);
    expect(names).toContain("ServiceObject.fetch()");
    const missing = names.filter((token) => {
      const [owner, member] = token.replace(/\(\)$/, "").split(".") as [string, string | undefined];
      return !files.some(([, source]) =>
        member === undefined ? declares(source, owner) : declares(source, owner) && declares(source, member),
      );
    });
    expect(missing, `not declared in any file docs/architecture.md cites: ${missing.join(", ")}`).toStrictEqual([]);
  });

  it("would notice a rename (the checks above can fail)", () => {
    expect(declares("export class BindPool {\n  private fill(): void {}\n}", "fill")).toBe(true);
    expect(declares("export class BindPool {\n  private refill(): void {}\n}", "fill")).toBe(false);
    expect(declares("const x = fill();", "fill")).toBe(false);
    expect(citedNames("`Bind.open()` and `connectBackend()`, the `paired` message, `DEFAULTS`")).toStrictEqual([
      "Bind.open()",
      "connectBackend()",
      "DEFAULTS",
    ]);
    expect(citedPaths("`edge/index.ts`, see docs/protocol.md, `tcp://h:1`, `/_sallyport/bind`")).toStrictEqual([
      "edge/index.ts",
      "docs/protocol.md",
    ]);
  });
});
