import { assertNever, err, ok, type Result } from "../result.ts";
import {
  MAX_ADDRESS_LENGTH,
  MAX_CONTROL_MESSAGE_BYTES,
  MAX_CREDIT_BYTES,
  MAX_HEARTBEAT_MS,
  MAX_ID_LENGTH,
  MAX_MESSAGE_BYTES,
  MAX_OFFSET,
  MAX_TICKET_LENGTH,
  MAX_URI_LENGTH,
  MIN_HEARTBEAT_MS,
  MIN_MESSAGE_BYTES,
  PROTOCOL_VERSIONS,
  type ProtocolVersion,
} from "./constants.ts";
import {
  CONNECTOR_TYPES,
  EDGE_TYPES,
  CLIENT_TYPES,
  TO_CLIENT_TYPES,
  type ToClientMessage,
  type ClientMessage,
  type ConnectorMessage,
  type ControlMessage,
  type ControlType,
  type EdgeMessage,
} from "./messages.ts";

/** Why a control frame was rejected. `detail` is for our own logs only, never sent. */
export interface ProtocolError {
  readonly code: "TOO_LARGE" | "NOT_JSON" | "NOT_OBJECT" | "BAD_VERSION" | "UNKNOWN_TYPE" | "WRONG_SIDE" | "BAD_FIELD";
  readonly detail: string;
}

const perr = (code: ProtocolError["code"], detail: string): Result<never, ProtocolError> => err({ code, detail });

/** Field specs per type: the exact set of keys besides `v` and `t`. */
type FieldKind =
  | "id"
  | "uri"
  | "address"
  | "count"
  | "bytes"
  | "offset"
  | "interval"
  | "clientProtocol"
  | "messageBytes"
  | "true"
  | "ticket"
  | "timeout";
/** A trailing "?" marks a field that may be left out (added after v1 was first written). */
type FieldSpec = FieldKind | `${FieldKind}?`;
type Fields = Readonly<Partial<Record<ControlType, Readonly<Record<string, FieldSpec>>>>>;
const FIELDS_V1: Fields = {
  bind: { accept: "uri", bindId: "id", connectorId: "id", instance: "id", heartbeatMs: "interval" },
  bound: { bindId: "id" },
  paired: {
    sessionId: "id",
    clientAddress: "address",
    clientProtocol: "clientProtocol",
    maxMessageBytes: "messageBytes?",
    standby: "true?",
  },
  demand: { waiting: "count" },
  opened: { maxMessageBytes: "messageBytes?" },
  end: {},
  credit: { bytes: "bytes" },
  start: {},
  done: {},
};
/** v2: credit is a cumulative limit (echoing a mark when a reader sends it), and the edge marks the stream. */
const FIELDS_V2: Fields = { ...FIELDS_V1, credit: { upTo: "offset", mark: "id?" }, mark: { id: "id" } };
/** v3: v2, and resume (a ticket at pairing; `resumed` once both halves of a dropped session are back). */
const FIELDS_V3: Fields = {
  ...FIELDS_V2,
  ticket: { ticket: "ticket", timeoutMs: "timeout" },
  resumed: { offset: "offset", end: "true?" },
};
const FIELDS: Readonly<Record<ProtocolVersion, Fields>> = { 1: FIELDS_V1, 2: FIELDS_V2, 3: FIELDS_V3 };
/**
 * v3, from a connector and from the edge to a Sallyport client: `end` may carry `done`
 * (EndMessage). Never from a client, nor from the edge to a connector: only a connector says `done`.
 */
const END_MAY_CARRY_DONE: Readonly<Partial<Record<ProtocolVersion, Fields>>> = { 3: { ...FIELDS_V3, end: { done: "true?" } } };

/** Bounds on a ticket's timeoutMs (session.resume.timeout): a second to ten minutes. */
const MIN_RESUME_TIMEOUT_MS = 1000;
const MAX_RESUME_TIMEOUT_MS = 600_000;

const ID_PATTERN = /^[A-Za-z0-9_-]+$/;
/** A resume ticket: base64url payload "." base64url MAC (edge/ticket.ts). */
export const TICKET_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// Printable ASCII only: addresses and URIs end up in logs, so no control characters.
const PRINTABLE = /^[\x21-\x7e]+$/;
// A URI also excludes `"` and `\`: JSON escapes each to two bytes, and a MAX_URI_LENGTH URI
// of them would not fit MAX_CONTROL_MESSAGE_BYTES. An accept URI never holds them: URL
// parsing percent-encodes `"` and turns `\` into `/`, and readAccept checks the host name.
const URI_CHARS = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

