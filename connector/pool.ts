import type { ConnectorService } from "../shared/config/connector-config.ts";
import { Backoff, DEFAULT_BACKOFF, STABLE_MS } from "../shared/backoff.ts";
import type { Clock, Timer } from "../shared/clock.ts";
import { CloseCode, type CloseCodeName } from "../shared/protocol/close-codes.ts";
import { Bind, type BindDeps, type BindEnd, type BindEvents, type BindIo, type ResumeOutcome, systemIo } from "./bind.ts";
import type { Fields, Logger } from "../shared/log.ts";
import type { EdgeRoute } from "../net/edge-socket.ts";
import type { SessionOutcome } from "./session.ts";
import { type PoolEvent, type PoolState, nextPoolState } from "./pool-state.ts";
import { excessPerShard, neediestShard, shardTargets } from "./shard-plan.ts";

export type { PoolState } from "./pool-state.ts";

/**
 * The bind pool of one service: a supervisor that keeps `prepared.connection.count` binds
 * offered (dialing, registering or parked) at the edge.
 * - The first bind must register before the rest fan out (as cloudflared does), so a wrong
 *   token or a down edge costs one attempt per backoff step, not N.
 * - A bind taken by a client is replaced at once; a bind that failed is replaced after the
 *   backoff delay (100 ms, 200 ms, 400 ms … up to socks.retry.maximum.interval).
 * - `demand` from the edge opens surplus binds for waiting clients; a surplus bind that is
 *   not taken within SURPLUS_IDLE_MS closes again, so the pool shrinks back.
 * - While the backend refuses, the pool withdraws its binds (the edge then tells waiting
 *   clients at once) and probes the backend on the maximum.recovery.interval schedule.
 * - Shards: the edge's 101 says how many objects it spreads the service over (N) and where a
 *   bind landed. The pool keeps max(prepared, N) regular binds, at least one per shard and the
 *   rest even (shard-plan.ts); `demand` opens surplus binds on the shard that asked; when N
 *   changes, binds on a shard the edge no longer has (or over a shard's share) are closed and
 *   replaced where they are needed.
 * - Sessions and offered binds together never exceed max.sessions: at the cap no bind is
 *   offered or replaced (waiting clients are told 4013 "busy" at socks.timeout) until a
 *   session ends.
 *
 * Its states and their transitions are in pool-state.ts; every time read and timer goes
 * through the injected clock (deps.io).
 */

export const SURPLUS_IDLE_MS = 30_000;
/** Bounds what a hostile edge can make us hold: (prepared + MAX_SURPLUS) × MAX_RECEIVE_BYTES. */
export const MAX_SURPLUS = 16;

export interface PoolDeps {
  readonly service: ConnectorService;
  readonly token: string;
  readonly route: EdgeRoute;
  readonly connectorId: string;
  readonly instance: string;
  readonly log: Logger;
  readonly metrics?: PoolMetrics;
  /** The edge, the backend and the clock; unit tests pass fakes. */
  readonly io?: BindIo;
  /** How a bind is made (connector/bind.ts); unit tests pass fakes. */
  readonly makeBind?: (deps: BindDeps, surplus: boolean) => PoolBind;
}

/** What the pool uses of a bind. */
export type PoolBind = Pick<Bind, "phase" | "surplus" | "open" | "stop" | "withdraw" | "placement">;

/** How long a recovery probe may take to connect to the backend. */
export const PROBE_TIMEOUT_MS = 5_000;

/** What the pool reports as it happens; gauges are read from stats() at scrape time. */
export interface PoolMetrics {
  pairing(service: string): void;
  reconnect(service: string): void;
  backendFailure(service: string): void;
  sessionEnded(service: string, outcome: SessionOutcome, durationMs: number): void;
  /** v3: a session's link resumed, or could not. */
  resumeEnded?(service: string, outcome: ResumeOutcome): void;
}

export interface PoolStats {
  readonly service: string;
  readonly state: PoolState;
  readonly offered: number;
  readonly parked: number;
  /** Sessions in progress (backend dialed or connected). */
  readonly sessions: number;
  /** Pairs a client holds for later use, with no backend connection (`sallyport client --preopen`). */
  readonly standby: number;
  readonly pairings: number;
  readonly failures: number;
  readonly backendFailures: number;
  /** Shards the edge spreads the service over (learned from its 101s; 1 until then). */
  readonly shards: number;
  /** Parked binds by shard (index = shard; a shard the edge no longer has shows until its binds close). */
  readonly parkedByShard: number[];
}

