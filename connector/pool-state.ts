/**
 * The life of one service's bind pool as a pure transition table; connector/pool.ts does
 * what each transition means (withdrawing binds, probing, refilling).
 *
 *   filling ⇄ backend-down        filling/backend-down → draining → stopped
 *
 * An event a state does not list leaves it where it is (a second backend failure while the
 * backend is already down, a probe that answers after a drain began). States the resume work
 * adds (e.g. binds held while the edge is away) go in this table with their events.
 */
export type PoolState = "filling" | "backend-down" | "draining" | "stopped";

export type PoolEvent =
  /** A session could not reach the backend (refused or unreachable). */
  | "backend-failed"
  /** A recovery probe connected to the backend. */
  | "backend-answered"
  /** New settings (SIGHUP): the backend may have changed, so it is tried again. */
  | "reconfigured"
  /** Stop offering binds; sessions in flight run on. */
  | "drain"
  /** Close everything now. */
  | "stop";

const TRANSITIONS: Readonly<Record<PoolState, Partial<Record<PoolEvent, PoolState>>>> = {
  filling: { "backend-failed": "backend-down", drain: "draining", stop: "stopped" },
  "backend-down": { "backend-answered": "filling", reconfigured: "filling", drain: "draining", stop: "stopped" },
  draining: { stop: "stopped" },
  stopped: {},
};

export function nextPoolState(state: PoolState, event: PoolEvent): PoolState {
  return TRANSITIONS[state][event] ?? state;
}