function checkField(kind: FieldKind, value: unknown): string | undefined {
  switch (kind) {
    case "id":
      return typeof value === "string" && value.length <= MAX_ID_LENGTH && ID_PATTERN.test(value)
        ? undefined
        : `an id of 1-${MAX_ID_LENGTH} characters [A-Za-z0-9_-]`;
    case "uri":
      return typeof value === "string" && value.length <= MAX_URI_LENGTH && URI_CHARS.test(value)
        ? undefined
        : `a URI of 1-${MAX_URI_LENGTH} printable ASCII characters other than " and \\`;
    case "address":
      return typeof value === "string" && value.length <= MAX_ADDRESS_LENGTH && PRINTABLE.test(value)
        ? undefined
        : `an address of 1-${MAX_ADDRESS_LENGTH} printable ASCII characters`;
    case "bytes":
      return Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= MAX_CREDIT_BYTES
        ? undefined
        : `an integer from 1 to ${MAX_CREDIT_BYTES}`;
    case "offset":
      return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_OFFSET
        ? undefined
        : `an integer from 0 to ${MAX_OFFSET}`;
    case "interval":
      return Number.isSafeInteger(value) && (value as number) >= MIN_HEARTBEAT_MS && (value as number) <= MAX_HEARTBEAT_MS
        ? undefined
        : `an integer from ${MIN_HEARTBEAT_MS} to ${MAX_HEARTBEAT_MS} (milliseconds)`;
    case "clientProtocol":
      return value === "plain" || value === "sallyport" ? undefined : 'either "plain" or "sallyport"';
    case "true":
      return value === true ? undefined : "true";
    case "messageBytes":
      return Number.isSafeInteger(value) && (value as number) >= MIN_MESSAGE_BYTES && (value as number) <= MAX_MESSAGE_BYTES
        ? undefined
        : `an integer from ${MIN_MESSAGE_BYTES} to ${MAX_MESSAGE_BYTES}`;
    case "ticket":
      return typeof value === "string" && value.length <= MAX_TICKET_LENGTH && TICKET_PATTERN.test(value)
        ? undefined
        : `a ticket of at most ${MAX_TICKET_LENGTH} characters (base64url "." base64url)`;
    case "timeout":
      return Number.isSafeInteger(value) && (value as number) >= MIN_RESUME_TIMEOUT_MS && (value as number) <= MAX_RESUME_TIMEOUT_MS
        ? undefined
        : `an integer from ${MIN_RESUME_TIMEOUT_MS} to ${MAX_RESUME_TIMEOUT_MS} (milliseconds)`;
    case "count":
      return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= 1_000_000
        ? undefined
        : "an integer from 0 to 1000000";
    default:
      // Without this, a FieldKind added to the table but not here would fall through to
      // undefined, which reads as "valid": tsc refuses the build instead.
      return assertNever(kind);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

type Table = Readonly<Partial<Record<ProtocolVersion, Fields>>>;
type Decoded = Readonly<{ ok: true; value: ControlMessage }>;

function decodeAny(
  text: string,
  allowed: ReadonlySet<ControlType>,
  version: ProtocolVersion,
  table: Table = FIELDS,
): Result<ControlMessage, ProtocolError> {
  const known = CONSTANTS.get(table)?.get(version)?.get(text);
  return known !== undefined && allowed.has(known.value.t) ? known : parse(text, allowed, version, table);
}

/**
 * Each message of `table` that carries no value (start, opened, end, done, and in v3 end with
 * done) spelled as `encode` spells it, decoded once. A session's control frames are these: the
 * edge decoded four per session, the connector two, the client one, and in workerd each
 * JSON.parse and frozen copy cost ~5 µs (docs/performance.md, "The edge's JavaScript"). Decoded
 * by `parse` itself, so a hit returns what parsing the text would (frozen, shared); any other
 * spelling of the same message (key order, whitespace) is parsed.
 */
function constantsOf(table: Table, version: ProtocolVersion): ReadonlyMap<string, Decoded> {
  const texts = new Map<string, Decoded>();
  const fields = table[version] ?? FIELDS[version];
  for (const [type, spec] of Object.entries(fields) as [ControlType, Readonly<Record<string, FieldSpec>>][]) {
    if (!Object.values(spec).every((f) => f.endsWith("?"))) continue;
    // Optional fields left out, and each subset of the optional flags ("true?") set: no other values.
    const flags = Object.keys(spec).filter((k) => spec[k] === "true?");
    for (let subset = 0; subset < 1 << flags.length; subset++) {
      const set = flags.filter((_, i) => subset & (1 << i)).map((k) => [k, true]);
      const text = encode({ t: type, ...Object.fromEntries(set) } as ControlMessage, version);
      const decoded = parse(text, new Set([type]), version, table);
      if (decoded.ok) texts.set(text, Object.freeze(decoded));
    }
  }
  return texts;
}

const CONSTANTS: ReadonlyMap<Table, ReadonlyMap<ProtocolVersion, ReadonlyMap<string, Decoded>>> = new Map(
  [FIELDS, END_MAY_CARRY_DONE].map((table) => [table, new Map(PROTOCOL_VERSIONS.map((v) => [v, constantsOf(table, v)]))]),
);

function parse(
  text: string,
  allowed: ReadonlySet<ControlType>,
  version: ProtocolVersion,
  table: Table,
): Result<ControlMessage, ProtocolError> {
  // String length bounds UTF-16 units; ×3 bounds the UTF-8 bytes, cheap and safe.
  if (text.length * 3 > MAX_CONTROL_MESSAGE_BYTES && new TextEncoder().encode(text).length > MAX_CONTROL_MESSAGE_BYTES) {
    return perr("TOO_LARGE", `control message over ${MAX_CONTROL_MESSAGE_BYTES} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return perr("NOT_JSON", "control message is not JSON");
  }
  if (!isPlainObject(parsed)) return perr("NOT_OBJECT", "control message is not an object");
  // JSON.stringify, not String(): String({"toString":1}) throws, and decoding is total.
  // The version negotiated for this socket, and no other: a peer does not switch mid-stream.
  if (parsed.v !== version) return perr("BAD_VERSION", `unsupported version ${String(JSON.stringify(parsed.v)).slice(0, 16)}`);
  const fields = table[version] ?? FIELDS[version];
  const t = parsed.t;
  if (typeof t !== "string" || !Object.hasOwn(fields, t)) return perr("UNKNOWN_TYPE", "unknown message type");
  const type = t as ControlType;
  if (!allowed.has(type)) return perr("WRONG_SIDE", `message type ${type} not allowed from this peer`);
  const spec = fields[type]!;
  for (const key of Object.keys(parsed)) {
    if (key !== "v" && key !== "t" && !Object.hasOwn(spec, key)) return perr("BAD_FIELD", `unknown field in ${type}`);
  }
  const out: Record<string, unknown> = { t: type };
  for (const [key, fieldSpec] of Object.entries(spec)) {
    const optional = fieldSpec.endsWith("?");
    if (optional && parsed[key] === undefined) continue;
    const problem = checkField((optional ? fieldSpec.slice(0, -1) : fieldSpec) as FieldKind, parsed[key]);
    if (problem) return perr("BAD_FIELD", `${type}.${key} must be ${problem}`);
    out[key] = parsed[key];
  }
  return ok(Object.freeze(out) as unknown as ControlMessage);
}

/* Every decoder takes the version negotiated for its socket (the selected subprotocol). */

/** Decode a text frame received by the edge from a connector. */
export function decodeFromConnector(text: string, version: ProtocolVersion): Result<ConnectorMessage, ProtocolError> {
  return decodeAny(text, CONNECTOR_TYPES, version, END_MAY_CARRY_DONE) as Result<ConnectorMessage, ProtocolError>;
}

/** Decode a text frame received by a connector from the edge. */
export function decodeFromEdge(text: string, version: ProtocolVersion): Result<EdgeMessage, ProtocolError> {
  return decodeAny(text, EDGE_TYPES, version) as Result<EdgeMessage, ProtocolError>;
}

/** Decode a text frame a Sallyport client sent to the edge (end, credit, start). */
export function decodeFromClient(text: string, version: ProtocolVersion): Result<ClientMessage, ProtocolError> {
  return decodeAny(text, CLIENT_TYPES, version) as Result<ClientMessage, ProtocolError>;
}

/** Decode a text frame the edge relayed to a Sallyport client (end — in v3 maybe with done —, credit, opened, done, mark, …). */
export function decodeForClient(text: string, version: ProtocolVersion): Result<ToClientMessage, ProtocolError> {
  return decodeAny(text, TO_CLIENT_TYPES, version, END_MAY_CARRY_DONE) as Result<ToClientMessage, ProtocolError>;
}

/**
 * Encode a control message in the socket's negotiated version; the version goes first so a
 * reader sees it at once. The caller picks the message shape of that version (a v1 `credit`
 * has `bytes`, a v2 one `upTo`).
 */
export function encode(message: ControlMessage, version: ProtocolVersion): string {
  return JSON.stringify({ v: version, ...message });
}
