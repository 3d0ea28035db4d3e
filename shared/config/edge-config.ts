import { err, ok, type Result } from "../result.ts";
import { IssueList, type ConfigIssue } from "./issues.ts";
import { FieldReader, isRecord } from "./reader.ts";
import {
  DEFAULTS,
  VERIFY_CLIENT,
  checkDistinct,
  readAccept,
  readMode,
  type AcceptUri,
  type SocksMode,
  type VerifyClient,
  SERVICE_NAME,
} from "./service.ts";

/**
 * The edge's configuration: services from the `SALLYPORT_SERVICES` var (wrangler.toml),
 * connector tokens from the `SALLYPORT_CONNECTOR_TOKENS` secret. Pure: takes the raw
 * values, returns a frozen config or every problem found.
 */

export interface EdgeService {
  readonly name: string;
  readonly accept: AcceptUri;
  readonly mode: SocksMode;
  /** How long a client is held waiting for a bind (Kaazing `socks.timeout`). */
  readonly socksTimeoutMs: number;
  readonly verifyClient: VerifyClient;
  /** Largest WebSocket message relayed either way; larger closes the session with 1009. */
  readonly maxMessageBytes: number;
  /** Unpaired binds (registering or parked) the service holds at most, and per token. */
  readonly maxBinds: number;
  readonly maxBindsPerCredential: number;
  /** Connector tokens valid for this service; several at once allow rotation. */
  readonly connectorTokens: readonly string[];
}

export interface EdgeConfig {
  readonly services: readonly EdgeService[];
}

export const MIN_TOKEN_LENGTH = 16;

function asObject(raw: unknown, path: string, issues: IssueList): Record<string, unknown> | undefined {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      issues.add(path, "is not valid JSON");
      return undefined;
    }
  }
  if (value === undefined || value === null || value === "") {
    issues.add(path, "is not set");
    return undefined;
  }
  if (!isRecord(value)) {
    issues.add(path, "must be an object keyed by service name");
    return undefined;
  }
  return value;
}

/**
 * A token names its service (auth.ts routes a bind by the token alone), so one token under
 * two services would send the second one's binds to the first: `seen` maps token → path.
 */
function readTokens(raw: unknown, path: string, issues: IssueList, seen: Map<string, string>): string[] {
  const list = typeof raw === "string" ? [raw] : Array.isArray(raw) ? raw : undefined;
  if (!list || list.length === 0) {
    issues.add(path, `has no connector token: set one with "wrangler secret put SALLYPORT_CONNECTOR_TOKENS"`);
    return [];
  }
  const tokens: string[] = [];
  list.forEach((t, i) => {
    // The message names the index, never the value: it is a secret.
    if (typeof t !== "string" || t.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(t)) {
      issues.add(`${path}[${i}]`, `must be at least ${MIN_TOKEN_LENGTH} printable ASCII characters without spaces`);
    } else if (seen.has(t)) {
      issues.add(`${path}[${i}]`, `token already used by ${seen.get(t)}`);
    } else {
      seen.set(t, `${path}[${i}]`);
      tokens.push(t);
    }
  });
  return tokens;
}

export function parseEdgeConfig(servicesRaw: unknown, tokensRaw: unknown): Result<EdgeConfig, readonly ConfigIssue[]> {
  const issues = new IssueList();
  const services = asObject(servicesRaw, "SALLYPORT_SERVICES", issues);
  const tokens = asObject(tokensRaw, "SALLYPORT_CONNECTOR_TOKENS", issues);
  const out: EdgeService[] = [];
  const seenTokens = new Map<string, string>();
  for (const [name, raw] of Object.entries(services ?? {})) {
    const path = `SALLYPORT_SERVICES.${name}`;
    if (!SERVICE_NAME.test(name)) issues.add(path, "service names are 1-63 characters of a-z, 0-9 and -");
    if (!isRecord(raw)) {
      issues.add(path, "must be an object");
      continue;
    }
    const r = new FieldReader(raw, path, issues);
    if (r.has("connect")) {
      r.string("connect");
      issues.add(r.at("connect"), "belongs in the connector's configuration only: the edge never learns the backend's address");
    }
    const accept = readAccept(r);
    const mode = readMode(r);
    const socksTimeoutMs = r.duration("socks.timeout", DEFAULTS["socks.timeout"], 1);
    const verifyClient = r.oneOf("socks.ssl.verify-client", VERIFY_CLIENT, DEFAULTS["socks.ssl.verify-client"]);
    const maxMessageBytes = r.integer("max.message.size", DEFAULTS["max.message.size"], 1024, 16 * 1024 * 1024);
    const maxBinds = r.integer("max.binds", DEFAULTS["max.binds"], 1, 30_000);
    const maxBindsPerCredential = r.integer("max.binds.per.credential", DEFAULTS["max.binds.per.credential"], 1, 30_000);
    r.rejectUnknown();
    const connectorTokens = tokens ? readTokens(tokens[name], `SALLYPORT_CONNECTOR_TOKENS.${name}`, issues, seenTokens) : [];
    if (accept) out.push(Object.freeze({
      name, accept, mode, socksTimeoutMs, verifyClient, maxMessageBytes, maxBinds, maxBindsPerCredential,
      connectorTokens: Object.freeze(connectorTokens),
    }));
  }
  if (services && Object.keys(services).length === 0) issues.add("SALLYPORT_SERVICES", "names no service");
  for (const name of Object.keys(tokens ?? {})) {
    if (services && !Object.hasOwn(services, name)) issues.add(`SALLYPORT_CONNECTOR_TOKENS.${name}`, "names a service that SALLYPORT_SERVICES does not have");
  }
  checkDistinct(issues, "SALLYPORT_SERVICES", out.map((s) => [`${s.name}.accept`, s.accept.path]), "accept path");
  return issues.empty ? ok(Object.freeze({ services: Object.freeze(out) })) : err(issues.items);
}
