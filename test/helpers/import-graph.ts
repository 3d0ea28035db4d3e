import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import ts from "typescript";

/**
 * The import graph of the repository's own sources, read with the TypeScript compiler API
 * (already a devDependency) rather than a dedicated tool such as dependency-cruiser: tsc's own
 * scanner sees every form of import (static, `import type`, `export … from`, dynamic `import()`),
 * ts.resolveModuleName resolves specifiers exactly as `tsc -p .` does, and the rules the
 * project needs (a handful of folder prefixes, no cycles) are a few lines of code on top, with
 * no new dependency tree to install and keep current.
 */

/** Directories that are not the project's sources: installed, generated or recorded. */
const NOT_SOURCES = new Set(["node_modules", "dist", "test-artifacts", ".git", ".wrangler"]);
/** Compiled sources; plain .js here is generated (client/browser/sallyport.js) or a fixture. */
const SOURCE = /\.(ts|mts|cts|mjs)$/;

export interface Imports {
  /** Repository-relative path ("connector/bind.ts") → the repository files it imports. */
  readonly local: ReadonlyMap<string, readonly string[]>;
  /** Repository-relative path → the package and built-in specifiers it imports ("ws", "node:net"). */
  readonly external: ReadonlyMap<string, readonly string[]>;
  /** Relative specifiers that resolve to no file: `file: specifier`. */
  readonly unresolved: readonly string[];
}

function sourceFiles(root: string, dir = root): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (NOT_SOURCES.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(root, path));
    else if (SOURCE.test(entry.name) && !entry.name.endsWith(".d.ts")) files.push(path);
  }
  return files;
}

/** Every import of every source file under root, resolved with root's tsconfig.json. */
export function readImports(root: string): Imports {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, "tsconfig.json"), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  });
  const options = config!.options;
  const repoPath = (abs: string): string => relative(root, abs).split(sep).join("/");
  const local = new Map<string, string[]>();
  const external = new Map<string, string[]>();
  const unresolved: string[] = [];

  for (const file of sourceFiles(root)) {
    const from = repoPath(file);
    const mine: string[] = [];
    const theirs: string[] = [];
    for (const { fileName: spec } of ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles) {
      if (!spec.startsWith(".")) {
        theirs.push(spec);
        continue;
      }
      // The packed bin's import of what `npm pack` builds (dist/, gitignored): not source, not a rule's concern.
      if (/(^|\/)dist\//.test(spec.replace(/^(\.\.?\/)+/, ""))) continue;
      const resolved = ts.resolveModuleName(spec, file, options, ts.sys).resolvedModule?.resolvedFileName;
      if (resolved === undefined || resolved.includes("/node_modules/")) unresolved.push(`${from}: ${spec}`);
      else mine.push(repoPath(resolved));
    }
    local.set(from, [...new Set(mine)]);
    external.set(from, [...new Set(theirs)]);
  }
  return { local, external, unresolved };
}

/**
 * The cycles of a directed graph, one per strongly connected component with more than one node
 * (or a node importing itself), each written as a closed path `a → b → … → a`: Tarjan's
 * algorithm finds the components, a breadth-first search inside each names one shortest cycle.
 */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];

  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) components.push(component);
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);

  return components.map((component) => shortestCycle(graph, new Set(component)));
}

function shortestCycle(graph: ReadonlyMap<string, readonly string[]>, component: ReadonlySet<string>): string[] {
  const start = [...component].sort()[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const next of graph.get(node) ?? []) {
      if (!component.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
        return [...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  throw new Error(`no cycle through ${start} in its own strongly connected component`);
}
