import { describe, expect, it } from "vitest";
import { findCycles, readImports } from "../helpers/import-graph.ts";
import { ROOT } from "../helpers/processes.ts";

/**
 * The layout is the architecture (docs/architecture.md), and these rules keep it so: no import
 * cycles between files or top-level folders, and each folder imports only what its place in the
 * architecture allows. The graph is read from the sources on disk (committed or not), so a cycle
 * or a forbidden import fails here before review.
 */

const imports = readImports(ROOT);
const folderOf = (path: string): string => (path.includes("/") ? `${path.slice(0, path.indexOf("/"))}/` : path);

interface FolderRule {
  readonly folder: string;
  /** When set, the only repository folders the folder may import from (besides itself). */
  readonly only?: readonly string[];
  /** Repository folders the folder must not import from. */
  readonly not?: readonly string[];
  /** Whether Node built-ins (node:*) are allowed: not in code that runs inside workerd. */
  readonly nodeBuiltins: boolean;
  readonly why: string;
}

const PRODUCT = ["bin/", "cli/", "client/", "connector/", "deploy/", "edge/", "kaazing/", "local-edge/", "net/", "shared/"];

/** Folders with rules of their own; every other product folder only keeps clear of test/ and bench/. */
const OWN_RULES: readonly FolderRule[] = [
  {
    folder: "shared/",
    only: [],
    nodeBuiltins: false,
    why: "shared/ is what both sides of the wire use; the edge compiles it for workerd (no nodejs_compat)",
  },
  { folder: "edge/", only: ["shared/"], nodeBuiltins: false, why: "the Worker is bundled alone for workerd" },
  { folder: "kaazing/", only: ["shared/"], nodeBuiltins: true, why: "the Kaazing import maps XML onto the shared config model only" },
  { folder: "local-edge/", only: ["shared/"], nodeBuiltins: true, why: "the CLI, deploy and bench share it; it depends on none of them" },
  {
    folder: "net/",
    only: ["shared/"],
    nodeBuiltins: true,
    why: "net/ is how the connector, client and probe reach the edge (proxy, trust); they use it, never the reverse",
  },
  {
    folder: "connector/",
    not: ["cli/", "client/", "edge/", "local-edge/", "bench/", "test/"],
    nodeBuiltins: true,
    why: "the connector talks to the edge over the wire, never through its code; the CLI wraps the connector, not the reverse",
  },
  {
    folder: "client/",
    not: ["connector/", "cli/", "edge/", "local-edge/", "kaazing/", "bench/", "test/"],
    nodeBuiltins: true,
    why: "the client speaks the wire protocol from shared/ and reaches the edge through net/; the CLI wraps it",
  },
];

const RULES: readonly FolderRule[] = [
  ...OWN_RULES,
  ...PRODUCT.filter((folder) => !OWN_RULES.some((r) => r.folder === folder)).map(
    (folder): FolderRule => ({
      folder,
      not: ["bench/", "test/"],
      nodeBuiltins: true,
      why: "product code never depends on tests or benchmarks",
    }),
  ),
];

function violations(rule: FolderRule): string[] {
  const found: string[] = [];
  for (const [from, targets] of imports.local) {
    if (folderOf(from) !== rule.folder) continue;
    for (const to of targets) {
      const folder = folderOf(to);
      if (folder === rule.folder) continue;
      if ((rule.only && !rule.only.includes(folder)) || rule.not?.includes(folder)) found.push(`${from} → ${to}`);
    }
    if (!rule.nodeBuiltins)
      for (const spec of imports.external.get(from) ?? []) if (spec.startsWith("node:")) found.push(`${from} → ${spec}`);
  }
  return found;
}

describe("the import graph", () => {
  it("is read: every product folder has files, and every relative import resolves", () => {
    const folders = new Set([...imports.local.keys()].map(folderOf));
    for (const folder of [...PRODUCT, "test/", "bench/"]) expect(folders, folder).toContain(folder);
    expect(imports.local.get("edge/index.ts")).toContain("edge/service-object.ts");
    // Dynamic import() counts too: cli/main.ts loads each command lazily.
    expect(imports.local.get("cli/main.ts")).toContain("cli/commands/dev.ts");
    expect(imports.unresolved).toStrictEqual([]);
  });

  it("has no cycle between files", () => {
    expect(findCycles(imports.local).map((cycle) => cycle.join(" → "))).toStrictEqual([]);
  });

  it("has no cycle between top-level folders", () => {
    const folders = new Map<string, string[]>();
    for (const [from, targets] of imports.local) {
      const edges = folders.get(folderOf(from)) ?? [];
      for (const to of targets) if (folderOf(to) !== folderOf(from) && !edges.includes(folderOf(to))) edges.push(folderOf(to));
      folders.set(folderOf(from), edges);
    }
    expect(findCycles(folders).map((cycle) => cycle.join(" → "))).toStrictEqual([]);
  });

  it.each(RULES.map((rule) => [rule.folder, rule] as const))("%s imports only what its rule allows", (_, rule) => {
    expect(violations(rule), rule.why).toStrictEqual([]);
  });
});

describe("findCycles (so the checks above can fail)", () => {
  const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges));

  it.each([
    ["a chain", { a: ["b"], b: ["c"], c: [] }, []],
    ["a diamond", { a: ["b", "c"], b: ["d"], c: ["d"], d: [] }, []],
    ["a self-import", { a: ["a"] }, [["a", "a"]]],
    ["two files importing each other", { a: ["b"], b: ["a"] }, [["a", "b", "a"]]],
    ["a three-file loop behind an entry", { main: ["x"], x: ["y"], y: ["z"], z: ["x"] }, [["x", "y", "z", "x"]]],
    [
      "two separate loops",
      { a: ["b"], b: ["a"], c: ["d"], d: ["c"] },
      [
        ["c", "d", "c"],
        ["a", "b", "a"],
      ],
    ],
    ["the shortest cycle of a tangle", { a: ["b", "c"], b: ["c"], c: ["a"] }, [["a", "c", "a"]]],
  ])("%s", (_, edges, cycles) => {
    expect(findCycles(graph(edges as Record<string, string[]>)).sort()).toStrictEqual([...cycles].sort());
  });
});
