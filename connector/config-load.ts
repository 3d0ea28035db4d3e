import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { parseConnectorConfig, type ConnectorConfig, type ConnectorService } from "../shared/config/connector-config.ts";
import { ConfigError, type ConfigIssue } from "../shared/config/issues.ts";
import { isRecord } from "../shared/config/reader.ts";
import { importKaazingXml, looksLikeXml } from "../kaazing/xml.ts";
import type { EdgeRoute } from "../net/edge-socket.ts";
import { loadEdgeRoute, ROUTE_FLAGS } from "../net/route-load.ts";

/**
 * Where the connector's settings come from, lowest precedence first: the config file (JSON, or
 * a Kaazing gateway-config.xml), the environment (SALLYPORT_*), then flags. The merged raw
 * object is validated in one pass so every problem is reported together.
 */

/** The connector's flags, with their help (cli/options.ts reads `arg` and `help`; parseArgs ignores them). */
export const CONNECTOR_FLAGS = {
  config: {
    type: "string",
    arg: "FILE",
    help: "JSON configuration, or a Kaazing gateway-config.xml (see docs/configuration.md)",
  },
  edge: { type: "string", arg: "URL", help: "edge to dial (default: the accept URI's origin)" },
  accept: { type: "string", arg: "URI", help: "the service's logical accept URI, as the edge knows it" },
  connect: { type: "string", arg: "URI", help: "the backend, tcp://HOST:PORT or tls://HOST:PORT" },
  "token-file": { type: "string", arg: "FILE", help: "file holding the connector token" },
  ...ROUTE_FLAGS,
  "cert-file": { type: "string", arg: "FILE", help: "client certificate (PEM) to present to the edge (ssl.cert.file)" },
  "key-file": { type: "string", arg: "FILE", help: "its private key (PEM) (ssl.key.file)" },
  "edge-cert-sha256": {
    type: "string",
    arg: "HEX",
    help: "SHA-256 fingerprint the edge's certificate must also have (edge.cert.sha256)",
  },
  prepared: { type: "string", arg: "N", help: "prepared.connection.count" },
  "max-sessions": { type: "string", arg: "N", help: "max.sessions: sessions run at once per service (default 512)" },
  "retry-max": { type: "string", arg: "D", help: 'socks.retry.maximum.interval, e.g. "1 second"' },
  name: { type: "string", arg: "NAME", help: "the service's name (in logs and metrics)" },
  "connector-id": {
    type: "string",
    arg: "ID",
    help: "stable identity (default: host name); replicas on one host need distinct ids",
  },
  "drain-timeout": { type: "string", arg: "D", help: 'on SIGTERM, how long sessions in flight may finish (default "30 seconds")' },
  "admin-port": { type: "string", arg: "N", help: "serve /metrics, /healthz, /readyz on 127.0.0.1:N" },
  "log-level": { type: "string", arg: "LEVEL", help: "debug, info, warn or error" },
} as const;

/** flag → the setting it overrides; `top` settings apply to every service. */
const OVERRIDES: ReadonlyArray<{ flag: keyof typeof CONNECTOR_FLAGS; env: string; key: string; top: boolean }> = [
  { flag: "edge", env: "SALLYPORT_EDGE", key: "edge", top: true },
  { flag: "token-file", env: "SALLYPORT_TOKEN_FILE", key: "token.file", top: true },
  { flag: "ca-file", env: "SALLYPORT_CA_FILE", key: "ca.file", top: true },
  { flag: "ca-file-only", env: "SALLYPORT_CA_FILE_ONLY", key: "ca.file.only", top: true },
  { flag: "proxy", env: "SALLYPORT_PROXY", key: "proxy", top: true },
  { flag: "proxy-credentials-file", env: "SALLYPORT_PROXY_CREDENTIALS_FILE", key: "proxy.credentials.file", top: true },
  { flag: "proxy-ca-file", env: "SALLYPORT_PROXY_CA_FILE", key: "proxy.ca.file", top: true },
  { flag: "allow-insecure-edge", env: "SALLYPORT_ALLOW_INSECURE_EDGE", key: "allow.insecure.edge", top: true },
  { flag: "cert-file", env: "SALLYPORT_CERT_FILE", key: "ssl.cert.file", top: true },
  { flag: "key-file", env: "SALLYPORT_KEY_FILE", key: "ssl.key.file", top: true },
  { flag: "edge-cert-sha256", env: "SALLYPORT_EDGE_CERT_SHA256", key: "edge.cert.sha256", top: true },
  { flag: "connector-id", env: "SALLYPORT_CONNECTOR_ID", key: "connector.id", top: true },
  { flag: "admin-port", env: "SALLYPORT_ADMIN_PORT", key: "admin.port", top: true },
  { flag: "drain-timeout", env: "SALLYPORT_DRAIN_TIMEOUT", key: "drain.timeout", top: true },
  { flag: "accept", env: "SALLYPORT_ACCEPT", key: "accept", top: false },
  { flag: "connect", env: "SALLYPORT_CONNECT", key: "connect", top: false },
  { flag: "prepared", env: "SALLYPORT_PREPARED", key: "prepared.connection.count", top: false },
  { flag: "max-sessions", env: "SALLYPORT_MAX_SESSIONS", key: "max.sessions", top: false },
  { flag: "retry-max", env: "SALLYPORT_RETRY_MAXIMUM_INTERVAL", key: "socks.retry.maximum.interval", top: false },
  { flag: "name", env: "SALLYPORT_NAME", key: "name", top: false },
];

