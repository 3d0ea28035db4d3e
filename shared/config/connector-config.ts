import { isCleartextRemote } from "../masking.ts";
import { BIND_PATH, MAX_HEARTBEAT_MS, MIN_HEARTBEAT_MS } from "../protocol/constants.ts";
import { err, ok, type Result } from "../result.ts";
import { IssueList, type ConfigIssue } from "./issues.ts";
import { parseProxyUrl } from "./proxy-url.ts";
import { FieldReader, isRecord } from "./reader.ts";
import { parseWsUrl } from "../ws-url.ts";
import {
  DEFAULTS,
  checkDistinct,
  readAccept,
  readConnect,
  readMode,
  readName,
  type AcceptUri,
  type BackendAddress,
  type SocksMode,
} from "./service.ts";

/**
 * The connector's configuration, merged by the loader from file < environment < flags and
 * validated here in one pass. Pure: file contents (tokens, CA) are read by the loader.
 */

export interface ConnectorService {
  readonly name: string;
  readonly accept: AcceptUri;
  /** ws(s):// URL of the edge's bind endpoint. Defaults to the accept URI's origin. */
  readonly bindUrl: string;
  readonly connect: BackendAddress;
  readonly mode: SocksMode;
  readonly preparedConnectionCount: number;
  /** Sessions run at once at most; no bind is offered beyond it (clients then wait, and are told 4013). */
  readonly maxSessions: number;
  readonly retryMaximumIntervalMs: number;
  readonly maximumRecoveryIntervalMs: number;
  readonly heartbeatIntervalMs: number;
  /** File holding the bearer token the edge expects for this service. */
  readonly tokenFile: string;
  /** Extra CA bundle (PEM) trusted for the edge's certificate, besides Node's default CAs. */
  readonly caFile: string | undefined;
  /** Trust only caFile's CAs, not Node's defaults (ca.file.only). */
  readonly caFileOnly: boolean;
  /** Client certificate and key (PEM) presented to the edge: socks.ssl.verify-client on the edge side. */
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  /** SHA-256 fingerprint (lowercase hex) the edge's certificate must have, besides being valid. */
  readonly edgeCertPin: string | undefined;
}

export interface ConnectorConfig {
  readonly services: readonly ConnectorService[];
  /** Stable identity (default: the host name); a restart with the same id takes over its binds. */
  readonly connectorId: string | undefined;
  /** How long a stopping connector lets sessions in flight finish. */
  readonly drainTimeoutMs: number;
  /** Loopback port for /metrics, /healthz, /readyz; undefined = no admin port. */
  readonly adminPort: number | undefined;
  /** The explicit proxy setting; without it the loader looks at HTTPS_PROXY and the rest. */
  readonly proxy: ProxySetting;
  /** A ws:// edge on a host other than this one was allowed (allow.insecure.edge): warn about it. */
  readonly insecureEdge: boolean;
}

export interface ProxySetting {
  /** `proxy`: the proxy URL (may hold credentials: never print it), winning over the environment. */
  readonly url: string | undefined;
  /** `proxy.credentials.file`: user:password for Basic authentication to the proxy. */
  readonly credentialsFile: string | undefined;
  /** `proxy.ca.file`: extra CA (PEM) for an https:// proxy's own certificate. */
  readonly caFile: string | undefined;
}

export const MAX_PREPARED = 1000;
export const MAX_SESSIONS = 100_000;

export const INSECURE_EDGE_KEY = "allow.insecure.edge";

/** The bind endpoint at the edge named by `text`; a problem is reported at `at`. */
function bindUrlOf(text: string, at: string, issues: IssueList, allowInsecure: boolean): string | undefined {
  const parsed = parseWsUrl(text, { noun: "URL", example: "wss://edge.example.com", tokenHint: "put the token in token.file" });
  if (!parsed.ok) {
    issues.add(at, parsed.error);
    return undefined;
  }
  const url = parsed.value;
  if (isCleartextRemote(url) && !allowInsecure) {
    issues.add(
      at,
      `is ws:// to ${url.hostname}, which would send the connector token and every session's data in clear text: ` +
        `use wss://, or set ${INSECURE_EDGE_KEY}: true (--allow-insecure-edge) if the network between is trusted`,
    );
    return undefined;
  }
  return new URL(BIND_PATH, url).href;
}

