import { HEARTBEAT_MISSES, SESSION_HEARTBEAT_MS } from "../shared/protocol/constants.ts";
import type { Attachment, BindAttachment, ClientAttachment } from "./attachments.ts";

/**
 * Whether a session in progress should end, and when to look again. Pure: the object hands in
 * each socket's attachment with what the runtime and its own relay path observed, and acts on
 * the verdicts itself — detection is kept apart from the ending so a later version can resume
 * a session instead of ending it.
 *
 * Three things end a session:
 * - a silent connector leg: the paired bind's heartbeats (answered by the runtime, timestamped)
 *   stopped for HEARTBEAT_MISSES of the intervals it declared in `bind`;
 * - a silent client leg: a Sallyport client that heartbeats (it has at least once) stopped for
 *   HEARTBEAT_MISSES × SESSION_HEARTBEAT_MS. Plain clients cannot be asked: only the idle
 *   timeout ends theirs;
 * - idleness: no session data either way for the service's session.idle.timeout (if set).
 */

export type SessionVerdict = "connector-silent" | "client-silent" | "idle";

export interface SocketView {
  readonly att: Attachment;
  /** When the runtime last answered this socket's heartbeat (getWebSocketAutoResponseTimestamp). */
  readonly lastHeartbeat: number | undefined;
}

export interface SessionView {
  readonly bind: SocketView & { readonly att: BindAttachment };
  readonly client: SocketView & { readonly att: ClientAttachment };
  /** When session data last went either way, as far as this object knows (it forgets on eviction). */
  readonly lastData: number;
}

export interface SessionCheck {
  readonly verdict: SessionVerdict | undefined;
  /** When this session must next be looked at (undefined: nothing can make it end by itself). */
  readonly next: number | undefined;
}

/** The latest moment a silent-but-alive connector leg can still be heard from. */
function connectorDue(bind: SessionView["bind"]): number | undefined {
  if (!bind.att.heartbeatMs) return undefined;
  const seen = Math.max(bind.att.parkedAt ?? bind.att.openedAt, bind.lastHeartbeat ?? 0);
  return seen + bind.att.heartbeatMs * HEARTBEAT_MISSES;
}

const CLIENT_SILENCE_MS = SESSION_HEARTBEAT_MS * HEARTBEAT_MISSES;

/**
 * A Sallyport client heartbeats from the moment it opens its socket; one that has not by
 * CLIENT_SILENCE_MS after it arrived is a version that does not, and is not held to it. The
 * object is not woken by heartbeats (the runtime answers them), so it looks once at that time.
 */
function clientDue(client: SessionView["client"], now: number): { due: number; look: boolean } | undefined {
  if (client.att.protocol !== "sallyport") return undefined;
  if (client.lastHeartbeat !== undefined) return { due: client.lastHeartbeat + CLIENT_SILENCE_MS, look: false };
  const firstLook = client.att.arrivedAt + CLIENT_SILENCE_MS;
  return now <= firstLook ? { due: firstLook, look: true } : undefined;
}

export function checkSession(s: SessionView, now: number, idleTimeoutMs: number | undefined): SessionCheck {
  const client = clientDue(s.client, now);
  const dues: Array<[SessionVerdict | undefined, number | undefined]> = [
    ["connector-silent", connectorDue(s.bind)],
    [client?.look ? undefined : "client-silent", client?.due],
    ["idle", idleTimeoutMs === undefined ? undefined : s.lastData + idleTimeoutMs],
  ];
  let next: number | undefined;
  for (const [verdict, due] of dues) {
    if (due === undefined) continue;
    if (verdict && now > due) return { verdict, next: undefined };
    // Looked at again just after it would be due.
    if (next === undefined || due + 1 < next) next = due + 1;
  }
  return { verdict: undefined, next };
}