export class BindPool {
  private current: PoolState = "filling";
  private readonly offered = new Set<PoolBind>();
  /** The shard each offered or in-session bind is on: the one asked for, then the one the edge placed it on. */
  private readonly shardOf = new Map<PoolBind, number>();
  /** Offered binds closed to move them to another shard: no longer counted where they were. */
  private readonly retiring = new Set<PoolBind>();
  /** Shards the edge spreads this service over, as its last 101 said. */
  private shardCount = 1;
  private readonly sessions = new Set<PoolBind>();
  private backoff!: Backoff;
  private recovery!: Backoff;
  private registeredOnce = false;
  private retryTimer: Timer | undefined;
  private pairings = 0;
  private failures = 0;
  private backendFailures = 0;
  /** When each kind of operator-fixable failure was last said (see `sayOnce`). */
  private readonly lastSaid = new Map<string, number>();
  private readonly log: Logger;
  private readonly events: BindEvents;
  private idleWaiters: Array<() => void> = [];
  /** Said once each time the pool reaches max.sessions. */
  private atCap = false;
  private readonly io: BindIo;
  private readonly clock: Clock;

  constructor(private deps: PoolDeps) {
    this.io = deps.io ?? systemIo;
    this.clock = this.io.clock;
    this.log = deps.log.child({ service: deps.service.name });
    this.makeBackoffs();
    this.events = {
      parked: (b) => this.onParked(b),
      paired: (b) => this.onPaired(b),
      demand: (b, waiting) => this.onDemand(b, waiting),
      backendFailed: (_b, why) => this.onBackendFailed(why),
      ended: (b, end) => this.onEnded(b, end),
      resumeEnded: (_b, outcome) => this.deps.metrics?.resumeEnded?.(this.deps.service.name, outcome),
      sessionEnded: (b, outcome, ms) => {
        this.deps.metrics?.sessionEnded(this.deps.service.name, outcome, ms);
        // Kept for the client's next session, unless we are on our way out.
        if (outcome.kept && (this.state === "draining" || this.state === "stopped")) setImmediate(() => b.stop());
      },
    };
  }

  get state(): PoolState {
    return this.current;
  }

  start(): void {
    this.fill();
  }

  /** The one place the state changes; true when `event` moved it. */
  private move(event: PoolEvent): boolean {
    const next = nextPoolState(this.current, event);
    if (next === this.current) return false;
    this.current = next;
    return true;
  }

  private makeBackoffs(): void {
    const { service } = this.deps;
    this.backoff = new Backoff({ ...DEFAULT_BACKOFF, maximumMs: service.retryMaximumIntervalMs, stableMs: STABLE_MS }, this.clock);
    this.recovery = new Backoff({ ...DEFAULT_BACKOFF, maximumMs: service.maximumRecoveryIntervalMs, stableMs: 0 }, this.clock);
  }

  /**
   * New settings (SIGHUP): unpaired binds are recycled so the edge only holds binds with the
   * new token, backend and count; sessions in flight are not touched.
   */
  update(next: Pick<PoolDeps, "service" | "token" | "route">): void {
    this.deps = { ...this.deps, ...next };
    this.makeBackoffs();
    for (const b of [...this.offered]) {
      this.offered.delete(b);
      b.stop();
    }
    this.move("reconfigured");
    this.clock.clear(this.retryTimer);
    this.retryTimer = undefined;
    this.fill();
  }

  stats(): PoolStats {
    let parked = 0;
    for (const b of this.offered) if (b.phase === "parked") parked++;
    let standby = 0;
    for (const b of this.sessions) if (b.phase === "standby") standby++;
    const parkedByShard = Array.from({ length: this.shardCount }, () => 0);
    for (const b of this.offered) {
      const shard = this.shardOf.get(b) ?? 0;
      if (b.phase === "parked") parkedByShard[shard] = (parkedByShard[shard] ?? 0) + 1;
    }
    return {
      service: this.deps.service.name,
      state: this.state,
      offered: this.offered.size,
      parked,
      sessions: this.sessions.size - standby,
      standby,
      pairings: this.pairings,
      failures: this.failures,
      backendFailures: this.backendFailures,
      shards: this.shardCount,
      parkedByShard: Array.from(parkedByShard, (n) => n ?? 0),
    };
  }

