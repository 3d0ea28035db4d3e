import { err, ok, type Result } from "../result.ts";
import { IssueList, type ConfigIssue } from "./issues.ts";
import { FieldReader, isRecord } from "./reader.ts";
import { isLoopbackHost } from "../loopback.ts";
import { MAX_MESSAGE_BYTES, MAX_SHARDS, MIN_MESSAGE_BYTES } from "../protocol/constants.ts";
import {
  CLIENT_PLAIN,
  DEFAULTS,
  VERIFY_CLIENT,
  type ClientPlain,
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
  /** Whether plain WebSocket clients (no Sallyport subprotocol) are served at all. */
  readonly clientPlain: ClientPlain;
  /** Downstream bytes one plain session may receive before the edge ends it with 1013. */
  readonly clientPlainMaxBytes: number;
  /** Unpaired binds (registering or parked) the service holds at most, and per token. */
  readonly maxBinds: number;
  readonly maxBindsPerCredential: number;
  /** Clients (waiting and paired) the service holds at most; beyond it a new client is closed with 4029. Split over the shards. */
  readonly maxClients: number;
  /** Durable Objects the service is spread over (edge/shards.ts); 1 = one object, named after the service. */
  readonly shards: number;
  /** A session with no data either way for this long is closed with 4408; undefined = never. */
  readonly sessionIdleTimeoutMs: number | undefined;
  /** v3: how long the first half of a dropped session waits for the other; 1 s to 10 min. */
  readonly sessionResumeTimeoutMs: number;
  /** Who may open a session (checked before a client can take a bind). */
  readonly client: ClientAdmission;
  /** SHA-256 fingerprints (lowercase hex) of connector certificates accepted under mTLS; empty = any verified. */
  readonly clientCertPins: readonly string[];
  /** Connector tokens valid for this service; several at once allow rotation. */
  readonly connectorTokens: readonly string[];
}

export const CLIENT_AUTH = ["none", "token", "jwt"] as const;
export type ClientAuth = (typeof CLIENT_AUTH)[number];

export interface ClientAdmission {
  /** Browser origins allowed (cross-site WebSocket hijacking); undefined = any. Requests without Origin are not browsers. */
  readonly origins: readonly string[] | undefined;
  readonly auth: ClientAuth;
  /** For auth "token": valid client tokens (secret SALLYPORT_CLIENT_TOKENS). */
  readonly tokens: readonly string[];
  /** For auth "jwt": where the signing keys are, and what the token must say. */
  readonly jwt: { readonly jwks: string; readonly issuer: string; readonly audience: string } | undefined;
}

export interface EdgeConfig {
  readonly services: readonly EdgeService[];
}

/** The Worker's environment variables Sallyport reads (edge/env.ts), and which of them are secrets. */
export const EDGE_VARS = [
  "SALLYPORT_SERVICES",
  "SALLYPORT_CONNECTOR_TOKENS",
  "SALLYPORT_CLIENT_TOKENS",
  "SALLYPORT_ADMIN_TOKEN",
  "SALLYPORT_TLS",
] as const;
export const EDGE_SECRETS: readonly string[] = ["SALLYPORT_CONNECTOR_TOKENS", "SALLYPORT_CLIENT_TOKENS", "SALLYPORT_ADMIN_TOKEN"];
/** SALLYPORT_TLS: who terminates TLS ("cloudflare", the default, or a self-hosted "workerd" listener). */
export const EDGE_TLS = ["cloudflare", "workerd"] as const;

export const MIN_TOKEN_LENGTH = 16;

/**
 * Tokens standing in for a secret that a static check does not have, one per service and
 * distinct: the parser refuses a token used twice, so one stand-in for every service would
 * fail any configuration with two.
 */
export function standInTokens(names: readonly string[], secret: "connector" | "client"): Record<string, string[]> {
  return Object.fromEntries(names.map((n, i) => [n, [`stand-in-${secret}-token-${i}`.padEnd(MIN_TOKEN_LENGTH, "-")]]));
}
export const JWKS_HTTPS_MESSAGE =
  "must be an https:// URL (http:// only to a loopback address, for local tests): keys fetched in clear text could be replaced on the way";
