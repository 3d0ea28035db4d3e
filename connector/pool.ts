import type { ConnectorService } from "../shared/config/connector-config.ts";
import { Backoff, DEFAULT_BACKOFF, type Clock } from "../shared/backoff.ts";
import { Bind, type BindEnd, type BindEvents } from "./bind.ts";
import type { Logger } from "./log.ts";

/**
 * The bind pool of one service: a supervisor that keeps `prepared.connection.count` binds
 * offered (dialing, registering or parked) at the edge.
 * - The first bind must register before the rest fan out (as cloudflared does), so a wrong
 *   token or a down edge costs one attempt per backoff step, not N.
 * - A bind taken by a client is replaced at once; a bind that failed is replaced after the
 *   backoff delay (100 ms, 200 ms, 400 ms … up to socks.retry.maximum.interval).
 * - `demand` from the edge opens surplus binds for waiting clients; a surplus bind that is
 *   not taken within SURPLUS_IDLE_MS closes again, so the pool shrinks back.
 */

export const SURPLUS_IDLE_MS = 30_000;
export const MAX_SURPLUS = 64;
/** A connection that stays up this long resets the backoff. */
export const STABLE_MS = 10_000;

export interface PoolDeps {
  readonly service: ConnectorService;
  readonly token: string;
  readonly ca: Buffer | undefined;
  readonly connectorId: string;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Factory seam for tests. */
  readonly createBind?: (events: BindEvents, surplus: boolean) => Bind;
}

export interface PoolStats {
  readonly offered: number;
  readonly parked: number;
  readonly sessions: number;
  readonly pairings: number;
  readonly failures: number;
}

export class BindPool {
  private readonly offered = new Set<Bind>();
  private readonly sessions = new Set<Bind>();
  private readonly backoff: Backoff;
  private registeredOnce = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private pairings = 0;
  private failures = 0;
  private lastRejection: number | undefined;
  private readonly log: Logger;
  private readonly events: BindEvents;

  constructor(private readonly deps: PoolDeps) {
    this.log = deps.log.child({ service: deps.service.name });
    this.backoff = new Backoff(
      { ...DEFAULT_BACKOFF, maximumMs: deps.service.retryMaximumIntervalMs, stableMs: STABLE_MS },
      deps.clock ?? { now: () => Date.now() },
    );
    this.events = {
      parked: (b) => this.onParked(b),
      paired: (b) => this.onPaired(b),
      demand: (_b, waiting) => this.onDemand(waiting),
      ended: (b, end) => this.onEnded(b, end),
    };
  }

  start(): void {
    this.fill();
  }

  stats(): PoolStats {
    let parked = 0;
    for (const b of this.offered) if (b.phase === "parked") parked++;
    return { offered: this.offered.size, parked, sessions: this.sessions.size, pairings: this.pairings, failures: this.failures };
  }

  /** Stop offering binds; sessions in flight are closed too (drain comes with a grace period). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    for (const b of [...this.offered, ...this.sessions]) b.stop();
  }

  get idle(): boolean {
    return this.offered.size === 0 && this.sessions.size === 0;
  }

  private target(): number {
    // Until one bind has registered, probe with one.
    return this.registeredOnce ? this.deps.service.preparedConnectionCount : 1;
  }

  private regularOffered(): number {
    let n = 0;
    for (const b of this.offered) if (!b.surplus) n++;
    return n;
  }

  private fill(): void {
    if (this.stopped || this.retryTimer) return;
    for (let n = this.regularOffered(); n < this.target(); n++) this.dial(false);
  }

  private dial(surplus: boolean): void {
    const bind = this.deps.createBind
      ? this.deps.createBind(this.events, surplus)
      : new Bind({ ...this.deps, log: this.log, events: this.events }, surplus);
    this.offered.add(bind);
    bind.open();
  }

  private onParked(bind: Bind): void {
    this.backoff.connected();
    if (!this.registeredOnce) {
      this.registeredOnce = true;
      this.log.log("info", "registered with the edge", { bindUrl: this.deps.service.bindUrl, prepared: this.deps.service.preparedConnectionCount });
    }
    if (bind.surplus) setTimeout(() => bind.phase === "parked" && bind.stop(), SURPLUS_IDLE_MS).unref();
    this.fill();
  }

  private onPaired(bind: Bind): void {
    this.offered.delete(bind);
    this.sessions.add(bind);
    this.pairings++;
    if (!bind.surplus) this.fill();
  }

  private onDemand(waiting: number): void {
    if (this.stopped) return;
    let surplus = 0;
    for (const b of this.offered) if (b.surplus) surplus++;
    const open = Math.min(waiting, MAX_SURPLUS - surplus);
    for (let i = 0; i < open; i++) this.dial(true);
    if (open > 0) this.log.log("info", "edge has waiting clients; opening more binds", { waiting, opened: open });
  }

  private onEnded(bind: Bind, end: BindEnd): void {
    this.offered.delete(bind);
    this.sessions.delete(bind);
    if (this.stopped || end.kind === "session" || end.kind === "stopped") return this.fill();
    if (bind.surplus) return;
    this.failures++;
    if (end.kind === "rejected") this.reportRejection(end.status);
    else this.log.log(this.registeredOnce ? "warn" : "info", "bind to edge failed", { detail: end.detail, attempt: this.backoff.attempts });
    this.registeredOnce = this.registeredOnce && end.kind !== "rejected";
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    const delay = this.backoff.failed();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.fill();
    }, delay);
  }

  private reportRejection(status: number): void {
    // Said once per minute, not once per attempt: the log must stay readable while it retries.
    const now = Date.now();
    if (this.lastRejection !== undefined && now - this.lastRejection < 60_000) return;
    this.lastRejection = now;
    this.log.log("error", "edge refused the connector's credentials", {
      status,
      fix: `check that the token in ${this.deps.service.tokenFile} is one of the edge's SALLYPORT_CONNECTOR_TOKENS for service "${this.deps.service.name}"`,
    });
  }
}
