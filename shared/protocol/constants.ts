/**
 * The whole wire vocabulary that is not a message: paths, headers, subprotocol, limits.
 * Literal values are pinned by test/unit/protocol-constants.test.ts; changing one is a
 * protocol break and needs PROTOCOL_VERSION bumped.
 */

/**
 * Versions this code speaks, newest first. The subprotocol names the version (negotiated in
 * the WebSocket handshake: the edge selects the highest one both offer), and every control
 * message carries the negotiated one as `v`. v2: cumulative credit with marks; v3: v2 and
 * resumable sessions (protocol.md, "Resume").
 */
export const PROTOCOL_VERSIONS = [3, 2, 1] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];
/** The newest version: what new connectors and clients offer first. */
export const PROTOCOL_VERSION: ProtocolVersion = 3;

/** WebSocket subprotocol a connector offers on its bind socket, per version; the edge selects one. */
export const BIND_SUBPROTOCOLS: Readonly<Record<ProtocolVersion, string>> = Object.freeze({
  1: "sallyport.bind.v1",
  2: "sallyport.bind.v2",
  3: "sallyport.bind.v3",
});

/** The connector endpoint. It is not any service's accept path (config validation forbids it). */
export const BIND_PATH = "/_sallyport/bind";
export const HEALTH_PATH = "/_sallyport/health";
/** A client refused before the upgrade because its service holds max.clients clients (with Retry-After): try again later. */
export const SERVICE_FULL_STATUS = 503;
/** Per-service status as JSON, and as a small HTML page; both need the admin token. */
export const STATUS_PATH = "/_sallyport/status";
export const STATUS_PAGE_PATH = "/_sallyport/status.html";
/** Everything under this prefix is reserved for Sallyport itself. */
export const RESERVED_PATH_PREFIX = "/_sallyport/";

/** Connector credential travels in this header, never in the URL. */
export const AUTHORIZATION_HEADER = "authorization";
/**
 * A Sallyport client sets this header to "1" on a session it opens ahead of use: the
 * connector dials the backend only when the client says `start` (see messages.ts).
 */
export const STANDBY_HEADER = "sallyport-standby";
/**
 * A service spread over several objects (edge config `shards`): a connector's bind names the
 * shard it wants in this request header (absent: shard 0, as older connectors do), and the
 * edge's 101 answers with the shard the bind was placed on here and the service's shard count
 * in SHARDS_HEADER, so the connector learns N from the edge, never from its own configuration.
 */
export const SHARD_HEADER = "sallyport-shard";
export const SHARDS_HEADER = "sallyport-shards";
/** Most shards a service may have (edge config `shards`); a connector believes no edge beyond it. */
export const MAX_SHARDS = 64;
export const BEARER_PREFIX = "Bearer ";

/**
 * Heartbeat on bind sockets. The edge registers this pair with setWebSocketAutoResponse,
 * so the runtime answers it without waking a hibernated object, and records the time
 * (getWebSocketAutoResponseTimestamp) that tells live binds from silent ones.
 * The NUL prefix keeps it out of any text a real client plausibly sends.
 */
export const HEARTBEAT_REQUEST = "\u0000sallyport:ping:1";
export const HEARTBEAT_RESPONSE = "\u0000sallyport:pong:1";
/**
 * Both ends of a bind socket presume it dead after this many heartbeat intervals without a
 * sign of life: the connector closes it, the edge never hands it out.
 */
export const HEARTBEAT_MISSES = 3;
/** How long a Node peer (connector bind, CLI client) waits for the edge's WebSocket handshake. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * Bounds on a bind's declared heartbeat interval (`heartbeatMs`). The ceiling bounds how long
 * a bind can outlive its connector at the edge (three intervals), so a bind cannot declare
 * itself alive for hours.
 */
export const MIN_HEARTBEAT_MS = 100;
export const MAX_HEARTBEAT_MS = 60_000;
/**
 * How often the socket of a session in progress is heartbeated: by a connector on its paired
 * bind (at most this far apart, whatever its parked binds' heartbeatMs), and by a Sallyport
 * client on its session socket. Three missed answers (HEARTBEAT_MISSES) end the session: a
 * black-holed leg is found within 4 intervals, 8 s. The edge holds a Sallyport client that
 * has heartbeated to this interval; a connector's bind to the heartbeatMs it declared.
 */
