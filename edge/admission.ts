import { createRemoteJWKSet, jwtVerify } from "jose";
import type { EdgeService } from "../shared/config/edge-config.ts";
import { bearerToken, matchToken } from "./auth.ts";

/**
 * Who may use a service. Checked in the Worker, before the request reaches the service
 * object, so a client that is not admitted never consumes a parked bind.
 */

/** Browsers cannot set headers on a WebSocket: they may carry a client token as a subprotocol. */
export const TOKEN_SUBPROTOCOL_PREFIX = "sallyport.bearer.";
/** Cloudflare Access puts its JWT here (and in the CF_Authorization cookie for browsers). */
export const ACCESS_JWT_HEADER = "cf-access-jwt-assertion";
export const ACCESS_JWT_COOKIE = "CF_Authorization";

export function offeredSubprotocols(request: Request): string[] {
  return (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
}

function cookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

/**
 * The oldest token admitted, by its `iat`, whatever its `exp` says: Cloudflare Access's
 * longest session is a month, so a token older than that was not issued for a session.
 */
export const MAX_JWT_AGE_S = 31 * 86_400;
/** Clock skew allowed between the issuer and the edge, on exp, nbf and iat. */
export const JWT_CLOCK_TOLERANCE_S = 30;

// One key set per JWKS URL per isolate: jose caches and refreshes the keys itself.
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

async function verifyJwt(service: EdgeService, token: string): Promise<boolean> {
  const jwt = service.client.jwt!;
  let keys = keySets.get(jwt.jwks);
  if (!keys) keys = keySets.set(jwt.jwks, createRemoteJWKSet(new URL(jwt.jwks))).get(jwt.jwks)!;
  try {
    // exp and iat are required (jose only checks them when present): a token without exp
    // never expires, and maxTokenAge needs iat and refuses one issued in the future.
    await jwtVerify(token, keys, {
      issuer: jwt.issuer,
      audience: jwt.audience,
      requiredClaims: ["exp", "iat"],
      maxTokenAge: MAX_JWT_AGE_S,
      clockTolerance: JWT_CLOCK_TOLERANCE_S,
    });
    return true;
  } catch {
    return false;
  }
}

export type Refusal = "origin" | "credentials";

export async function admitClient(service: EdgeService, request: Request): Promise<Refusal | undefined> {
  const origin = request.headers.get("origin");
  const { origins, auth } = service.client;
  if (origin !== null && origins !== undefined && !origins.includes(origin)) return "origin";
  switch (auth) {
    case "none":
      return undefined;
    case "token": {
      const fromProtocol = offeredSubprotocols(request)
        .find((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX))
        ?.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
      const token = bearerToken(request.headers.get("authorization")) ?? fromProtocol;
      return token !== undefined && (await matchToken(service.client.tokens, token)) ? undefined : "credentials";
    }
    case "jwt": {
      const token = request.headers.get(ACCESS_JWT_HEADER) ?? cookie(request, ACCESS_JWT_COOKIE);
      return token && (await verifyJwt(service, token)) ? undefined : "credentials";
    }
  }
}

/** Cloudflare's view of the client certificate; its fields are strings ("1", "SUCCESS"). */
interface TlsClientAuth {
  readonly certPresented?: string;
  readonly certVerified?: string;
  readonly certRevoked?: string;
  readonly certFingerprintSHA256?: string;
}

/**
 * socks.ssl.verify-client for a connector. On Cloudflare the TLS handshake happened at the
 * edge and `request.cf.tlsClientAuth` reports it. When workerd itself terminates TLS
 * (self-hosted, SALLYPORT_TLS = "workerd"), its listener has already refused any connection
 * without a verified certificate; but workerd does not show the certificate to the Worker, so
 * pins cannot be checked there, and a pinned service admits no connector rather than any.
 */
export function admitConnectorCertificate(service: EdgeService, request: Request, tlsTerminator: string | undefined): boolean {
  if (service.verifyClient === "none") return true;
  if (tlsTerminator === "workerd") return service.clientCertPins.length === 0;
  const auth = (request as Request & { cf?: { tlsClientAuth?: TlsClientAuth } }).cf?.tlsClientAuth;
  const presented = auth?.certPresented === "1";
  if (!presented) return service.verifyClient === "optional";
  if (auth?.certVerified !== "SUCCESS" || auth.certRevoked !== "0") return false;
  if (service.clientCertPins.length === 0) return true;
  return service.clientCertPins.includes((auth.certFingerprintSHA256 ?? "").toLowerCase());
}