export function parseConnectorConfig(raw: unknown): Result<ConnectorConfig, readonly ConfigIssue[]> {
  const issues = new IssueList();
  if (!isRecord(raw)) return err([{ path: "(root)", message: "must be an object" }]);
  const top = new FieldReader(raw, "", issues);
  const allowInsecure = top.boolean(INSECURE_EDGE_KEY, false);
  const edge = top.optionalString("edge");
  // Checked once, here: a bad top-level edge is reported at its own path, not per service.
  const topBindUrl = edge === undefined ? undefined : bindUrlOf(edge, "edge", issues, allowInsecure);
  const tokenFile = top.optionalString("token.file");
  const caFile = top.optionalString("ca.file");
  const caFileOnly = top.boolean("ca.file.only", false);
  const proxy = readProxy(top);
  const certFile = top.optionalString("ssl.cert.file");
  const keyFile = top.optionalString("ssl.key.file");
  const pin = top.optionalString("edge.cert.sha256")?.replace(/:/g, "").toLowerCase();
  if (pin !== undefined && !/^[0-9a-f]{64}$/.test(pin))
    issues.add("edge.cert.sha256", "must be a SHA-256 fingerprint (64 hex digits, colons allowed)");
  if ((certFile === undefined) !== (keyFile === undefined))
    issues.add(certFile ? "ssl.key.file" : "ssl.cert.file", "ssl.cert.file and ssl.key.file go together");
  const connectorId = top.optionalString("connector.id");
  if (connectorId !== undefined && !/^[A-Za-z0-9_-]{1,40}$/.test(connectorId))
    issues.add("connector.id", "must be 1-40 characters of A-Z, a-z, 0-9, _ and -");
  const drainTimeoutMs = top.duration("drain.timeout", DEFAULTS["drain.timeout"]);
  let adminPort: number | undefined;
  if (top.has("admin.port")) adminPort = top.integer("admin.port", 0, 0, 65535);
  else top.claim("admin.port");
  const list = top.claim("services");
  if (!Array.isArray(list) || list.length === 0) issues.add("services", "must list at least one service");
  top.rejectUnknown();
  const services: ConnectorService[] = [];
  const names: Array<[string, string | undefined]> = [];
  (Array.isArray(list) ? list : []).forEach((item, i) => {
    const path = `services[${i}]`;
    if (!isRecord(item)) {
      issues.add(path, "must be an object");
      return;
    }
    const r = new FieldReader(item, path, issues);
    const accept = readAccept(r);
    const name = readName(r, accept ? defaultName(accept) : "default");
    const connect = readConnect(r);
    const mode = readMode(r);
    const preparedConnectionCount = r.integer("prepared.connection.count", DEFAULTS["prepared.connection.count"], 1, MAX_PREPARED);
    const maxSessions = r.integer("max.sessions", DEFAULTS["max.sessions"], 1, MAX_SESSIONS);
    const retryMaximumIntervalMs = r.duration("socks.retry.maximum.interval", DEFAULTS["socks.retry.maximum.interval"], 100);
    const maximumRecoveryIntervalMs = r.duration("maximum.recovery.interval", DEFAULTS["maximum.recovery.interval"], 100);
    const heartbeatIntervalMs = r.duration("heartbeat.interval", DEFAULTS["heartbeat.interval"], MIN_HEARTBEAT_MS);
    // Each bind message carries it as heartbeatMs, which the edge bounds (a bind must not declare itself alive for hours).
    if (heartbeatIntervalMs > MAX_HEARTBEAT_MS)
      issues.add(r.at("heartbeat.interval"), `must be at most ${MAX_HEARTBEAT_MS / 1000} seconds`);
    const ownEdge = r.optionalString("edge");
    const bindUrl =
      ownEdge !== undefined
        ? bindUrlOf(ownEdge, r.at("edge"), issues, allowInsecure)
        : edge !== undefined
          ? topBindUrl
          : accept
            ? bindUrlOf(new URL(accept.uri).origin, r.at("accept"), issues, allowInsecure)
            : undefined;
    const svcToken = r.optionalString("token.file") ?? tokenFile;
    if (svcToken === undefined) issues.add(`${path}.token.file`, "is required (a file holding the connector token); or pass --token-file");
    const svcCa = r.optionalString("ca.file") ?? caFile;
    const svcCaOnly = r.boolean("ca.file.only", caFileOnly);
    if (svcCaOnly && svcCa === undefined) issues.add(r.at("ca.file.only"), "needs ca.file: the CAs to trust instead of Node's");
    r.rejectUnknown();
    names.push([`[${i}].name`, name]);
    if (accept && connect && name && bindUrl && svcToken) {
      services.push(
        Object.freeze({
          name,
          accept,
          bindUrl,
          connect,
          mode,
          preparedConnectionCount,
          maxSessions,
          retryMaximumIntervalMs,
          maximumRecoveryIntervalMs,
          heartbeatIntervalMs,
          tokenFile: svcToken,
          caFile: svcCa,
          caFileOnly: svcCaOnly,
          certFile,
          keyFile,
          edgeCertPin: pin,
        }),
      );
    }
  });
  checkDistinct(issues, "services", names, "name");
  const insecureEdge = services.some((s) => isCleartextRemote(s.bindUrl));
  return issues.empty
    ? ok(Object.freeze({ services: Object.freeze(services), connectorId, drainTimeoutMs, adminPort, proxy, insecureEdge }))
    : err(issues.items);
}

function readProxy(top: FieldReader): ProxySetting {
  const url = top.optionalString("proxy");
  if (url !== undefined) {
    const parsed = parseProxyUrl(url);
    if (!parsed.ok) top.issues.add("proxy", parsed.error);
  }
  const credentialsFile = top.optionalString("proxy.credentials.file");
  const caFile = top.optionalString("proxy.ca.file");
  return Object.freeze({ url, credentialsFile, caFile });
}

/** A service without a name is named for its accept path: "/echo" → "echo". */
export function defaultName(accept: AcceptUri): string {
  const slug = accept.path
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
  return slug || "default";
}
