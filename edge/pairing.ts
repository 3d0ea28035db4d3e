import type { BindAttachment, ClientAttachment } from "./attachments.ts";

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
    if (b.state === "paired" && b.connectorId) outstanding.set(b.connectorId, (outstanding.get(b.connectorId) ?? 0) + 1);
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

/** The waiting client a newly parked bind serves: first come, first served. */
export function pickClient(clients: readonly ClientAttachment[], now: number): ClientAttachment | undefined {
  let best: ClientAttachment | undefined;
  for (const c of clients) {
    if (c.state !== "waiting" || c.deadline <= now) continue;
    if (!best || c.arrivedAt < best.arrivedAt) best = c;
  }
  return best;
}

/** Waiting clients whose socks.timeout has run out. */
export function expiredClients(clients: readonly ClientAttachment[], now: number): ClientAttachment[] {
  return clients.filter((c) => c.state === "waiting" && c.deadline <= now);
}

/** When the object must next wake: the earliest deadline of a waiting client. */
export function nextDeadline(clients: readonly ClientAttachment[]): number | undefined {
  let next: number | undefined;
  for (const c of clients) {
    if (c.state === "waiting" && (next === undefined || c.deadline < next)) next = c.deadline;
  }
  return next;
}

export function pair(bind: BindAttachment, client: ClientAttachment): [BindAttachment, ClientAttachment] {
  return [
    { ...bind, state: "paired", peer: client.id },
    { ...client, state: "paired", peer: bind.id, pending: undefined },
  ];
}

export type PendingResult = { ok: true; client: ClientAttachment } | { ok: false };

/** Adds data sent before pairing, or refuses it once MAX bytes would be exceeded. */
export function addPending(client: ClientAttachment, chunk: Uint8Array, max: number): PendingResult {
  const held = (client.pending ?? []).reduce((n, c) => n + c.byteLength, 0);
  if (held + chunk.byteLength > max) return { ok: false };
  return { ok: true, client: { ...client, pending: [...(client.pending ?? []), chunk] } };
}
