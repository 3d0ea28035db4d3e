/**
 * How a connector spreads one service's prepared binds over the shards the edge reported
 * (SHARDS_HEADER). Pure; connector/pool.ts dials and retires binds by it.
 *
 * Every shard keeps at least one parked bind, so a client on any shard is paired at once, and
 * the rest of `prepared.connection.count` is spread evenly: max(prepared, N) binds in all,
 * the lower shards taking the remainder.
 */

export function shardTargets(prepared: number, shards: number): number[] {
  const n = Math.max(1, shards);
  const total = Math.max(prepared, n);
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

/** The shard that lacks the most binds against its target (lowest index on a tie); undefined when none lacks. */
export function neediestShard(targets: readonly number[], have: readonly number[]): number | undefined {
  let best: number | undefined;
  let lack = 0;
  targets.forEach((t, i) => {
    const l = t - (have[i] ?? 0);
    if (l > lack) {
      lack = l;
      best = i;
    }
  });
  return best;
}

/**
 * How many offered binds to retire per shard: all of them on a shard the edge no longer has,
 * and those over target elsewhere (after N went down, or up: the plan is even again).
 */
export function excessPerShard(targets: readonly number[], have: ReadonlyMap<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [shard, n] of have) {
    const over = shard >= targets.length ? n : n - targets[shard]!;
    if (over > 0) out.set(shard, over);
  }
  return out;
}