  /** Stop offering binds at once; sessions in flight run on. Resolves when none is left. */
  drain(): Promise<void> {
    this.move("drain");
    this.clock.clear(this.retryTimer);
    for (const b of this.offered) b.stop();
    // A session in standby has nothing in flight: a client only holds it for later use.
    for (const b of this.sessions) if (b.phase === "standby") b.stop();
    return this.whenIdle();
  }

  /** Close everything now, sessions included. */
  stop(): void {
    this.move("stop");
    this.clock.clear(this.retryTimer);
    for (const b of [...this.offered, ...this.sessions]) b.stop();
  }

  get idle(): boolean {
    return this.offered.size === 0 && this.sessions.size === 0;
  }

  private whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Regular binds wanted per shard. Until one bind has registered, probe with one, on shard 0. */
  private targets(): number[] {
    return this.registeredOnce ? shardTargets(this.deps.service.preparedConnectionCount, this.shardCount) : [1];
  }

  /** Regular offered binds per shard, those being moved away left out. */
  private regularPerShard(): Map<number, number> {
    const have = new Map<number, number>();
    for (const b of this.offered) {
      if (b.surplus || this.retiring.has(b)) continue;
      const shard = this.shardOf.get(b) ?? 0;
      have.set(shard, (have.get(shard) ?? 0) + 1);
    }
    return have;
  }

  private fill(): void {
    this.noteCap();
    if (this.state !== "filling" || this.retryTimer) return;
    const targets = this.targets();
    const have = this.regularPerShard();
    const counts = targets.map((_, i) => have.get(i) ?? 0);
    for (let shard = neediestShard(targets, counts); shard !== undefined && this.room() > 0; shard = neediestShard(targets, counts)) {
      this.dial(false, shard);
      counts[shard]!++;
    }
  }

  /**
   * The edge spreads the service over `shards` objects (a 101 said so): a change moves the binds.
   * Those on a shard it no longer has would never be given a client, and a shard's share above
   * its target is closed; fill() then dials where binds are missing. Sessions run on.
   */
  private learnShards(shards: number): void {
    if (shards === this.shardCount) return;
    this.log.log("info", "the edge spreads this service over a new number of shards; moving binds", {
      shards,
      was: this.shardCount,
    });
    this.shardCount = shards;
    const excess = excessPerShard(this.targets(), this.regularPerShard());
    for (const b of [...this.offered]) {
      const shard = this.shardOf.get(b) ?? 0;
      const over = b.surplus ? (shard >= shards ? 1 : 0) : (excess.get(shard) ?? 0);
      if (over <= 0 || this.retiring.has(b)) continue;
      if (!b.surplus) excess.set(shard, over - 1);
      this.retiring.add(b);
      b.stop();
    }
  }

  /** Binds that may still be offered under max.sessions: each offered one may become a session. */
  private room(): number {
    return this.deps.service.maxSessions - this.sessions.size - this.offered.size;
  }

  private noteCap(): void {
    const full = this.sessions.size >= this.deps.service.maxSessions;
    if (full && !this.atCap)
      this.log.log("warn", "max.sessions reached: no more binds offered until a session ends", {
        sessions: this.sessions.size,
        maxSessions: this.deps.service.maxSessions,
      });
    else if (!full && this.atCap) this.log.log("info", "below max.sessions again: offering binds", { sessions: this.sessions.size });
    this.atCap = full;
  }

  private dial(surplus: boolean, shard: number): void {
    const deps: BindDeps = { ...this.deps, log: this.log, events: this.events, io: this.io, shard };
    const bind = this.deps.makeBind ? this.deps.makeBind(deps, surplus) : new Bind(deps, surplus);
    this.offered.add(bind);
    this.shardOf.set(bind, shard);
    bind.open();
  }

  private onParked(bind: PoolBind): void {
    const placed = bind.placement;
    if (placed) {
      this.shardOf.set(bind, placed.shard);
      this.learnShards(placed.shards);
    }
    this.backoff.connected();
    if (!this.registeredOnce) {
      this.registeredOnce = true;
      this.log.log("info", "registered with the edge", {
        bindUrl: this.deps.service.bindUrl,
        prepared: this.deps.service.preparedConnectionCount,
      });
    }
    if (bind.surplus) this.clock.setTimeout(() => bind.phase === "parked" && bind.stop(), SURPLUS_IDLE_MS).unref();
    this.fill();
  }

  private onPaired(bind: PoolBind): void {
    this.offered.delete(bind);
    this.sessions.add(bind);
    this.pairings++;
    this.deps.metrics?.pairing(this.deps.service.name);
    if (!bind.surplus) this.fill();
    else this.noteCap();
  }

