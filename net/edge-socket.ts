import type { ConnectionOptions, SecureContext } from "node:tls";
import WebSocket, { type ClientOptions } from "ws";
import { maskOptions } from "../shared/masking.ts";
import { type ProxyRoute, Tunnel } from "./proxy.ts";
import { PIN_MISMATCH, pinnedIdentity } from "./tls-pin.ts";
import { streamBinary } from "./ws-streaming.ts";

/**
 * A WebSocket dialed out to the edge — by the connector's binds and by `sallyport client` /
 * `probe` alike — directly or through an HTTP proxy, with the trust the configuration gives,
 * and a diagnosis of why it failed that says what to fix.
 */

/** How to reach the edge: resolved once per configuration, used for every dial. */
export interface EdgeRoute {
  /** Trusted CAs and client certificate (trust.ts); Node's defaults when undefined. */
  readonly secureContext?: SecureContext | undefined;
  /** SHA-256 the edge's certificate must have, besides being valid (edge.cert.sha256). */
  readonly pin?: string | undefined;
  readonly proxy?: ProxyRoute | undefined;
}

/** Why a dial failed: a short detail, and the fix when there is one the operator can make. */
export interface DialProblem {
  readonly detail: string;
  readonly fix?: string;
}

export interface EdgeSocket {
  readonly ws: WebSocket;
  /** For `unexpected-response`: the proxy's refusal of the CONNECT, or undefined when the edge answered. */
  refusal(): DialProblem | undefined;
  /** For `error`. */
  failure(e: Error): DialProblem;
}

/** What callers choose; TLS identity checks and the agent are the route's. The handshake deadline covers the CONNECT too. */
export type EdgeSocketOptions = Omit<ClientOptions, "checkServerIdentity" | "agent" | "ca" | "secureContext" | "handshakeTimeout"> & {
  readonly handshakeTimeout: number;
  /** ws's closeTimeout (8.18+, not yet in @types/ws): how long to wait for the TCP close after the close frames. */
  readonly closeTimeout?: number;
};

/** ws's constructor, or a unit test's fake of it. */
export type OpenWebSocket<P extends string | string[] = string | string[]> = (
  url: string,
  protocols: P,
  options: ClientOptions,
) => WebSocket;

const newWebSocket: OpenWebSocket = (url, protocols, options) => new WebSocket(url, protocols, options);

export function openEdgeSocket<P extends string | string[]>(
  url: string,
  protocols: P,
  route: EdgeRoute,
  options: EdgeSocketOptions,
  open: OpenWebSocket<P> = newWebSocket,
): EdgeSocket {
  const target = new URL(url);
  const tunnel = route.proxy ? new Tunnel(route.proxy, options.handshakeTimeout) : undefined;
  // Handed to tls.connect as they are (ws's typings give checkServerIdentity another shape).
  const tls: ConnectionOptions = {
    ...(route.secureContext ? { secureContext: route.secureContext } : {}),
    ...(route.pin ? { checkServerIdentity: pinnedIdentity(route.pin) } : {}),
  };
  const ws = open(url, protocols, {
    perMessageDeflate: false,
    // A redirect could point a token at another host: never follow one.
    followRedirects: false,
    ...maskOptions(url),
    ...options,
    ...(tls as ClientOptions),
    ...(tunnel ? { agent: tunnel.agent } : {}),
  });
  // First of the open listeners: the receiver exists, and no frame has been read yet.
  ws.once("open", () => streamBinary(ws));
  const where = hostPort(target);
  return {
    ws,
    refusal: () => (tunnel ? proxyRefusal(tunnel, where) : undefined),
    failure: (e) => diagnose(e, tunnel, where, route.pin !== undefined, target.hostname),
  };
}

function hostPort(u: URL): string {
  return `${u.hostname}:${u.port || (u.protocol === "wss:" ? 443 : 80)}`;
}

