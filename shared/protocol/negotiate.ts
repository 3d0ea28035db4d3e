import { PROTOCOL_VERSIONS, type ProtocolVersion } from "./constants.ts";

/**
 * Version negotiation in the WebSocket handshake: a peer offers the subprotocols of every
 * version it speaks, newest first; the edge selects the newest one it speaks too; both then
 * speak that version for the life of the socket (every control message carries it as `v`).
 */

type Names = Readonly<Record<ProtocolVersion, string>>;

/**
 * What a connector or client offers: every version this code speaks, newest first — up to
 * `newest`, for a peer that cannot do all a newer one asks (a client that cannot resume offers
 * no v3: the connector would hold its backend connection for a resume that never comes).
 */
export function offered(names: Names, newest: ProtocolVersion = PROTOCOL_VERSIONS[0]): string[] {
  return PROTOCOL_VERSIONS.filter((v) => v <= newest).map((v) => names[v]);
}

/** The newest version whose subprotocol the peer offered; undefined when it offered none of ours. */
export function selectVersion(offers: readonly string[], names: Names): ProtocolVersion | undefined {
  return PROTOCOL_VERSIONS.find((v) => offers.includes(names[v]));
}

/** The version a selected subprotocol names; undefined for anything else (no subprotocol, another one). */
export function versionOf(selected: string | null | undefined, names: Names): ProtocolVersion | undefined {
  return PROTOCOL_VERSIONS.find((v) => names[v] === selected);
}

/** v2 and later: cumulative credit proved by marks. */
export const usesMarks = (v: ProtocolVersion): boolean => v >= 2;
/** v3 and later: sessions resume across a dropped WebSocket (docs/protocol.md, "Resume"). */
export const resumes = (v: ProtocolVersion): boolean => v >= 3;
/**
 * v3 and later: a connector's last `end` of a standby session may carry its `done`, one message
 * instead of two (each costs the edge object CPU and each end a write); older peers get two.
 */
export const endCarriesDone = (v: ProtocolVersion): boolean => v >= 3;
