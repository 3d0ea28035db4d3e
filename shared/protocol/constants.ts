/**
 * The whole wire vocabulary that is not a message: paths, headers, subprotocol, limits.
 * Literal values are pinned by test/unit/protocol-constants.test.ts; changing one is a
 * protocol break and needs PROTOCOL_VERSION bumped.
 */

export const PROTOCOL_VERSION = 1;

/** WebSocket subprotocol a connector offers on its bind socket; the edge echoes it. */
export const BIND_SUBPROTOCOL = "sallyport.bind.v1";

/** The connector endpoint. It is not any service's accept path (config validation forbids it). */
export const BIND_PATH = "/_sallyport/bind";
export const HEALTH_PATH = "/_sallyport/health";
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
 * Subprotocol of clients that speak Sallyport's client protocol (the CLI forwarder, the
 * browser helper): text frames are then end/credit control messages, binary frames data.
 * A client that offers none is "plain": every frame is data.
 */
export const CLIENT_SUBPROTOCOL = "sallyport.client.v1";

/**
 * Flow-control window each direction starts with, in bytes of session data. Large enough
 * that a 64 KiB-message bulk transfer never waits on credit at local round-trip times.
 */
export const INITIAL_WINDOW_BYTES = 8 * 1024 * 1024;
export const MAX_CREDIT_BYTES = 2 ** 31;

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
