import { BEARER_PREFIX } from "../shared/protocol/constants.ts";
import type { EdgeConfig, EdgeService } from "../shared/config/edge-config.ts";

/**
 * Connector authentication. Tokens are compared as SHA-256 digests with
 * crypto.subtle.timingSafeEqual: digesting first makes the comparison length-independent,
 * and every configured token is compared, so timing says nothing about which matched.
 */

const encoder = new TextEncoder();

/** The Workers runtime's constant-time compare; absent from the DOM typings Node-side tests compile with. */
function timingSafeEqual(a: ArrayBuffer, b: ArrayBuffer): boolean {
  return (crypto.subtle as unknown as { timingSafeEqual(a: ArrayBuffer, b: ArrayBuffer): boolean }).timingSafeEqual(a, b);
}

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}

const digests = new WeakMap<EdgeService, Promise<ArrayBuffer[]>>();

function tokenDigests(service: EdgeService): Promise<ArrayBuffer[]> {
  let d = digests.get(service);
  if (!d) {
    d = Promise.all(service.connectorTokens.map(digest));
    digests.set(service, d);
  }
  return d;
}

export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header?.startsWith(BEARER_PREFIX)) return undefined;
  const token = header.slice(BEARER_PREFIX.length).trim();
  return token.length > 0 && token.length <= 4096 ? token : undefined;
}

/** Constant-time membership: every candidate is compared, digests make lengths equal. */
export async function matchToken(candidates: readonly string[], token: string): Promise<boolean> {
  const presented = await digest(token);
  let found = false;
  for (const c of candidates) if (timingSafeEqual(presented, await digest(c))) found = true;
  return found;
}

export interface Credential {
  readonly service: EdgeService;
  /**
   * Which token matched, as its SHA-256 digest in hex: what a bind's takeover and caps are
   * keyed on. Not the token's position in the list, which shifts when tokens rotate; not the
   * token itself, which must never sit in an attachment.
   */
  readonly credential: string;
}

const hex = (b: ArrayBuffer): string => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");

/** The service whose credential this is; routing uses it and nothing the request names. */
export async function serviceForToken(config: EdgeConfig, token: string): Promise<Credential | undefined> {
  const presented = await digest(token);
  let match: Credential | undefined;
  for (const service of config.services) {
    for (const d of await tokenDigests(service)) {
      if (timingSafeEqual(presented, d) && !match) match = { service, credential: hex(d) };
    }
  }
  return match;
}
