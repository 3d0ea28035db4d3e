import { ConfigError } from "../../shared/config/issues.ts";
import { CONNECTOR_FLAGS, loadConnectorConfig, type Flags, type LoadedService } from "../../connector/config-load.ts";
import { isCleartextRemote } from "../../shared/masking.ts";
import { Connector } from "../../connector/connector.ts";
import type { Level, Logger } from "../../shared/log.ts";
import { stderrLogger } from "../log.ts";
import { startAdmin } from "../../connector/admin.ts";
import { ConnectorMetrics } from "../../connector/metrics.ts";
import { type CommandSpec, parseCommand } from "../options.ts";
import { onStopSignals } from "../signals.ts";
import { tuneHeapForRelaying } from "../relay-heap.ts";
import { tierUpSooner } from "../relay-tiering.ts";

export const COMMAND = {
  name: "connector",
  synopsis: `usage: sallyport connector --config FILE
       sallyport connector --accept URI --connect tcp://HOST:PORT --token-file FILE [options]
`,
  options: CONNECTOR_FLAGS,
  epilogue: `Signals: SIGTERM/SIGINT drain and exit (a second one exits at once); SIGHUP reloads.
Environment: SALLYPORT_CONFIG, SALLYPORT_EDGE, SALLYPORT_ACCEPT, SALLYPORT_CONNECT,
SALLYPORT_TOKEN_FILE, SALLYPORT_PREPARED, SALLYPORT_PROXY … (flags win over the environment,
which wins over the file). Without a proxy setting, HTTPS_PROXY (wss:// edge) or HTTP_PROXY
(ws://), and NO_PROXY, are honoured as curl does (docs/operations.md, "Behind a proxy").`,
} as const satisfies CommandSpec;

export async function run(argv: string[]): Promise<number> {
  const heap = tuneHeapForRelaying();
  tierUpSooner();
  const args = parseCommand(COMMAND, argv);
  if (!args.ok) return args.exit;
  const flags: Flags = args.values;
  const level = (flags["log-level"] as Level | undefined) ?? "info";
  if (!["debug", "info", "warn", "error"].includes(level)) {
    process.stderr.write(`sallyport connector: --log-level must be debug, info, warn or error\n`);
    return 2;
  }
  let loaded: Awaited<ReturnType<typeof loadConnectorConfig>>;
  try {
    loaded = await loadConnectorConfig(flags, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`sallyport connector: invalid configuration — ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const log = stderrLogger(level);
  heap.logTo(log);
  // The metrics read the pools at scrape time; the connector exists by the first scrape.
  let connector: Connector | undefined;
  const metrics = new ConnectorMetrics(() => connector?.stats() ?? []);
  connector = new Connector(loaded.loaded, log, loaded.config.connectorId, metrics);
  const running = connector;
  running.start();
  const admin =
    loaded.config.adminPort === undefined ? undefined : await startAdmin(loaded.config.adminPort, metrics, () => running.stats(), log);
  announceRoutes(loaded.loaded, loaded.config.insecureEdge, log);
  log.log("info", "connector started", {
    services: loaded.loaded.map((l) => l.service.name).join(","),
    pid: process.pid,
    instance: running.instance,
  });
  process.on("SIGHUP", () => void reload(flags, running, log));
  await onStopSignals(log);
  // Drain: no new binds at once, sessions in flight get the grace period; a second signal exits now.
  log.log("info", "draining", { graceMs: loaded.config.drainTimeoutMs });
  await running.drain(loaded.config.drainTimeoutMs);
  await admin?.close();
  log.log("info", "connector stopped");
  return 0;
}

/** Said at start: how each service reaches its edge, and loudly when that is in clear text. */
function announceRoutes(services: readonly LoadedService[], insecure: boolean, log: Logger): void {
  for (const { service, route } of services) {
    if (route.proxy)
      log.log("info", "reaching the edge through a proxy", { service: service.name, proxy: route.proxy.display, from: route.proxy.source });
    if (insecure && isCleartextRemote(service.bindUrl))
      log.log("warn", "the edge URL is ws:// to another host: the connector token and all session data cross the network in clear text", {
        service: service.name,
        bindUrl: service.bindUrl,
        fix: "use a wss:// edge URL",
      });
  }
}

/** SIGHUP: re-read file, environment and flags; a bad new configuration keeps the old one. */
async function reload(flags: Flags, connector: Connector, log: Logger): Promise<void> {
  try {
    const next = await loadConnectorConfig(flags, process.env);
    connector.reload(next.loaded);
    log.log("info", "configuration reloaded", { services: next.loaded.map((l) => l.service.name).join(",") });
  } catch (e) {
    log.log("error", "reload refused; keeping the running configuration", { error: e instanceof ConfigError ? e.message : String(e) });
  }
}
