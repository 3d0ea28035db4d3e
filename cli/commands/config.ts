import { mkdir, readFile, writeFile } from "node:fs/promises";
import { exists } from "../files.ts";
import { join } from "node:path";
import { ConfigError, type ConfigIssue } from "../../shared/config/issues.ts";
import type { KaazingImport } from "../../kaazing/model.ts";
import { renderWranglerVars } from "../../shared/config/wrangler-vars.ts";
import { checkConfigText } from "../config-check.ts";
import { type CommandSpec, parseCommand, printHelp, usageError } from "../options.ts";
import { importKaazingXml, looksLikeXml } from "../../kaazing/xml.ts";

export const COMMAND = {
  name: "config",
  synopsis: `usage: sallyport config check FILE
       sallyport config import FILE [--out DIR] [--force]

  check    validate a connector JSON file, a Kaazing gateway-config.xml (or a bare
           <service>), the edge's wrangler.toml (its [vars]; any FILE ending in .toml), or
           the edge's vars as JSON ({"SALLYPORT_SERVICES": {...}}) and list every problem.
           Secrets are not read. Exit 0 if valid, 1 if not.
  import   map a Kaazing Enterprise Shield configuration to Sallyport's: an internal
           gateway's <service> becomes connector JSON, a DMZ gateway's a wrangler.toml
           [vars] table, with one line explaining each element. Exit 1, naming each
           element, when something cannot be honoured.`,
  options: {
    out: { type: "string", arg: "DIR", help: "write connector.json and/or wrangler-vars.toml into DIR instead of printing" },
    force: { type: "boolean", help: "overwrite those files if they exist" },
  },
  positionals: true,
} as const satisfies CommandSpec;

const usage = (message: string): number => usageError(COMMAND, message);

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") return printHelp(COMMAND) + (sub === undefined ? 2 : 0);
  if (sub !== "check" && sub !== "import") return usage(`unknown subcommand "${sub}"`);
  const args = parseCommand(COMMAND, rest);
  if (!args.ok) return args.exit;
  const { values, positionals } = args;
  if (positionals.length !== 1) return usage(`${sub} takes one FILE`);
  if (sub === "check" && (values.out !== undefined || values.force)) return usage("--out and --force are for import");
  const file = positionals[0]!;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    return problems(file, [{ path: "(file)", message: `cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})` }]);
  }
  return sub === "check" ? check(file, text) : importFile(file, text, values.out, values.force ?? false);
}

function problems(file: string, issues: readonly ConfigIssue[]): number {
  process.stderr.write(`${new ConfigError(file, issues).message}\n`);
  return 1;
}

const KIND_NAME = { kaazing: "Kaazing gateway configuration", connector: "connector configuration", edge: "edge configuration" };

function check(file: string, text: string): number {
  const result = checkConfigText(file, text);
  if (result.issues.length) return problems(file, result.issues);
  process.stdout.write(`${file}: valid ${KIND_NAME[result.kind!]}\n${result.lines.map((l) => `  ${l}\n`).join("")}`);
  return 0;
}

async function importFile(file: string, text: string, out: string | undefined, force: boolean): Promise<number> {
  if (!looksLikeXml(file, text)) {
    return problems(file, [{ path: "(file)", message: "is not Kaazing XML; `sallyport config check` validates native configurations" }]);
  }
  const imported = importKaazingXml(text);
  if (!imported.ok) return problems(file, imported.error);
  const outputs = render(file, imported.value);
  const report = explain(file, imported.value);
  if (out === undefined) {
    process.stdout.write([report, ...outputs.map((o) => `# ${o.name} — ${o.hint}\n${o.text}`)].join("\n"));
    return 0;
  }
  await mkdir(out, { recursive: true });
  const targets = outputs.map((o) => ({ ...o, path: join(out, o.name) }));
  if (!force) {
    const existing = (await Promise.all(targets.map(async (t) => ((await exists(t.path)) ? t.path : undefined)))).filter(Boolean);
    if (existing.length) {
      process.stderr.write(
        `sallyport config import: ${existing.join(", ")} already exist${existing.length === 1 ? "s" : ""}; pass --force to overwrite\n`,
      );
      return 1;
    }
  }
  for (const t of targets) await writeFile(t.path, t.text);
  process.stdout.write(`${report}\n${targets.map((t) => `wrote ${t.path} — ${t.hint}\n`).join("")}`);
  return 0;
}

function explain(file: string, result: KaazingImport): string {
  const roles = result.services.map(
    (s) => `#   ${s.path}: ${s.role === "internal" ? "internal gateway → connector service" : "DMZ gateway → edge service"} "${s.name}"`,
  );
  const notes = result.notes.map((n) => `#   ${n.path}: ${n.text}`);
  return [`# ${file} (Kaazing Enterprise Shield) → Sallyport`, ...roles, "#", "# How each element maps:", ...notes, ""].join("\n");
}

function render(file: string, result: KaazingImport): Array<{ name: string; text: string; hint: string }> {
  const outputs: Array<{ name: string; text: string; hint: string }> = [];
  if (result.connector) {
    outputs.push({
      name: "connector.json",
      text: `${JSON.stringify(result.connector, null, 2)}\n`,
      hint: "run with: sallyport connector --config connector.json --token-file FILE (or SALLYPORT_TOKEN_FILE)",
    });
  }
  if (result.edge) {
    const header = [
      `Imported from ${file} by \`sallyport config import\`; add to the edge's wrangler.toml.`,
      "Connector tokens are a secret: wrangler secret put SALLYPORT_CONNECTOR_TOKENS",
    ];
    const handOver = result.notes.filter((n) => n.text.includes("not an edge setting")).map((n) => `${n.path}: ${n.text}`);
    outputs.push({
      name: "wrangler-vars.toml",
      text: renderWranglerVars(result.edge.SALLYPORT_SERVICES, handOver.length ? [...header, "", ...handOver] : header),
      hint: "the edge's [vars]; set SALLYPORT_CONNECTOR_TOKENS with wrangler secret put",
    });
  }
  return outputs;
}
