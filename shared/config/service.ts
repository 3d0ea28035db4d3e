import { MAX_MESSAGE_BYTES, MAX_URI_LENGTH, RESERVED_PATH_PREFIX } from "../protocol/constants.ts";
import type { IssueList } from "./issues.ts";
import { FieldReader } from "./reader.ts";
import { parseWsUrl } from "../ws-url.ts";

/**
 * Settings a service has on both sides, under the names Kaazing's Enterprise Shield uses.
 * The edge and the connector each read the part that is theirs; `connect` is the
 * connector's alone and the edge refuses a configuration that names one.
 */

export const SOCKS_MODES = ["reverse"] as const;
export type SocksMode = (typeof SOCKS_MODES)[number];

export const VERIFY_CLIENT = ["required", "optional", "none"] as const;
export type VerifyClient = (typeof VERIFY_CLIENT)[number];

export const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const DEFAULTS = Object.freeze({
  "socks.mode": "reverse" as SocksMode,
  "socks.timeout": "2 seconds",
  /** v3: how long the first half of a dropped session waits at the edge for the other (protocol.md, "Resume"). */
  "session.resume.timeout": "30 seconds",
  "socks.retry.maximum.interval": "1 second",
  "prepared.connection.count": 1,
  "maximum.recovery.interval": "1 second",
  "socks.ssl.verify-client": "none" as VerifyClient,
  "heartbeat.interval": "15 seconds",
  "drain.timeout": "30 seconds",
  /**
   * 1 MiB, the most a Node peer takes (MAX_MESSAGE_BYTES), far below the runtime's 32 MiB: the
   * edge's cost is largely per message, and 1 MiB messages took ~9 % more bulk each way than
   * 256 KiB ones at ~6 % less CPU per GiB (docs/performance.md, "Levers taken").
   */
  "max.message.size": MAX_MESSAGE_BYTES,
  /** Below a Durable Object's 32,768 hibernatable sockets, with room for clients. */
  "max.binds": 2048,
  "max.binds.per.credential": 1024,
  /** Plain WebSocket clients are served (they cannot prove reading; see client.plain.max.bytes). */
  "client.plain": "allow" as ClientPlain,
  /**
   * 16 MiB: the downstream bytes one plain session may receive before the edge ends it (1013).
   * Half the object budget: what one non-reading plain client can pin.
   */
  "client.plain.max.bytes": 16_777_216,
  /**
   * Clients (waiting and paired) one service holds at most. Every client socket costs the
   * service's one object memory (which Cloudflare caps at 128 MB, resetting every session of
   * the service beyond it): 512 leaves room for each to be relaying.
   */
  "max.clients": 512,
  /** Sessions one connector runs at once per service; each holds a backend connection and up to ~4 MiB of buffers. */
  "max.sessions": 512,
});

export const CLIENT_PLAIN = ["allow", "deny"] as const;
export type ClientPlain = (typeof CLIENT_PLAIN)[number];

/** The logical accept URI: what clients dial and what both sides agree names the service. */
export interface AcceptUri {
  readonly uri: string;
  readonly path: string;
  readonly secure: boolean;
}

export function readAccept(r: FieldReader): AcceptUri | undefined {
  const text = r.string("accept");
  if (text === undefined) return undefined;
  const parsed = parseWsUrl(text, { noun: "URI", example: "wss://gateway.example.com/path" });
  if (!parsed.ok) {
    r.issues.add(r.at("accept"), parsed.error);
    return undefined;
  }
  const url = parsed.value;
  // The URI travels in every bind message, which the codec holds to these same bounds.
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)$/.test(url.hostname)) {
    r.issues.add(r.at("accept"), "must name a host such as gateway.example.com");
    return undefined;
  }
  if (url.href.length > MAX_URI_LENGTH) {
    r.issues.add(r.at("accept"), `must be at most ${MAX_URI_LENGTH} characters`);
    return undefined;
  }
  if (url.pathname.startsWith(RESERVED_PATH_PREFIX)) {
    r.issues.add(r.at("accept"), `the path must not start with ${RESERVED_PATH_PREFIX} (reserved for Sallyport)`);
    return undefined;
  }
  return { uri: url.href, path: url.pathname, secure: url.protocol === "wss:" };
}

/** The backend, known only to the connector. */
export interface BackendAddress {
  readonly scheme: "tcp" | "tls";
  readonly host: string;
  readonly port: number;
}

export function readConnect(r: FieldReader): BackendAddress | undefined {
  const text = r.string("connect");
  if (text === undefined) return undefined;
  const m = /^(tcp|tls|ssl):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(text);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) {
    r.issues.add(r.at("connect"), 'must be "tcp://HOST:PORT" (or "tls://HOST:PORT") with a port from 1 to 65535');
    return undefined;
  }
  return { scheme: m[1] === "tcp" ? "tcp" : "tls", host: m[2]!.replace(/^\[|\]$/g, ""), port };
}

export function readName(r: FieldReader, fallback?: string): string | undefined {
  const name = r.string("name", fallback);
  if (name !== undefined && !SERVICE_NAME.test(name)) {
    r.issues.add(r.at("name"), "must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit");
    return undefined;
  }
  return name;
}

/** Settings both sides read the same way. */
export function readMode(r: FieldReader): SocksMode {
  return r.oneOf("socks.mode", SOCKS_MODES, DEFAULTS["socks.mode"]);
}

export function checkDistinct(issues: IssueList, path: string, values: Array<[string, string | undefined]>, what: string): void {
  const seen = new Map<string, string>();
  // "services" + "[1].name" → "services[1].name"; "SALLYPORT_SERVICES" + "a.accept" → "SALLYPORT_SERVICES.a.accept".
  const join = (where: string): string => (where.startsWith("[") ? `${path}${where}` : `${path}.${where}`);
  for (const [where, value] of values) {
    if (value === undefined) continue;
    const first = seen.get(value);
    if (first !== undefined) issues.add(join(where), `${what} already used by ${join(first)}`);
    else seen.set(value, where);
  }
}

export { FieldReader };
