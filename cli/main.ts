#!/usr/bin/env node
/**
 * `sallyport <command>`: each command is a module exporting `run(argv) → exit code`, loaded
 * only when asked for so `sallyport connector` never loads Miniflare.
 */
import { packageVersion } from "./shipped.ts";
import { finish } from "./finish.ts";

type Command = { run(argv: string[]): Promise<number> };

const COMMANDS: Record<string, () => Promise<Command>> = {
  connector: () => import("./commands/connector.ts"),
  dev: () => import("./commands/dev.ts"),
  client: () => import("./commands/client.ts"),
  probe: () => import("./commands/probe.ts"),
  config: () => import("./commands/config.ts"),
  service: () => import("./commands/service.ts"),
};

function usage(): string {
  return [
    "usage: sallyport <command> [options]",
    "",
    "commands:",
    "  connector  run the connector (dials out to the edge, relays to the backend)",
    "  dev        run edge + connector (+ echo backend) locally in one process",
    "  client     forward local TCP connections through the edge (like cloudflared access tcp)",
    "  probe      open one session as a client and report pairing time and round trip",
    "  config     check a configuration, or import a Kaazing Enterprise Shield one",
    "  service    install the connector as a systemd service",
    "",
    "`sallyport <command> --help` describes a command's options; `sallyport --version` prints the version.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "-V") {
    process.stdout.write(`${await packageVersion()}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`sallyport: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  return (await load()).run(rest);
}

finish(main(process.argv.slice(2)));
