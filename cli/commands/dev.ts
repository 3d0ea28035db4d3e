import { randomBytes } from "node:crypto";
import { parseConnectorConfig } from "../../shared/config/connector-config.ts";
import { formatIssues } from "../../shared/config/issues.ts";
import { Connector } from "../../connector/connector.ts";
import { startEchoServer } from "../../local-edge/echo-server.ts";
import { stderrLogger } from "../log.ts";
import { type CommandSpec, parseCommand } from "../options.ts";
import { onStopSignals } from "../signals.ts";
import { localEdgeRuntime } from "../shipped.ts";
import type { LocalEdge } from "../../local-edge/edge.ts";
import { tuneHeapForRelaying } from "../relay-heap.ts";
import { tierUpSooner } from "../relay-tiering.ts";

export const COMMAND = {
  name: "dev",
  synopsis: `usage: sallyport dev [--connect tcp://HOST:PORT] [--port N] [--prepared N] [--timeout D]

Runs the edge in workerd (Miniflare API), a connector and, without --connect, a built-in
echo backend, all on 127.0.0.1. Prints the client URL, then "ready".`,
  options: {
    port: { type: "string", arg: "N", help: "edge port (default 8787; 0 picks a free one)" },
    connect: { type: "string", arg: "URI", help: "backend for the connector (default: built-in echo server)" },
    prepared: { type: "string", arg: "N", help: "prepared.connection.count (default 4)" },
    timeout: { type: "string", arg: "D", help: 'socks.timeout (default "2 seconds")' },
  },
} as const satisfies CommandSpec;

export async function run(argv: string[]): Promise<number> {
  const heap = tuneHeapForRelaying();
  tierUpSooner();
  const args = parseCommand(COMMAND, argv);
  if (!args.ok) return args.exit;
  const { values } = args;
  const port = Number(values.port ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`sallyport dev: --port must be a number from 0 to 65535\n`);
    return 2;
  }
  const localEdge = await loadLocalEdge();
  if (!localEdge) return 1;
  const log = stderrLogger();
  heap.logTo(log);
  const echo = values.connect ? undefined : await startEchoServer();
  const connect = values.connect ?? `tcp://127.0.0.1:${echo!.port}`;
  // A fresh token per run, held in memory only: nothing to leak, nothing to configure.
  const token = randomBytes(24).toString("base64url");
  // The accept URI is logical: both sides agree on it, clients dial the edge's real address.
  const accept = "ws://sallyport.localhost/dev";
  const ownSignals = ["SIGINT", "SIGTERM"] as const;
  const inherited = new Map(ownSignals.map((s) => [s, new Set(process.listeners(s))]));
  let edge: LocalEdge;
  try {
    edge = await localEdge.startLocalEdge({
      port,
      services: { dev: { accept, "socks.timeout": values.timeout ?? "2 seconds" } },
      connectorTokens: { dev: [token] },
    });
  } catch (e) {
    await echo?.stop();
    process.stderr.write(`sallyport dev: cannot start the edge on 127.0.0.1:${port} (${(e as Error).message}); try --port 0\n`);
    return 1;
  }
  // Miniflare answers SIGINT/SIGTERM with process.exit(130/143) at once, which skips the
  // orderly stop below (and exits 143, not 0): this command stops the edge itself. Its
  // 'exit' and SIGHUP hooks stay, so workerd still goes if the process ends another way.
  for (const s of ownSignals) for (const l of process.listeners(s)) if (!inherited.get(s)!.has(l)) process.off(s, l);
  const edgeWs = edge.url.href.replace(/^http/, "ws");
  const parsed = parseConnectorConfig({
    "token.file": "(in memory)",
    edge: edgeWs,
    services: [{ name: "dev", accept, connect, "prepared.connection.count": values.prepared ?? "4" }],
  });
  if (!parsed.ok) {
    await Promise.all([edge.stop(), echo?.stop()]);
    process.stderr.write(`sallyport dev: invalid options\n${formatIssues(parsed.error)}\n`);
    return 2;
  }
  const connector = new Connector(
    parsed.value.services.map((service) => ({ service, token, route: {} })),
    log,
  );
  connector.start();
  process.stdout.write(`client URL: ${new URL("/dev", edgeWs).href}\nbackend: ${echo ? "built-in echo server" : connect}\nready\n`);
  await onStopSignals(log);
  connector.stop();
  await Promise.all([edge.stop(), echo?.stop()]);
  return 0;
}

/**
 * The local edge runs workerd through Miniflare, a devDependency: the packed package leaves it
 * out (workerd alone is ~100 MB, and the connector, client and probe never need it). Loaded
 * here, not at the top, so its absence is a message instead of a stack trace.
 */
async function loadLocalEdge(): Promise<typeof import("../../local-edge/edge.ts") | undefined> {
  try {
    return await import("../../local-edge/edge.ts");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== "ERR_MODULE_NOT_FOUND" || !/'miniflare'/.test(err.message)) throw e;
    const runtime = await localEdgeRuntime();
    process.stderr.write(
      `sallyport dev: the local edge runtime (${runtime}, which brings workerd) is not installed; ` +
        `the package leaves it out to stay small.\n` +
        `Install it next to sallyport with \`npm install -g ${runtime}\` (the same --prefix as sallyport), ` +
        `or run \`npm start\` in a checkout of Sallyport.\n`,
    );
    return undefined;
  }
}
