import { HEARTBEAT_MISSES } from "../shared/protocol/constants.ts";
import { OPEN_DEADLINE_MS, type Attachment, type BindAttachment, type ClientAttachment } from "./attachments.ts";

/**
 * Pure pairing decisions, free of Workers APIs so they are table-tested in Node.
 * The service object applies a decision synchronously (no await between pick and mark),
 * which is what makes "one bind, one client, ever" hold under concurrency.
 */

/**
 * The parked bind a new client gets: from the connector with the fewest sessions in
 * progress (spreads load over a cluster), and among its binds the one parked longest.
 */
export function pickBind(binds: readonly BindAttachment[]): BindAttachment | undefined {
  const outstanding = new Map<string, number>();
  for (const b of binds) {
    if ((b.state === "paired" || b.state === "opened") && b.connectorId)
      outstanding.set(b.connectorId, (outstanding.get(b.connectorId) ?? 0) + 1);
  }
  let best: BindAttachment | undefined;
  let bestLoad = Infinity;
  for (const b of binds) {
    if (b.state !== "parked") continue;
    const load = outstanding.get(b.connectorId ?? "") ?? 0;
    if (load < bestLoad || (load === bestLoad && (b.parkedAt ?? 0) < (best?.parkedAt ?? Infinity))) {
      best = b;
      bestLoad = load;
    }
  }
  return best;
}

/**
 * The waiting client a newly parked bind serves: first come, first served. A waiting client
 * without a deadline is one the object already gave up on and closed (its deadline is
 * cleared so the alarm stops firing for it), which may linger until its close completes.
 */
export function pickClient(clients: readonly ClientAttachment[], now: number): ClientAttachment | undefined {
  let best: ClientAttachment | undefined;
  for (const c of clients) {
    if (c.state !== "waiting" || c.deadline === undefined || c.deadline <= now) continue;
    if (!best || c.arrivedAt < best.arrivedAt) best = c;
  }
  return best;
}

/** Sockets whose current state has run out of time. */
export function expired<T extends Attachment>(atts: readonly T[], now: number): T[] {
  return atts.filter((a) => a.deadline !== undefined && a.deadline <= now);
}

/** When the object must next wake: the earliest deadline of any socket. */
export function nextDeadline(atts: readonly Attachment[]): number | undefined {
  let next: number | undefined;
  for (const a of atts) {
    if (a.deadline !== undefined && (next === undefined || a.deadline < next)) next = a.deadline;
  }
  return next;
}

/**
 * A parked bind is live while its heartbeats arrive: the later of parking and the last
 * heartbeat the runtime answered must be within HEARTBEAT_MISSES intervals.
 */
export function isLive(bind: BindAttachment, lastHeartbeat: number | undefined, now: number): boolean {
  const seen = Math.max(bind.parkedAt ?? bind.openedAt, lastHeartbeat ?? 0);
  return now - seen <= (bind.heartbeatMs ?? 0) * HEARTBEAT_MISSES;
}

/** Who a bind says it is: its connector and run, and the token that admitted it. */
export interface BindIdentity {
  /** SHA-256 (hex) of the token (BindAttachment.credential). */
  readonly credential: string;
  readonly connectorId: string;
  /** Checked beforehand (shared/protocol/instance.ts): fixed width, so it sorts by age. */
  readonly instance: string;
}

/**
 * Takeover. Instances start with their start time, so they sort by age: a newer instance of
 * a connector replaces the older one's unpaired binds (its sessions run on), and a bind from
 * an older instance is itself refused — two live processes with one identity cannot evict
 * each other in a loop.
 * Only within one credential: a connector id is the host name by default, and anyone can
 * claim one, so a bind made with another token — even one of the same service — never
 * evicts, and is never refused because of, binds made with this one.
 */
export function takeover(binds: readonly BindAttachment[], who: BindIdentity): { refuse: boolean; evict: BindAttachment[] } {
  const same = binds.filter(
    (b) => b.credential === who.credential && b.connectorId === who.connectorId && b.instance !== undefined && b.instance !== who.instance,
  );
  if (same.some((b) => b.instance! > who.instance)) return { refuse: true, evict: [] };
  return { refuse: false, evict: same.filter((b) => b.state === "parked") };
}

/**
 * A paired bind must confirm its backend (`opened`) within OPEN_DEADLINE_MS — from now, or,
 * for a client in standby, from its `start` (startedAt; none yet: no deadline).
 */
export function pair(bind: BindAttachment, client: ClientAttachment, now: number, startedAt?: number): [BindAttachment, ClientAttachment] {
  const from = client.standby ? startedAt : now;
  return [
    { ...bind, state: "paired", peer: client.id, deadline: from === undefined ? undefined : from + OPEN_DEADLINE_MS },
    { ...client, state: "paired", peer: bind.id, pending: undefined, deadline: undefined },
  ];
}

export type PendingResult = { ok: true; client: ClientAttachment } | { ok: false };

const pendingSize = (c: Uint8Array | string): number => (typeof c === "string" ? c.length * 3 : c.byteLength);

/** Bytes a client's attachment holds (text counted at its UTF-8 worst case). */
export function pendingBytes(client: ClientAttachment): number {
  return (client.pending ?? []).reduce((n, c) => n + pendingSize(c), 0);
}

/** Adds data sent before pairing, or refuses it once MAX bytes would be exceeded. */
export function addPending(client: ClientAttachment, chunk: Uint8Array | string, max: number): PendingResult {
  if (pendingBytes(client) + pendingSize(chunk) > max) return { ok: false };
  return { ok: true, client: { ...client, pending: [...(client.pending ?? []), chunk] } };
}
