import type { ProtocolVersion } from "../shared/protocol/constants.ts";
import type { ClientProtocol } from "../shared/protocol/messages.ts";
import type { FlowState } from "./flow.ts";

/**
 * What each socket of a service object must remember across hibernation. The runtime keeps
 * an attachment with its socket (serializeAttachment), so pairing survives the object
 * being evicted and rebuilt; in-memory maps in the object are caches of these.
 *
 * Bind lifecycle:   registering → parked → paired → opened   (→ closed: the socket is gone)
 * Client lifecycle: waiting → paired                          (→ closed)
 * A returning half of a resumable session (v3): resuming → opened (bind) / paired (client), or closed.
 *
 * `deadline` is when the socket's current state runs out: registration (first valid
 * message), a waiting client's socks.timeout, a paired bind's backend open. One alarm, set
 * to the earliest deadline, serves them all.
 */

export type BindState = "registering" | "parked" | "paired" | "opened" | "resuming";
export type ClientState = "waiting" | "paired" | "resuming";

/**
 * v3 (docs/protocol.md, "Resume"): the resumable session a socket carries, or is the returning
 * half of. `epoch` is that of the tickets last issued for it (each resume issues the next).
 */
export interface SessionRef {
  readonly id: string;
  readonly epoch: number;
}

/** What a returning half presented: the data it has received of the other end's, and whether it has its `end`. */
export interface ResumeOffer {
  readonly received: number;
  readonly end: boolean;
}

/** Fields both kinds of socket carry for resume. */
interface Resumable {
  /** The name this object was addressed by (INTERNAL_HEADERS.objectName): tickets route resumes back by it. */
  readonly object?: string;
  /** Set once tickets were issued (paired), or presented (resuming). */
  readonly session?: SessionRef;
  /** While state is "resuming": what this half presented; `deadline` is then session.resume.timeout. */
  readonly offer?: ResumeOffer;
}

export interface BindAttachment extends Resumable {
  readonly role: "bind";
  readonly id: string;
  /** Service name, from the verified credential. */
  readonly service: string;
  /** SHA-256 (hex) of the token that admitted it: takeover and per-credential caps stay within one token. */
  readonly credential: string;
  readonly state: BindState;
  readonly openedAt: number;
  readonly deadline?: number;
  readonly connectorId?: string;
  readonly instance?: string;
  readonly bindId?: string;
  readonly heartbeatMs?: number;
  readonly parkedAt?: number;
  /** The client socket id once paired. */
  readonly peer?: string;
  /** A standby pair has finished a session (`done`): its client already knows the limits `opened` carries. */
  readonly kept?: true;
  /** The protocol version negotiated on this socket (absent: 1, from before versions were negotiated). */
  readonly version?: ProtocolVersion;
  /** While paired: the session's flow control (edge/flow.ts), kept here so it survives hibernation. */
  readonly flow?: FlowState;
}

export interface ClientAttachment extends Resumable {
  readonly role: "client";
  readonly id: string;
  readonly service: string;
  readonly state: ClientState;
  readonly protocol: ClientProtocol;
  readonly address: string;
  readonly arrivedAt: number;
  /** While waiting: when socks.timeout runs out. */
  readonly deadline?: number;
  readonly peer?: string;
  /**
   * Data (bytes) and control (text, Sallyport clients only) a client sent before it was
   * paired, replayed in order to the bind on pairing. Bounded by
   * MAX_PENDING_BYTES so it always fits in an attachment (which the runtime caps at 16 KiB).
   */
  readonly pending?: ReadonlyArray<Uint8Array | string>;
  /** Opened ahead of use: its bind has no open deadline until the client says `start`. */
  readonly standby?: true;
  /** A plain client holds data beyond `pending` in the object's memory (edge/hold.ts). */
  readonly held?: true;
  /** A Sallyport client's negotiated protocol version (absent: 1). */
  readonly version?: ProtocolVersion;
}

export type Attachment = BindAttachment | ClientAttachment;

export const MAX_PENDING_BYTES = 8 * 1024;
/** From upgrade to the `bind` message. */
export const REGISTER_DEADLINE_MS = 10_000;
/** From `paired` to `opened`: the connector's backend dial timeout (10 s) plus margin. */
export const OPEN_DEADLINE_MS = 15_000;

/** The role the Worker names in its internal header when it hands an upgrade to the object. */
export const ROLE_BIND = "bind";
export const ROLE_CLIENT = "client";