export const SESSION_HEARTBEAT_MS = 2_000;

/**
 * Subprotocol of clients that speak Sallyport's client protocol (the CLI forwarder, the
 * browser helper): text frames are then end/credit control messages, binary frames data.
 * A client that offers none is "plain": every frame is data.
 */
export const CLIENT_SUBPROTOCOLS: Readonly<Record<ProtocolVersion, string>> = Object.freeze({
  1: "sallyport.client.v1",
  2: "sallyport.client.v2",
  3: "sallyport.client.v3",
});

/**
 * v3: a dropped session's end reconnects to the same endpoint (bind path with its connector
 * token, accept path with its client credentials), offering only v3, with its resume ticket
 * in this header (never in the URL) …
 */
export const RESUME_HEADER = "sallyport-resume";
/** … the count of session data bytes it has received (it is sent again from there) … */
export const RESUME_RECEIVED_HEADER = "sallyport-resume-received";
/** … and "1" when it has received the other end's `end`. */
export const RESUME_END_HEADER = "sallyport-resume-end";
/**
 * A page cannot set headers: the browser helper offers the same three as one more subprotocol,
 * `sallyport.resume.<received>.<end 0|1>.<ticket>` (shared/protocol/resume-subprotocol.ts). The edge never
 * selects it; it answers with the version's subprotocol as for any client.
 */
export const RESUME_SUBPROTOCOL_PREFIX = "sallyport.resume.";
/** A resume ticket's length bound (base64url payload "." base64url HMAC). */
export const MAX_TICKET_LENGTH = 512;
/** How long the first half of a resume waits for the other, unless the service sets session.resume.timeout. */
export const DEFAULT_RESUME_TIMEOUT_MS = 30_000;

/**
 * Flow-control window each direction starts with, in bytes of session data. Large enough
 * that a 64 KiB-message bulk transfer never waits on credit at local round-trip times.
 */
export const INITIAL_WINDOW_BYTES = 8 * 1024 * 1024;
/** v1: the largest increment one `credit` may grant. */
export const MAX_CREDIT_BYTES = 2 ** 31;
/**
 * v2: the edge places a `mark` in the data it sends a peer each time this many bytes went
 * out since the last one; a grant counts only up to the offset of the mark it echoes. A
 * peer grants again each time it can add this much, so a throttled session always has a
 * mark within reach (docs/protocol.md, "Version 2").
 */
export const MARK_INTERVAL_BYTES = INITIAL_WINDOW_BYTES / 8;
/**
 * v2: what a writer may send before its reader has proved anything (the first limit is this
 * offset, not a whole window): a reader that never reads pins at most this much at the edge.
 * An honest reader's first grant, at the first mark, opens the full window.
 */
export const V2_INITIAL_CREDIT_BYTES = MARK_INTERVAL_BYTES;
/** v2: offsets are byte counts of one session direction, from 0; bounded so they stay exact. */
export const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

/**
 * Bounds on a service's max.message.size. The floor is what every edge takes, so it is the
 * message size a sender uses until the edge has said its own (in `paired` and `opened`).
 */
export const MIN_MESSAGE_BYTES = 65_536;
/** A Node peer's ws maxPayload is sized to this (MAX_RECEIVE_BYTES). */
export const MAX_MESSAGE_BYTES = 1_048_576;

/** Control messages are small; anything bigger is an attack or a bug. */
export const MAX_CONTROL_MESSAGE_BYTES = 4096;
/**
 * The largest WebSocket message an edge ever sends a Node peer (connector bind, CLI client):
 * a data message of at most MAX_MESSAGE_BYTES, or a control message. Their ws maxPayload, so
 * nothing an edge sends can make either buffer more.
 */
export const MAX_RECEIVE_BYTES = MAX_MESSAGE_BYTES + MAX_CONTROL_MESSAGE_BYTES;
/** Bounds on identifiers carried in control messages. */
export const MAX_ID_LENGTH = 64;
export const MAX_URI_LENGTH = 2048;
export const MAX_ADDRESS_LENGTH = 64;
