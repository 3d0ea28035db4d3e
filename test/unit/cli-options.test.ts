import { describe, expect, it, vi } from "vitest";
import { COMMAND as client } from "../../cli/commands/client.ts";
import { COMMAND as config } from "../../cli/commands/config.ts";
import { COMMAND as connector } from "../../cli/commands/connector.ts";
import { COMMAND as dev } from "../../cli/commands/dev.ts";
import { COMMAND as probe } from "../../cli/commands/probe.ts";
import { COMMAND as service } from "../../cli/commands/service.ts";
import { CONNECTOR_FLAGS, parseFlags } from "../../connector/config-load.ts";
import { type CommandSpec, helpText, parseCommand } from "../../cli/options.ts";

const COMMANDS: readonly CommandSpec[] = [client, config, connector, dev, probe, service];

/** The flags a help text describes: `--name` at the start of an option line. */
const described = (help: string): string[] => [...help.matchAll(/^ {2}--([a-z0-9-]+)/gm)].map((m) => m[1]!);

describe("cli/options: one table drives parseArgs and --help", () => {
  it.each(COMMANDS.map((c) => [c.name, c] as const))("sallyport %s --help describes every flag it parses, and only those", (_, spec) => {
    expect(described(helpText(spec))).toEqual([...Object.keys(spec.options), "help"]);
    for (const name of Object.keys(spec.options)) {
      const o = spec.options[name]!;
      const argv = o.type === "string" ? [`--${name}`, "x"] : [`--${name}`];
      const parsed = parseCommand(spec, argv);
      expect(parsed.ok && parsed.values[name], name).toBe(o.type === "string" ? "x" : true);
    }
  });

  it("the connector's help covers every flag config-load parses (issue 11: it omitted --cert-file and three more)", () => {
    const help = described(helpText(connector));
    for (const flag of ["cert-file", "key-file", "edge-cert-sha256", "name"]) expect(help).toContain(flag);
    expect(help).toEqual(expect.arrayContaining(Object.keys(CONNECTOR_FLAGS)));
    expect({ ...parseFlags(["--edge-cert-sha256", "ab", "--name", "n"]) }).toStrictEqual({ "edge-cert-sha256": "ab", name: "n" });
  });

  it("aligns help: a flag's text starts in the same column on every line", () => {
    const lines = helpText(client)
      .split("\n")
      .filter((l) => l.startsWith("  --"));
    const columns = new Set(lines.map((l) => /^ {2}--\S+(?: \S+)? +/.exec(l)![0].length));
    expect(columns.size).toBe(1);
  });

  it("a flag it does not know is a usage error (exit 2) that names it and shows the help", () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => written.push(String(chunk)) > 0);
    try {
      expect(parseCommand(probe, ["--bogus"])).toStrictEqual({ ok: false, exit: 2 });
    } finally {
      spy.mockRestore();
    }
    expect(written.join("")).toMatch(/^sallyport probe: .*'--bogus'[\s\S]*\n {2}--token-file FILE/);
  });
});