export type Flags = Partial<Record<keyof typeof CONNECTOR_FLAGS, string | boolean>>;

export function parseFlags(argv: string[]): Flags {
  return parseArgs({ args: argv, options: CONNECTOR_FLAGS, strict: true, allowPositionals: false }).values as Flags;
}

/** Pure merge of file, environment and flags into one raw config. */
export function mergeSources(file: unknown, env: Record<string, string | undefined>, flags: Flags): unknown {
  const raw: Record<string, unknown> = isRecord(file) ? { ...file } : {};
  const services = Array.isArray(raw.services) ? raw.services.map((s) => (isRecord(s) ? { ...s } : s)) : [];
  for (const o of OVERRIDES) {
    const flag = flags[o.flag];
    // A boolean flag (--ca-file-only) sets its setting to "true", as the environment would.
    const value = typeof flag === "string" ? flag : flag === true ? "true" : env[o.env];
    if (value === undefined) continue;
    if (o.top) raw[o.key] = value;
    else {
      if (services.length === 0) services.push({});
      for (const s of services) if (isRecord(s)) s[o.key] = value;
    }
  }
  raw.services = services;
  return raw;
}

export interface LoadedService {
  readonly service: ConnectorService;
  readonly token: string;
  /** Trust, pin and proxy toward the edge, files read and proxy chosen. */
  readonly route: EdgeRoute;
}

export async function loadConnectorConfig(
  flags: Flags,
  env: Record<string, string | undefined>,
): Promise<{ config: ConnectorConfig; loaded: LoadedService[] }> {
  const path = (flags.config as string | undefined) ?? env.SALLYPORT_CONFIG;
  let file: unknown = {};
  if (path) {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      throw new ConfigError(path, [{ path: "(file)", message: `cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})` }]);
    }
    file = parseConfigText(path, text);
  }
  const parsed = parseConnectorConfig(mergeSources(file, env, flags));
  if (!parsed.ok) throw new ConfigError(path ?? "configuration", parsed.error);
  const issues: ConfigIssue[] = [];
  const loaded: LoadedService[] = [];
  const { proxy } = parsed.value;
  for (const [i, service] of parsed.value.services.entries()) {
    const token = await readSecretFile(service.tokenFile, `services[${i}].token.file`, issues);
    const route = await loadEdgeRoute(
      service.bindUrl,
      { ...service, pin: service.edgeCertPin, proxy: proxy.url, proxyCredentialsFile: proxy.credentialsFile, proxyCaFile: proxy.caFile },
      env,
      (key) => (key === "ca.file" ? `services[${i}].ca.file` : key),
    );
    if (!route.ok) issues.push(...route.error);
    else if (token !== undefined) loaded.push({ service, token, route: route.value });
  }
  // Settings shared by every service (a bad HTTPS_PROXY) are reported once, not per service.
  const unique = [...new Map(issues.map((i) => [`${i.path}\0${i.message}`, i])).values()];
  if (unique.length) throw new ConfigError(path ?? "configuration", unique);
  return { config: parsed.value, loaded };
}

/**
 * A connector JSON file, or a Kaazing gateway-config.xml (or bare <service>) run unchanged:
 * its internal-gateway services become the raw connector object, which then merges with the
 * environment and flags like a JSON file. Kaazing had no connector token, so token.file still
 * comes from --token-file or SALLYPORT_TOKEN_FILE.
 */
export function parseConfigText(path: string, text: string): unknown {
  if (!looksLikeXml(path, text)) {
    try {
      return JSON.parse(text);
    } catch (e) {
      // Only where, never what: V8 quotes the text it choked on ("CANARY-7f3"...), and a
      // --config pointed at the token file by mistake would print the token's first characters.
      const where = /\(line \d+ column \d+\)/.exec((e as Error).message)?.[0];
      throw new ConfigError(path, [{ path: "(file)", message: `is not valid JSON${where ? ` ${where}` : ""}` }]);
    }
  }
  const imported = importKaazingXml(text);
  if (!imported.ok) throw new ConfigError(path, imported.error);
  if (!imported.value.connector) {
    throw new ConfigError(path, [
      {
        path: "(file)",
        message: "holds only DMZ-gateway services, which are the edge's: `sallyport config import` turns them into wrangler.toml vars",
      },
    ]);
  }
  return imported.value.connector;
}

async function readSecretFile(file: string, at: string, issues: ConfigIssue[]): Promise<string | undefined> {
  try {
    const token = (await readFile(file, "utf8")).trim();
    // The message names the file, never its content.
    if (!token) issues.push({ path: at, message: `${file} is empty: put the connector token in it` });
    else if (/[\s\0]/.test(token)) issues.push({ path: at, message: `${file} must hold one token on one line` });
    else return token;
  } catch (e) {
    issues.push({ path: at, message: `${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})` });
  }
  return undefined;
}
