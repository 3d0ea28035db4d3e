import { MAX_ID_LENGTH, MAX_TICKET_LENGTH } from "../shared/protocol/constants.ts";

/**
 * Resume tickets (docs/protocol.md, "Resume"): the stateless proof with which the two ends of a
 * v3 session resume it after its WebSocket dropped. The edge issues one to each end at pairing
 * (and again after each resume); any object of any later deployment can check it, because it is
 * an HMAC under a Worker secret (SALLYPORT_RESUME_SECRET), not something an object remembers.
 *
 *   ticket = base64url(JSON payload) "." base64url(HMAC-SHA-256(key, DOMAIN + payload part))
 *
 * The payload names the session and its epoch (bumped by every resume), the service and the
 * object that paired it (the Worker routes the resume there, and shards may pick objects by
 * something else than the service name), and the side: a connector's ticket is refused on the
 * accept path and a client's on the bind path, so neither end can stand in for the other.
 *
 * Verification only proves the edge issued the ticket; whether the session still exists, and
 * at this epoch, is the connector's to say (it resumes only its current epoch), so a replay
 * of an old or ended session finds no other half and gets nothing.
 */

export type TicketSide = "bind" | "client";

export interface TicketClaims {
  readonly sessionId: string;
  readonly epoch: number;
  readonly service: string;
  /** The name the service object was addressed by (idFromName). */
  readonly objectName: string;
  readonly side: TicketSide;
  /** The pair was opened in standby (it runs one session after another): its client half is one again. */
  readonly standby?: boolean;
}

/** Separates these MACs from any other use of the secret. */
const DOMAIN = "sallyport resume ticket v1\n";
/** A secret shorter than this is not one (a placeholder, a typo): resume is then off. */
export const MIN_SECRET_LENGTH = 32;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromB64url(text: string): Uint8Array | undefined {
  try {
    const s = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keys = new Map<string, Promise<HmacKey>>();

/** The HMAC key of a secret, imported once per isolate. */
function keyOf(secret: string): Promise<HmacKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    keys.set(secret, key);
  }
  return key;
}

/** Whether a configured secret is usable; without one the edge issues no tickets (sessions do not resume). */
export function usableSecret(secret: string | null | undefined): secret is string {
  return typeof secret === "string" && secret.length >= MIN_SECRET_LENGTH;
}

export async function signTicket(secret: string, claims: TicketClaims): Promise<string> {
  const { sessionId: s, epoch: e, service: v, objectName: o, side } = claims;
  const fields = { s, e, v, o, r: side === "bind" ? "b" : "c", ...(claims.standby ? { k: 1 } : {}) };
  const payload = b64url(encoder.encode(JSON.stringify(fields)));
  const mac = await crypto.subtle.sign("HMAC", await keyOf(secret), encoder.encode(DOMAIN + payload));
  return `${payload}.${b64url(new Uint8Array(mac))}`;
}

/** The claims of a ticket this edge issued; undefined for anything else (malformed, forged, another secret). */
export async function verifyTicket(secret: string, ticket: string): Promise<TicketClaims | undefined> {
  if (ticket.length > MAX_TICKET_LENGTH) return undefined;
  const dot = ticket.indexOf(".");
  if (dot < 1 || dot !== ticket.lastIndexOf(".")) return undefined;
  const payload = ticket.slice(0, dot);
  const mac = fromB64url(ticket.slice(dot + 1));
  if (mac?.byteLength !== 32) return undefined;
  // verify() compares in constant time: the MAC is checked before anything is read from the payload.
  const valid = await crypto.subtle.verify("HMAC", await keyOf(secret), mac, encoder.encode(DOMAIN + payload));
  if (!valid) return undefined;
  return readClaims(payload);
}

function readClaims(payload: string): TicketClaims | undefined {
  const bytes = fromB64url(payload);
  if (!bytes) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const { s, e, v: service, o, r, k } = v as Record<string, unknown>;
  const idOk = typeof s === "string" && s.length > 0 && s.length <= MAX_ID_LENGTH;
  if (!idOk || !Number.isSafeInteger(e) || (e as number) < 0 || typeof service !== "string" || typeof o !== "string") return undefined;
  if (r !== "b" && r !== "c") return undefined;
  const claims = { sessionId: s, epoch: e as number, service, objectName: o, side: r === "b" ? ("bind" as const) : ("client" as const) };
  return k === 1 ? { ...claims, standby: true } : claims;
}
