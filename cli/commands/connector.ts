import { ConfigError } from "../../shared/config/issues.ts";
import { loadConnectorConfig, parseFlags, type Flags, type LoadedService } from "../../connector/config-load.ts";
import { isCleartextRemote } from "../../shared/masking.ts";
import { Connector } from "../../connector/connector.ts";
import type { Level, Logger } from "../../shared/log.ts";
import { stderrLogger } from "../log.ts";
import { startAdmin } from "../../connector/admin.ts";
import { ConnectorMetrics } from "../../connector/metrics.ts";
import { onStopSignals } from "../signals.ts";

export const summary = "run the connector";

const HELP = `usage: sallyport connector --config FILE
       sallyport connector --accept URI --connect tcp://HOST:PORT --token-file FILE [options]

  --config FILE        JSON configuration, or a Kaazing gateway-config.xml (see docs/configuration.md)
  --edge URL           edge to dial (default: the accept URI's origin)
  --accept URI         the service's logical accept URI, as the edge knows it
  --connect URI        the backend, tcp://HOST:PORT or tls://HOST:PORT
  --token-file FILE    file holding the connector token
  --ca-file FILE       extra CA (PEM) to trust for the edge's certificate, besides Node's default CAs
  --ca-file-only       trust only --ca-file's CAs, not Node's defaults
  --cert-file FILE     client certificate (PEM) presented to the edge; with --key-file
  --key-file FILE      its private key (PEM)
  --edge-cert-sha256 H the SHA-256 fingerprint the edge's certificate must have, besides being valid
  --proxy URL          HTTP proxy to reach the edge through (CONNECT), http://HOST:PORT or
                       https://HOST:PORT; wins over HTTPS_PROXY / HTTP_PROXY / NO_PROXY
  --proxy-credentials-file FILE  user:password for the proxy (Basic), instead of in the URL
  --proxy-ca-file FILE extra CA (PEM) for an https:// proxy's own certificate
  --allow-insecure-edge  accept a ws:// edge on another host (token and data in clear text)
  --prepared N         prepared.connection.count
  --retry-max D        socks.retry.maximum.interval, e.g. "1 second"
  --name NAME          the service's name (default: from the accept path)
  --connector-id ID    stable identity (default: host name); replicas on one host need distinct ids
  --drain-timeout D    on SIGTERM, how long sessions in flight may finish (default "30 seconds")
  --admin-port N       serve /metrics, /healthz, /readyz on 127.0.0.1:N
  --log-level LEVEL    debug, info, warn or error
Signals: SIGTERM/SIGINT drain and exit (a second one exits at once); SIGHUP reloads.
Environment: SALLYPORT_CONFIG, SALLYPORT_EDGE, SALLYPORT_ACCEPT, SALLYPORT_CONNECT,
SALLYPORT_TOKEN_FILE, SALLYPORT_PREPARED, SALLYPORT_PROXY … (flags win over the environment,
which wins over the file). Without a proxy setting, HTTPS_PROXY (wss:// edge) or HTTP_PROXY
(ws://), and NO_PROXY, are honoured as curl does (docs/operations.md, "Behind a proxy").
`;

export async function run(argv: string[]): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (e) {
    process.stderr.write(`sallyport connector: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const level = (flags["log-level"] as Level | undefined) ?? "info";
  if (!["debug", "info", "warn", "error"].includes(level)) {
    process.stderr.write(`sallyport connector: --log-level must be debug, info, warn or error\n`);
    return 2;
  }
  let loaded;
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
