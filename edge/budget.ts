import { OBJECT_BUDGET_BYTES } from "../shared/config/edge-config.ts";
import { INITIAL_WINDOW_BYTES } from "../shared/protocol/constants.ts";

/**
 * The object's memory budget across all its sessions. There is no memory API in a Durable
 * Object, so the edge accounts bytes instead: what each session may be holding (see
 * DirectionMeter.held) plus what waiting clients sent before pairing. Pure: the object asks.
 *
 * On Cloudflare an object has 128 MB; going over resets it, and with it every session and
 * parked bind of the service. OBJECT_BUDGET_BYTES leaves room for the runtime and the sockets.
 */
export { OBJECT_BUDGET_BYTES };

/** The narrowest grant: a writer this far past proof still moves (the edge marks at the limit, one round trip each). */
export const MIN_GRANT_CAP_BYTES = 64 * 1024;

/**
 * How long a holder may go without what it holds going down (a reader's proof, a queue
 * drained) before the budget may end it. Honest readers prove within round trips; a reader
 * that stopped reading, a plain client that cannot prove, a waiting client's early bytes do not.
 */
export const STALLED_MS = 2_000;

/**
 * A session holding less than this is not one the budget is shared among (grantCap): an idle
 * or interactive session holds a few hundred bytes between its messages, and counted, 4,875
 * of them narrowed one bulk transfer beside them to MIN_GRANT_CAP_BYTES (`npm run bench --
 * --only crowd`: 49 against 170 MB/s, at 3.5 × the CPU). What such sessions hold still counts
 * in the total: were many of them to add up to half the budget, every grant narrows as below.
 */
export const SHARING_HOLDER_BYTES = MIN_GRANT_CAP_BYTES / 4;

/**
 * How far past what a reader proved its writer may be let now: the fair share of half the
 * budget (two directions each) of each session holding SHARING_HOLDER_BYTES or more, between a
 * whole window — one session alone — and MIN_GRANT_CAP_BYTES; that least once half the budget
 * is held. So honest sessions slow down as they grow in number instead of outgrowing the budget
 * and being cut.
 */
export function grantCap(total: number, holders: number, budget = OBJECT_BUDGET_BYTES): number {
  if (total * 2 >= budget) return MIN_GRANT_CAP_BYTES;
  const share = Math.floor(budget / 4 / Math.max(1, holders));
  return Math.max(MIN_GRANT_CAP_BYTES, Math.min(INITIAL_WINDOW_BYTES, share));
}

export interface Holding {
  readonly id: string;
  readonly held: number;
  /** How long what it holds has not gone down. */
  readonly stalledMs: number;
}

/**
 * Over budget: the holders to end (1013, try again later), those holding the most first,
 * until what remains fits — among the stalled only (STALLED_MS). A session whose reader
 * keeps proving is never cut for the edge's own over-commitment (initial credit, windows
 * granted before others came): grantCap narrows it instead. Never the object.
 */
export function shed(holdings: readonly Holding[], budget = OBJECT_BUDGET_BYTES, stalledAfter = STALLED_MS): string[] {
  let total = holdings.reduce((n, h) => n + h.held, 0);
  if (total <= budget) return [];
  const out: string[] = [];
  for (const h of holdings.filter((x) => x.stalledMs >= stalledAfter).sort((a, b) => b.held - a.held)) {
    if (total <= budget) break;
    out.push(h.id);
    total -= h.held;
  }
  return out;
}

/**
 * The running account: what each session (or waiting client) holds, since when it has not
 * gone down, and the total, kept up to date per event so no event walks every session. A
 * cache, like the object's maps: after an eviction it is rebuilt as sessions next move.
 */
export class BudgetAccount {
  private readonly held = new Map<string, { bytes: number; since: number }>();
  total = 0;
  private sharing = 0;

  /** Holders the budget is shared among: those holding SHARING_HOLDER_BYTES or more. */
  get holders(): number {
    return this.sharing;
  }

  set(id: string, bytes: number, now: number): void {
    const was = this.held.get(id);
    const before = was?.bytes ?? 0;
    this.total += bytes - before;
    this.sharing += Number(bytes >= SHARING_HOLDER_BYTES) - Number(before >= SHARING_HOLDER_BYTES);
    if (bytes <= 0) return void this.held.delete(id);
    if (!was) return void this.held.set(id, { bytes, since: now });
    // Updated in place: this runs for every data message relayed.
    if (bytes < was.bytes) was.since = now;
    was.bytes = bytes;
  }

  remove(id: string): void {
    this.set(id, 0, 0);
  }

  /** The ids to end now, if the total is over the budget (`stalledAfter` 0: any holder). */
  overBudget(now: number, budget = OBJECT_BUDGET_BYTES, stalledAfter = STALLED_MS): string[] {
    if (this.total <= budget) return [];
    return shed(
      [...this.held].map(([id, h]) => ({ id, held: h.bytes, stalledMs: now - h.since })),
      budget,
      stalledAfter,
    );
  }
}