function proxyRefusal(t: Tunnel, where: string): DialProblem | undefined {
  const a = t.answer;
  if (!a || a.statusCode === 200) return undefined;
  const { display, source, credentialsFrom } = t.route;
  const status = `HTTP ${a.statusCode}${a.statusText ? ` ${a.statusText}` : ""}`;
  // 407 is the standard answer; some proxies (tinyproxy among them) answer wrong credentials with 401.
  if (a.statusCode === 407 || a.statusCode === 401) {
    if (a.scheme && a.scheme.toLowerCase() !== "basic")
      return {
        detail: `the proxy ${display} asks for ${a.scheme} authentication (${status})`,
        fix:
          `Sallyport sends Basic credentials only: ask the proxy's administrators for Basic authentication, ` +
          `or to let this host CONNECT to ${where} without it`,
      };
    return credentialsFrom
      ? {
          detail: `the proxy ${display} refused the credentials (${status})`,
          fix: `check the user and password in ${credentialsFrom}`,
        }
      : {
          detail: `the proxy ${display} requires credentials (${status})`,
          fix: "put user:password in a file and give it with --proxy-credentials-file (proxy.credentials.file), or in the proxy URL",
        };
  }
  if (a.statusCode === 403)
    return {
      detail: `the proxy ${display} forbids CONNECT to ${where} (${status})`,
      fix:
        `ask the proxy's administrators to allow CONNECT to ${where} (squid: ` +
        `the host in an allowed acl and its port in SSL_ports; tinyproxy: ConnectPort ${where.slice(where.lastIndexOf(":") + 1)})`,
    };
  return {
    detail: `the proxy ${display} did not open a tunnel to ${where} (${status})`,
    fix: `check that the proxy can resolve and reach ${where} (the proxy from ${source})`,
  };
}

/** Certificate errors: the peer's chain or name did not verify. */
const CERTIFICATE_ERRORS = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "INVALID_CA",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  PIN_MISMATCH,
]);

function diagnose(e: Error, t: Tunnel | undefined, where: string, pinned: boolean, host: string): DialProblem {
  const code = (e as NodeJS.ErrnoException).code;
  // The pin's own message says what did not match; Node's codes name the rest.
  const why = code === PIN_MISMATCH ? e.message : (code ?? e.message);
  if (!t) {
    if (code === PIN_MISMATCH)
      return { detail: `${why} (${where})`, fix: "check edge.cert.sha256: the SHA-256 of the certificate the edge presents" };
    if (code && CERTIFICATE_ERRORS.has(code))
      return {
        detail: `the edge's certificate for ${where} did not verify (${why})`,
        fix: "if the edge uses a private CA, give it with --ca-file (ca.file: it adds to the trusted CAs)",
      };
    return { detail: `cannot reach the edge at ${where} (${why})` };
  }
  const { display, source } = t.route;
  if (t.timedOut)
    return {
      detail: `the proxy ${display} did not answer the CONNECT to ${where} within ${t.timeoutMs} ms`,
      fix: `check that ${display} (from ${source}) is an HTTP proxy that accepts CONNECT, and that this host can reach it`,
    };
  if (!t.answer) {
    if (code && CERTIFICATE_ERRORS.has(code))
      return {
        detail: `the proxy ${display}'s own certificate did not verify (${why})`,
        fix: "give the CA that signed the proxy's certificate with --proxy-ca-file (proxy.ca.file)",
      };
    return {
      detail: `cannot reach the proxy ${display} (${why})`,
      fix: `check the proxy address (from ${source}), or list ${host} in NO_PROXY if the edge is to be reached directly`,
    };
  }
  if (code && CERTIFICATE_ERRORS.has(code))
    return pinned
      ? {
          detail:
            `the certificate presented for ${where} through the proxy ${display} is not the edge's ` + `(${why}): the proxy intercepts TLS`,
          fix:
            `edge.cert.sha256 pins the edge's own certificate, so TLS inspection is refused by design: ` +
            `ask for ${host} to be exempted from inspection`,
        }
      : {
          detail:
            `the certificate presented for ${where} through the proxy ${display} is not the edge's ` +
            `(${why}): the proxy probably intercepts TLS with a certificate of its own`,
          fix:
            `ask for ${host} to be exempted from TLS inspection, or trust the proxy's CA: ` +
            `give the corporate CA certificate (PEM) with --ca-file (ca.file adds it to the trusted CAs)`,
        };
  return { detail: `lost the tunnel to ${where} through the proxy ${display} (${why})` };
}