  /** Clients wait on the shard this bind is on: surplus binds go there. */
  private onDemand(bind: PoolBind, waiting: number): void {
    if (this.state !== "filling") return;
    let surplus = 0;
    for (const b of this.offered) if (b.surplus) surplus++;
    const open = Math.min(waiting, MAX_SURPLUS - surplus, this.room());
    const shard = this.shardOf.get(bind) ?? 0;
    for (let i = 0; i < open; i++) this.dial(true, shard);
    if (open > 0) this.log.log("info", "edge has waiting clients; opening more binds", { waiting, opened: open, shard });
  }

  private onBackendFailed(why: CloseCodeName): void {
    this.backendFailures++;
    this.deps.metrics?.backendFailure(this.deps.service.name);
    if (!this.move("backend-failed")) return;
    this.log.log("warn", "backend unavailable: withdrawing binds until it answers", {
      closeCode: why,
      recoveryMaxMs: this.deps.service.maximumRecoveryIntervalMs,
    });
    for (const b of this.offered) b.withdraw(why);
    this.probeBackend();
  }

  /** Probe on the maximum.recovery.interval schedule until the backend accepts a connection. */
  private probeBackend(): void {
    const delay = this.recovery.failed();
    this.retryTimer = this.clock.setTimeout(async () => {
      this.retryTimer = undefined;
      if (this.state !== "backend-down") return;
      try {
        (await this.io.dialBackend(this.deps.service.connect, { timeoutMs: PROBE_TIMEOUT_MS })).destroy();
        // Drained, stopped or reconfigured while the probe ran: that decided already.
        if (!this.move("backend-answered")) return;
        this.recovery.connected();
        this.log.log("info", "backend answers again: offering binds");
        this.fill();
      } catch {
        this.probeBackend();
      }
    }, delay);
  }

  private onEnded(bind: PoolBind, end: BindEnd): void {
    this.offered.delete(bind);
    this.sessions.delete(bind);
    this.shardOf.delete(bind);
    this.retiring.delete(bind);
    if (this.idle && this.idleWaiters.length) for (const w of this.idleWaiters.splice(0)) w();
    if (this.state !== "filling" || (end.kind !== "failed" && end.kind !== "rejected")) return this.fill();
    if (bind.surplus) return;
    this.failures++;
    this.deps.metrics?.reconnect(this.deps.service.name);
    if (end.kind === "rejected") this.reportRejection(end.status);
    else if (end.code === CloseCode.LIMIT || end.code === CloseCode.REPLACED) {
      this.log.log(
        "warn",
        end.code === CloseCode.LIMIT ? "edge bind limit reached; backing off" : "a newer instance of this connector took over; backing off",
        { closeCode: end.code },
      );
    } else {
      this.log.log(this.registeredOnce ? "warn" : "info", "bind to edge failed", { detail: end.detail, attempt: this.backoff.attempts });
      // A failure the operator must fix (a proxy's refusal, an intercepted certificate …): said loudly, with the fix.
      if (end.fix) this.sayOnce(end.detail, "cannot reach the edge", { detail: end.detail, fix: end.fix });
    }
    // With no bind parked any more the edge itself is gone (or refuses): probe with one bind
    // again, so an edge outage costs one attempt per backoff step, not prepared.connection.count.
    this.registeredOnce = this.registeredOnce && end.kind !== "rejected" && [...this.offered].some((b) => b.phase === "parked");
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.state !== "filling") return;
    const delay = this.backoff.failed();
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.fill();
    }, delay);
  }

  /** An error said once per minute per `key`, not once per attempt: the log must stay readable while it retries. */
  private sayOnce(key: string, msg: string, fields: Fields): void {
    const now = this.clock.now();
    const last = this.lastSaid.get(key);
    if (last !== undefined && now - last < 60_000) return;
    this.lastSaid.set(key, now);
    this.log.log("error", msg, fields);
  }

  private reportRejection(status: number): void {
    this.sayOnce("rejected", "edge refused the connector's credentials", {
      status,
      fix:
        `check that the token in ${this.deps.service.tokenFile} is one of the edge's SALLYPORT_CONNECTOR_TOKENS for service ` +
        `"${this.deps.service.name}", and, if the service sets socks.ssl.verify-client, that this connector presents a certificate the ` +
        `edge accepts (ssl.cert.file, ssl.key.file)`,
    });
  }
}
