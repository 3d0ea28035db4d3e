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
  /** Stable identity of the connector (survives restarts): binds of an older instance are evicted. */
  readonly connectorId: string;
  /** This process's run; a new instance of the same connectorId takes over. */
  readonly instance: string;
  /** How often this bind sends heartbeats; the edge treats three missed ones as a dead path. */
  readonly heartbeatMs: number;
}

/**
 * connector → edge: the backend connection is open (confirms the pairing). The edge tells a
 * Sallyport client the same, adding its max.message.size (a connector sends none).
 */
export interface OpenedMessage {
  readonly t: "opened";
  readonly maxMessageBytes?: number;
}

/**
 * Either direction, on a paired bind or a client socket that speaks the Sallyport client
 * protocol: the sender has finished sending (a TCP FIN). The other direction stays open.
 */
export interface EndMessage {
  readonly t: "end";
  /**
   * v3, connector → edge → Sallyport client only: this `end` is also the `done` that follows
   * it (a standby session whose backend finished last), one message instead of two. Read as
   * `end` then `done`, with the checks of each.
   */
  readonly done?: true;
}

/**
 * v1. Either direction, same sockets as `end`: the sender may be sent `bytes` more bytes of
 * session data. Each side starts with INITIAL_WINDOW_BYTES of credit.
 */
export interface CreditV1Message {
  readonly t: "credit";
  readonly bytes: number;
}

/**
 * v2. A cumulative limit: the receiver may send data up to offset `upTo` of this session
 * direction (bytes counted from 0; INITIAL_WINDOW_BYTES until told more). From a reader
 * (a connector, a Sallyport client) to the edge it also proves reading: `mark` echoes the
 * id of the latest `mark` it has read, and `upTo` may exceed that mark's offset by at most
 * INITIAL_WINDOW_BYTES. The edge's own grants to a sender carry no mark.
 */
export interface CreditV2Message {
  readonly t: "credit";
  readonly upTo: number;
  readonly mark?: string;
}

export type CreditMessage = CreditV1Message | CreditV2Message;

/**
 * v2, edge → a reader (connector or Sallyport client), between data frames: an id the
 * reader can only know by reading the stream up to here. Its offset is the count of data
 * bytes before it.
 */
export interface MarkMessage {
  readonly t: "mark";
  readonly id: string;
}

/**
 * v3, edge → connector and edge → Sallyport client, when a session becomes resumable (at
 * pairing, and again after each resume): the proof this end presents to resume the session
 * (RESUME_HEADER), and how long the edge waits for the other half (session.resume.timeout).
 * Opaque to the ends; the edge verifies it (edge/ticket.ts).
 */
export interface TicketMessage {
  readonly t: "ticket";
  readonly ticket: string;
  readonly timeoutMs: number;
}

/**
 * v3, edge → each half of a resumed session, once both halves are there: the other end has
 * received `offset` bytes of what this end sends (send again from there), and, with `end`,
 * this end's `end` too. The writer's limit is then `offset` + V2_INITIAL_CREDIT_BYTES until
 * the reader grants again.
 */
export interface ResumedMessage {
  readonly t: "resumed";
  readonly offset: number;
  readonly end?: true;
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
  /** "sallyport": the client speaks end/credit; "plain": a bare WebSocket client. */
  readonly clientProtocol: ClientProtocol;
  /** The service's max.message.size: the connector coalesces backend reads up to it. Absent: MIN_MESSAGE_BYTES. */
  readonly maxMessageBytes?: number;
  /** The client opened this session ahead of use: dial the backend on its `start`, not now. */
  readonly standby?: true;
}

/**
 * Sallyport client → connector (relayed by the edge), on a session opened in standby: it is
 * in use now; dial the backend. A session is opened ahead of use (`sallyport client
 * --preopen`) so a new connection need not wait for a handshake; the backend must not see a
 * connection before there is one.
 */
export interface StartMessage {
  readonly t: "start";
}

/**
 * Connector → Sallyport client (relayed by the edge), on a session opened in standby: both
 * directions have ended and the backend connection is closed; nothing more of this session
 * follows. The pair stays: it is in standby again, and the client's next `start` begins a new
 * session on it, with fresh credit windows (no WebSocket handshake, no pairing).
 */
export interface DoneMessage {
  readonly t: "done";
}

export type ClientProtocol = "plain" | "sallyport";

/** edge → connector: clients are waiting and no bind is parked; open more. */
export interface DemandMessage {
  readonly t: "demand";
  readonly waiting: number;
}

/** Messages that flow end to end between a Sallyport client and the connector. */
export type StreamMessage = EndMessage | CreditMessage;

export type ConnectorMessage = BindMessage | OpenedMessage | StreamMessage | DoneMessage;
export type EdgeMessage =
  | BoundMessage
  | PairedMessage
  | DemandMessage
  | StreamMessage
  | StartMessage
  | MarkMessage
  | TicketMessage
  | ResumedMessage;
export type ClientMessage = StreamMessage | StartMessage;
/**
 * What the edge sends a Sallyport client: the stream messages the connector sent, and
 * `opened` once the connector has its backend (the client may then send beyond the few KiB
 * the edge holds for a client that is not yet paired).
 */
export type ToClientMessage = StreamMessage | OpenedMessage | DoneMessage | MarkMessage | TicketMessage | ResumedMessage;
export type ControlMessage = ConnectorMessage | EdgeMessage | ClientMessage;
export type ControlType = ControlMessage["t"];

/** Which side may send which type; a message from the wrong side is a protocol error. */
export const CONNECTOR_TYPES: ReadonlySet<ControlType> = new Set(["bind", "opened", "end", "credit", "done"]);
export const EDGE_TYPES: ReadonlySet<ControlType> = new Set([
  "bound",
  "paired",
  "demand",
  "end",
  "credit",
  "start",
  "mark",
  "ticket",
  "resumed",
]);
export const STREAM_TYPES: ReadonlySet<ControlType> = new Set(["end", "credit"]);
/** What a Sallyport client may send: the stream messages, and `start`. */
export const CLIENT_TYPES: ReadonlySet<ControlType> = new Set(["end", "credit", "start"]);
export const TO_CLIENT_TYPES: ReadonlySet<ControlType> = new Set(["end", "credit", "opened", "done", "mark", "ticket", "resumed"]);