export const ISSUER_REQUIRED_MESSAGE =
  'is required with client.auth "jwt" (e.g. https://TEAM.cloudflareaccess.com): a token from another issuer must not pass';
/**
 * What one service object lets all its sessions make it hold, in accounted bytes (edge/budget.ts).
 * An object has 128 MB on Cloudflare and going over resets it; this leaves the rest to the runtime,
 * whose own copies of what the edge holds measured about as much again (bench/abuse.ts).
 */
export const OBJECT_BUDGET_BYTES = 32 * 1024 * 1024;
export { MAX_MESSAGE_BYTES, MAX_SHARDS, MIN_MESSAGE_BYTES };

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
function readTokens(
  raw: unknown,
  path: string,
  issues: IssueList,
  seen: Map<string, string>,
  secret = "SALLYPORT_CONNECTOR_TOKENS",
): string[] {
  const list = typeof raw === "string" ? [raw] : Array.isArray(raw) ? raw : undefined;
  if (!list || list.length === 0) {
    issues.add(path, `has no token: set one with "wrangler secret put ${secret}"`);
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

function readOrigins(r: FieldReader): string[] | undefined {
  const list = r.stringList("client.origins");
  for (const o of list ?? []) {
    let ok = false;
    try {
      ok = new URL(o).origin === o;
    } catch {
      // reported below
    }
    if (!ok) r.issues.add(r.at("client.origins"), `"${o.slice(0, 80)}" is not an origin such as https://app.example.com`);
  }
  return list;
}

/**
 * The keys decide who is admitted, so they are fetched over TLS. http:// is allowed only to a
 * loopback address, where nothing sits on the path: a local or self-hosted edge with the key
 * server on the same host, as the e2e tests run it. On Cloudflare a loopback URL is never
 * reachable, so the exception cannot weaken a deployed edge.
 */
function isSecureJwksUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  return url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname));
}

function readAdmission(
  r: FieldReader,
  clientTokens: Record<string, unknown> | undefined,
  name: string,
  seen: Map<string, string>,
): ClientAdmission {
  const origins = readOrigins(r);
  const auth = r.oneOf("client.auth", CLIENT_AUTH, "none");
  const jwks = r.optionalString("client.jwt.jwks");
  const issuer = r.optionalString("client.jwt.issuer");
  const audience = r.optionalString("client.jwt.audience");
  let tokens: string[] = [];
  if (auth === "token") {
    tokens = readTokens(clientTokens?.[name], `SALLYPORT_CLIENT_TOKENS.${name}`, r.issues, seen, "SALLYPORT_CLIENT_TOKENS");
  }
  if (auth === "jwt") {
    if (!jwks)
      r.issues.add(
        r.at("client.jwt.jwks"),
        'is required with client.auth "jwt" (the JWKS URL, e.g. https://TEAM.cloudflareaccess.com/cdn-cgi/access/certs)',
      );
    else if (!isSecureJwksUrl(jwks)) r.issues.add(r.at("client.jwt.jwks"), JWKS_HTTPS_MESSAGE);
    if (!issuer) r.issues.add(r.at("client.jwt.issuer"), ISSUER_REQUIRED_MESSAGE);
    if (!audience)
      r.issues.add(r.at("client.jwt.audience"), 'is required with client.auth "jwt": a token for another application must not pass');
  }
  return Object.freeze({
    origins: origins && Object.freeze(origins),
    auth,
    tokens: Object.freeze(tokens),
    jwt: auth === "jwt" && jwks && issuer && audience ? Object.freeze({ jwks, issuer, audience }) : undefined,
  });
}

function readPins(r: FieldReader): string[] {
  const pins = (r.stringList("socks.ssl.client-cert-sha256") ?? []).map((p) => p.replace(/:/g, "").toLowerCase());
  for (const p of pins)
    if (!/^[0-9a-f]{64}$/.test(p))
      r.issues.add(r.at("socks.ssl.client-cert-sha256"), "must list SHA-256 fingerprints (64 hex digits, colons allowed)");
  return pins;
}

