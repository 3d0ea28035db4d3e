/**
 * What each socket of a service object must remember across hibernation. The runtime keeps
 * an attachment with its socket (serializeAttachment), so pairing survives the object
 * being evicted and rebuilt; in-memory maps in the object are caches of these.
 *
 * Bind lifecycle:   registering → parked → paired     (→ closed: the socket is gone)
 * Client lifecycle: waiting → paired                  (→ closed)
 */

export type BindState = "registering" | "parked" | "paired";
export type ClientState = "waiting" | "paired";

export interface BindAttachment {
  readonly role: "bind";
  readonly id: string;
  /** Service name, from the verified credential. */
  readonly service: string;
  readonly state: BindState;
  readonly openedAt: number;
  readonly connectorId?: string;
  readonly bindId?: string;
  readonly parkedAt?: number;
  /** The client socket id once paired. */
  readonly peer?: string;
}

export interface ClientAttachment {
  readonly role: "client";
  readonly id: string;
  readonly service: string;
  readonly state: ClientState;
  readonly address: string;
  readonly arrivedAt: number;
  /** When a waiting client is given up on (socks.timeout). */
  readonly deadline: number;
  readonly peer?: string;
  /**
   * Data a client sent before it was paired, replayed to the bind on pairing. Bounded by
   * MAX_PENDING_BYTES so it always fits in an attachment (which the runtime caps at 16 KiB).
   */
  readonly pending?: readonly Uint8Array[];
}

export type Attachment = BindAttachment | ClientAttachment;

export const MAX_PENDING_BYTES = 8 * 1024;

/** Tags are fixed at accept time; a socket is found by its id tag, or by its role. */
export const idTag = (id: string): string => `id:${id}`;
export const ROLE_BIND = "bind";
export const ROLE_CLIENT = "client";
