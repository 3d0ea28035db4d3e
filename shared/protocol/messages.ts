/**
 * Control messages. They travel as WebSocket *text* frames on a bind socket; binary frames
 * on a paired bind are session data and are never parsed. Client sockets carry no control
 * messages at all, and client text is re-sent to the connector as binary, so a client can
 * never speak the control protocol.
 *
 * SOCKS BIND (RFC 1928 §4) answers a BIND request twice; so does the edge: `bound` when the
 * bind is parked, `paired` when a client took it.
 */

/** connector → edge: park this socket as a prepared bind for the service at `accept`. */
export interface BindMessage {
  readonly t: "bind";
  readonly accept: string;
  readonly bindId: string;
  readonly connectorId: string;
}

/** edge → connector: first reply — the bind is parked. */
export interface BoundMessage {
  readonly t: "bound";
  readonly bindId: string;
}

/** edge → connector: second reply — a client took the bind; dial the backend now. */
export interface PairedMessage {
  readonly t: "paired";
  readonly sessionId: string;
  readonly clientAddress: string;
}

/** edge → connector: clients are waiting and no bind is parked; open more. */
export interface DemandMessage {
  readonly t: "demand";
  readonly waiting: number;
}

export type ConnectorMessage = BindMessage;
export type EdgeMessage = BoundMessage | PairedMessage | DemandMessage;
export type ControlMessage = ConnectorMessage | EdgeMessage;
export type ControlType = ControlMessage["t"];

/** Which side may send which type; a message from the wrong side is a protocol error. */
export const CONNECTOR_TYPES: ReadonlySet<ControlType> = new Set(["bind"]);
export const EDGE_TYPES: ReadonlySet<ControlType> = new Set(["bound", "paired", "demand"]);