export function parseEdgeConfig(
  servicesRaw: unknown,
  tokensRaw: unknown,
  clientTokensRaw?: unknown,
): Result<EdgeConfig, readonly ConfigIssue[]> {
  const issues = new IssueList();
  const services = asObject(servicesRaw, "SALLYPORT_SERVICES", issues);
  const tokens = asObject(tokensRaw, "SALLYPORT_CONNECTOR_TOKENS", issues);
  const clientTokens =
    clientTokensRaw === undefined || clientTokensRaw === "" ? undefined : asObject(clientTokensRaw, "SALLYPORT_CLIENT_TOKENS", issues);
  const out: EdgeService[] = [];
  // One map for connector and client tokens: a client token that is also a connector token
  // would let whoever holds it park binds and take other clients' sessions.
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
    const maxMessageBytes = r.integer("max.message.size", DEFAULTS["max.message.size"], MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES);
    const maxBinds = r.integer("max.binds", DEFAULTS["max.binds"], 1, 30_000);
    const maxBindsPerCredential = r.integer("max.binds.per.credential", DEFAULTS["max.binds.per.credential"], 1, 30_000);
    const clientPlain = r.oneOf("client.plain", CLIENT_PLAIN, DEFAULTS["client.plain"]);
    // More than the object budget could never be reached: the budget ends the session first.
    const clientPlainMaxBytes = r.integer(
      "client.plain.max.bytes",
      DEFAULTS["client.plain.max.bytes"],
      MIN_MESSAGE_BYTES,
      OBJECT_BUDGET_BYTES,
    );
    const maxClients = r.integer("max.clients", DEFAULTS["max.clients"], 1, 30_000);
    const shards = r.integer("shards", 1, 1, MAX_SHARDS);
    const sessionIdleTimeoutMs = r.optionalDuration("session.idle.timeout", 1000);
    const sessionResumeTimeoutMs = r.duration("session.resume.timeout", DEFAULTS["session.resume.timeout"], 1000);
    if (sessionResumeTimeoutMs > 600_000) issues.add(r.at("session.resume.timeout"), "must be at most 10 minutes");
    const client = readAdmission(r, clientTokens, name, seenTokens);
    const clientCertPins = readPins(r);
    if (clientCertPins.length && verifyClient === "none")
      issues.add(r.at("socks.ssl.client-cert-sha256"), 'pins need socks.ssl.verify-client "required" or "optional"');
    r.rejectUnknown();
    const connectorTokens = tokens ? readTokens(tokens[name], `SALLYPORT_CONNECTOR_TOKENS.${name}`, issues, seenTokens) : [];
    if (accept)
      out.push(
        Object.freeze({
          name,
          accept,
          mode,
          socksTimeoutMs,
          verifyClient,
          maxMessageBytes,
          clientPlain,
          clientPlainMaxBytes,
          maxBinds,
          maxBindsPerCredential,
          maxClients,
          shards,
          sessionIdleTimeoutMs,
          sessionResumeTimeoutMs,
          client,
          clientCertPins: Object.freeze(clientCertPins),
          connectorTokens: Object.freeze(connectorTokens),
        }),
      );
  }
  if (services && Object.keys(services).length === 0) issues.add("SALLYPORT_SERVICES", "names no service");
  for (const name of Object.keys(tokens ?? {})) {
    if (services && !Object.hasOwn(services, name))
      issues.add(`SALLYPORT_CONNECTOR_TOKENS.${name}`, "names a service that SALLYPORT_SERVICES does not have");
  }
  checkDistinct(
    issues,
    "SALLYPORT_SERVICES",
    out.map((s) => [`${s.name}.accept`, s.accept.path]),
    "accept path",
  );
  return issues.empty ? ok(Object.freeze({ services: Object.freeze(out) })) : err(issues.items);
}
