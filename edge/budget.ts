import { OBJECT_BUDGET_BYTES } from "../shared/config/edge-config.ts";
import { INITIAL_WINDOW_BYTES, MARK_INTERVAL_BYTES } from "../shared/protocol/constants.ts";

/**
 * The object's memory budget across all its sessions. There is no memory API in a Durable
 * Object, so the edge accounts bytes instead: what each session may be holding (see
 * DirectionMeter.held) plus what waiting clients sent before pairing. Pure: the object asks.
 *
 * On Cloudflare an object has 128 MB; going over resets it, and with it every session and
 * parked bind of the service. OBJECT_BUDGET_BYTES leaves room for the runtime and the sockets.
 */
export { OBJECT_BUDGET_BYTES };

/**
 * How far past what a reader proved its writer may be let now: a full window while the
 * object has room, a mark's interval once half the budget is held (every session slows
 * down; none is cut for it).
 */
export function grantCap(total: number, budget = OBJECT_BUDGET_BYTES): number {
  return total * 2 >= budget ? MARK_INTERVAL_BYTES : INITIAL_WINDOW_BYTES;
}

export interface Holding {
  readonly id: string;
  readonly held: number;
}

/**
 * Over budget: the sessions to end (1013, try again later), those holding the most first,
 * until what remains fits. Never the object: nothing else is touched.
 */
export function shed(holdings: readonly Holding[], budget = OBJECT_BUDGET_BYTES): string[] {
  let total = holdings.reduce((n, h) => n + h.held, 0);
  if (total <= budget) return [];
  const out: string[] = [];
  for (const h of [...holdings].sort((a, b) => b.held - a.held)) {
    if (total <= budget) break;
    out.push(h.id);
    total -= h.held;
  }
  return out;
}

/**
 * The running account: what each session (or waiting client) holds, and the total, kept up
 * to date per event so no event walks every session. A cache, like the object's maps: after
 * an eviction it is rebuilt as sessions next move.
 */
export class BudgetAccount {
  private readonly held = new Map<string, number>();
  total = 0;

  set(id: string, bytes: number): void {
    this.total += bytes - (this.held.get(id) ?? 0);
    if (bytes > 0) this.held.set(id, bytes);
    else this.held.delete(id);
  }

  remove(id: string): void {
    this.set(id, 0);
  }

  /** The ids to end now, if the total is over the budget. */
  overBudget(budget = OBJECT_BUDGET_BYTES): string[] {
    if (this.total <= budget) return [];
    return shed(
      [...this.held].map(([id, held]) => ({ id, held })),
      budget,
    );
  }
}
