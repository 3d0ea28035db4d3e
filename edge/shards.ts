import { MAX_SHARDS } from "../shared/config/edge-config.ts";

/**
 * A service spread over N Durable Objects ("shards"): how each object is named, which shard a
 * bind or a client goes to. Pure; the Worker (edge/index.ts) does the routing.
 *
 * Names are stable per shard, so changing N strands nothing that still has a shard: shard 0
 * keeps the name a one-object service always had (`idFromName(service)`), so N = 1 is exactly
 * today's deployment; shard i > 0 is `service#i` ('#' never occurs in a service name).
 */

export { MAX_SHARDS };

export function objectName(service: string, shard: number): string {
  return shard === 0 ? service : `${service}#${shard}`;
}

/** The inverse of objectName; undefined for a name it could not have made. */
export function parseObjectName(name: string): { service: string; shard: number } | undefined {
  const at = name.indexOf("#");
  if (at < 0) return name ? { service: name, shard: 0 } : undefined;
  const shard = name.slice(at + 1);
  if (at === 0 || !/^[1-9][0-9]*$/.test(shard) || Number(shard) >= MAX_SHARDS) return undefined;
  return { service: name.slice(0, at), shard: Number(shard) };
}

export type BindPlacement = { readonly ok: true; readonly shard: number } | { readonly ok: false };

/**
 * Where a connector's bind goes, from the shard it asked for (SHARD_HEADER). No header: shard 0
 * (connectors from before shards). A shard beyond N (a connector that has not yet heard that N
 * went down) is placed on shard mod N: it serves there at once, and the 101 tells the connector
 * the new N so it moves its binds. Anything but a small decimal number is refused.
 */
export function placeBind(header: string | null | undefined, shards: number): BindPlacement {
  if (header === null || header === undefined) return { ok: true, shard: 0 };
  if (!/^[0-9]{1,4}$/.test(header)) return { ok: false };
  return { ok: true, shard: Number(header) % shards };
}

/**
 * A client's shard, first choice then fallback. The first goes round the shards (`turn`: the
 * Worker isolate's running count, started at a random shard), so each isolate spreads its
 * clients evenly whatever their number, without shared state, and the sum over isolates is even
 * too; the fallback is a uniform draw from the other N − 1 shards. The Worker asks the first
 * shard to decline if it has no parked bind (a cold shard), then the second the same way (see
 * edge/index.ts clientToShard). `random` is in [0, 1).
 */
export function clientShards(shards: number, turn: number, random: () => number): readonly [number] | readonly [number, number] {
  if (shards <= 1) return [0];
  const first = turn % shards;
  // A draw from the other N − 1 shards: never the first again.
  const second = (first + 1 + (Math.floor(random() * (shards - 1)) % (shards - 1))) % shards;
  return [first, second];
}

/** A service-wide limit split over the shards: each object enforces its share (rounded up). */
export function perShard(limit: number, shards: number): number {
  return Math.ceil(limit / shards);
}
